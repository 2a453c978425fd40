// The article's pipeline, trained: one Sequential of LSTM → each sequence's last step →
// Linear, cross-entropy, on a sequence-classification task with padded batches of variable
// length.
//
//   swift run -c release tensorlstm-classify [--steps 300] [--threads 1]
//
// Task: sequences of 4 features and 8–24 steps, N(0, 1) values; the class is the feature
// whose sum over the sequence's valid steps is largest, so the model must read every step and
// ignore the padding. `lengths` flows through the model: the LSTM stops each sequence at its
// length and `LastStep` reads its last valid step (and sends the gradient back there).
import Foundation
import TensorLSTM

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
  guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count,
    let value = Int(arguments[i + 1])
  else { return fallback }
  return value
}
let (steps, threads) = (option("--steps", 300), option("--threads", 1))
let (features, classes, hidden, batchSize, maxLength) = (4, 4, 32, 64, 24)
BLAS.threadCount = threads

/// A batch: padded input [B, T, 4], lengths, labels.
func makeBatch(_ count: Int, using generator: inout SeededGenerator) -> (
  Tensor<Float>, [Int], [Int]
) {
  let x = Tensor<Float>.randomNormal(shape: [count, maxLength, features], using: &generator)
  var scalars = x.scalars
  var lengths: [Int] = []
  var labels: [Int] = []
  for b in 0..<count {
    let length = Int.random(in: 8...maxLength, using: &generator)
    var sums = [Float](repeating: 0, count: features)
    for t in 0..<maxLength {
      for f in 0..<features {
        let i = (b * maxLength + t) * features + f
        if t < length { sums[f] += scalars[i] } else { scalars[i] = 0 }
      }
    }
    lengths.append(length)
    labels.append(sums.indices.max { sums[$0] < sums[$1] }!)
  }
  return (Tensor(shape: x.shape, scalars: scalars), lengths, labels)
}

var lstm = LSTM<Float>(inputSize: features, hiddenSize: hidden, batchFirst: true, seed: 1)
lstm.threads = threads
var model = Sequential<Float> {
  lstm
  LastStep<Float>()
  Linear<Float>(inFeatures: hidden, outFeatures: classes, seed: 2)
}
var optimizer = Adam<Float>(learningRate: 1e-2)
var generator = SeededGenerator(seed: 3)
let (validationX, validationLengths, validationLabels) = makeBatch(512, using: &generator)

@MainActor func accuracy() throws -> Double {
  var evaluated = model
  evaluated.training = false
  let z = try evaluated(validationX, lengths: validationLengths).scalars
  var correct = 0
  for (b, label) in validationLabels.enumerated() {
    let row = z[(b * classes)..<((b + 1) * classes)]
    if row.indices.max(by: { row[$0] < row[$1] })! - b * classes == label { correct += 1 }
  }
  return Double(correct) / Double(validationLabels.count)
}

print(
  "Sequential: LSTM(\(features) → \(hidden)) → LastStep → Linear(\(hidden) → \(classes)); Adam lr 0.01; batch \(batchSize), lengths 8–\(maxLength)"
)
print(
  String(
    format: "before training: validation accuracy %.1f %% (chance 25 %%)", try accuracy() * 100))
let start = Date()
for step in 1...steps {
  let (x, lengths, labels) = makeBatch(batchSize, using: &generator)
  let trace = try model.forwardWithTrace(x, lengths: lengths)
  let ce = try Loss.crossEntropy(logits: trace.output, targets: labels)
  var gradients = try model.backward(trace, outputGradient: ce.gradient, inputGradient: false)
    .parameters
  try clipGradientNorm(&gradients, maxNorm: 1)
  var parameters = model.stateDict()
  try optimizer.step(&parameters, gradients: gradients)
  try model.loadStateDict(parameters)
  if step % 50 == 0 || step == steps {
    print(
      String(
        format: "step %4d: loss %.4f, validation accuracy %.1f %%, %.1f s", step, ce.value,
        try accuracy() * 100, Date().timeIntervalSince(start)))
  }
}
