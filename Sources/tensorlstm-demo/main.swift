// The article, runnable: an LSTM's output (batch, seq, hidden) reshaped three ways for what
// comes next — the last step for classification, a flattened sequence for a dense layer, and
// a (batch, hidden, seq) permutation for a Conv1d — with no copies.
import TensorLSTM

let (batch, steps, inputSize, hidden) = (32, 10, 128, 64)
let lstm = LSTM<Float>(inputSize: inputSize, hiddenSize: hidden, batchFirst: true, seed: 1)
let x = Tensor<Float>.randomNormal(shape: [batch, steps, inputSize], seed: 2)
let out = try lstm(x)

func describe(_ name: String, _ t: Tensor<Float>) {
  let shares = t.sharesStorage(with: out.output) ? "yes" : "no"
  let padded = name.padding(toLength: 47)
  print("\(padded) shape \(t.shape)  strides \(t.strides)  shares LSTM output storage: \(shares)")
}

extension String {
  func padding(toLength length: Int) -> String {
    self + String(repeating: " ", count: Swift.max(0, length - count))
  }
}

print("LSTM<Float>(inputSize: \(inputSize), hiddenSize: \(hidden), batchFirst: true)")
describe("input x", x)
describe("output  [B, T, H]", out.output)
print()

print(
  "1. Last time step for classification (PyTorch output[:, -1, :], Keras return_sequences=False)")
let byIndex = out.output.selected(axis: 1, index: -1)
describe("   output.selected(axis: 1, index: -1)", byIndex)
describe("   out.lastStep (valid for padded batches too)", out.lastStep)
describe("   out.hidden[-1]", out.hidden[-1])
let agree = byIndex.scalars == out.lastStep.scalars && byIndex.scalars == out.hidden[-1].scalars
print("   all three agree: \(agree)")
let padded = try lstm(x, lengths: (0..<batch).map { 1 + $0 % steps })
let paddingRow = padded.output.selected(axis: 1, index: -1)[1].scalars
print(
  "   with lengths, output[1, -1, :] is padding (all zero: \(paddingRow.allSatisfy { $0 == 0 })); lastStep[1] is not"
)
print()

print("2. Flatten the sequence into a dense layer (nn.Flatten, Keras Flatten)")
let flat = out.output.flattened(startAxis: 1)
describe("   output.flattened(startAxis: 1)", flat)
let dense = Linear<Float>(inFeatures: steps * hidden, outFeatures: 10, seed: 3)
let logits = try dense(flat)
print("   Linear(\(steps * hidden) → 10) gives \(logits.shape)")
print()

print("3. Permute to channels-first for a Conv1d")
let channelsFirst = out.output.permuted([0, 2, 1])
describe("   output.permuted([0, 2, 1])", channelsFirst)
print("   contiguous: \(channelsFirst.isContiguous) — Conv1d reads it through its strides, no copy")
let conv = Conv1d<Float>(inChannels: hidden, outChannels: 32, kernelSize: 3, padding: 1, seed: 4)
let features = try conv(channelsFirst)
print("   Conv1d(\(hidden) → 32, kernel 3, padding 1) gives \(features.shape)")
