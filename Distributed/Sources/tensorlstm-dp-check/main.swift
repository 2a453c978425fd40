// Equivalence checks for data-parallel training, run by CI under
// `mpirun --allow-run-as-root --oversubscribe -np 2`:
//
//   tensorlstm-dp-check gru [--steps 20]
//       Every rank trains Embedding → GRU (2 layers) → Linear on its share of batches of
//       sequences with different lengths (padded, padding targets ignored) with Adam; rank 0
//       also trains the same model in this process alone on the whole batch. Passes when every
//       parameter tensor agrees within ‖Δ‖₂/‖p‖₂ ≤ 1e-5 and every rank ends with the same
//       parameters and optimizer state.
//   tensorlstm-dp-check compare A.safetensors B.safetensors [--tolerance 1e-5]
//       Compares two checkpoints (a data-parallel char-LM run against one process).
import Foundation
import TensorLSTM
import TensorLSTMDistributed

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("tensorlstm-dp-check: \(message)\n".utf8))
  exit(1)
}

/// The largest `‖a − b‖₂ / ‖b‖₂` over the tensors, with its tensor and that tensor's
/// `max|a − b| / max|b|`; stops when the keys or shapes differ.
func largestRelativeDifference(_ a: [String: Tensor<Float>], _ b: [String: Tensor<Float>])
  -> (relative: Double, name: String, largest: Double)
{
  guard Set(a.keys) == Set(b.keys) else {
    fail("the tensors differ in names: \(a.keys.sorted()) vs \(b.keys.sorted())")
  }
  var worst = (relative: 0.0, name: "", largest: 0.0)
  for name in a.keys.sorted() {
    let (x, y) = (a[name]!, b[name]!)
    guard x.shape == y.shape else {
      fail("'\(name)' is \(x.shape) in one and \(y.shape) in the other")
    }
    var (difference, norm, largestDifference, largest) = (0.0, 0.0, 0.0, 0.0)
    for (p, q) in zip(x.scalars, y.scalars) {
      let d = Double(p) - Double(q)
      difference += d * d
      norm += Double(q) * Double(q)
      largestDifference = max(largestDifference, abs(d))
      largest = max(largest, abs(Double(q)))
    }
    let relative = (difference / max(norm, 1e-60)).squareRoot()
    if relative > worst.relative || !relative.isFinite {
      worst = (relative, name, largestDifference / max(largest, 1e-30))
    }
  }
  return worst
}

/// FNV-1a of the tensors' safetensors bytes: equal on every rank exactly when the tensors are.
func fingerprint(_ dict: [String: Tensor<Float>]) throws -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in try SafeTensors.encode(dict) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
  return String(hash, radix: 16)
}

/// One batch of the GRU check: `[B, T]` token ids (0 pads), lengths, and per-token targets
/// (the next id modulo the vocabulary; −100 where padded).
func sequences(_ generator: inout SeededGenerator, batch: Int, steps: Int, vocabulary: Int)
  -> (ids: [[Float]], lengths: [Int], targets: [[Int]])
{
  var (ids, lengths, targets) = ([[Float]](), [Int](), [[Int]]())
  for _ in 0..<batch {
    let length = Int.random(in: 1...steps, using: &generator)
    let tokens = (0..<length).map { _ in Int.random(in: 1..<vocabulary, using: &generator) }
    ids.append((0..<steps).map { $0 < length ? Float(tokens[$0]) : 0 })
    lengths.append(length)
    targets.append((0..<steps).map { $0 < length ? (tokens[$0] * 3 + $0) % vocabulary : -100 })
  }
  return (ids, lengths, targets)
}

func gruModel(seed: UInt64) -> Sequential<Float> {
  Sequential<Float> {
    Embedding<Float>(numEmbeddings: 13, embeddingDim: 6, paddingIdx: 0, seed: seed).named("embed")
    GRU<Float>(inputSize: 6, hiddenSize: 10, numLayers: 2, batchFirst: true, seed: seed &+ 1)
      .named("gru")
    Linear<Float>(inFeatures: 10, outFeatures: 13, seed: seed &+ 2).named("head")
  }
}

/// One Adam step on `rows` of the batch; the loss is the mean over those rows' counted tokens,
/// averaged over the ranks by `dp` when given.
func trainStep(
  _ model: inout Sequential<Float>, _ optimizer: inout Adam<Float>,
  _ data: (ids: [[Float]], lengths: [Int], targets: [[Int]]), rows: Range<Int>,
  dp: DataParallel?
) throws -> Double {
  let steps = data.ids[0].count
  let x = Tensor<Float>(shape: [rows.count, steps], scalars: rows.flatMap { data.ids[$0] })
  let targets = rows.flatMap { data.targets[$0] }
  let counted = targets.filter { $0 != -100 }.count
  var loss = 0.0
  var gradients: [String: Tensor<Float>]
  if counted > 0 {
    let trace = try model.forwardWithTrace(x, lengths: Array(data.lengths[rows]))
    let logits = trace.output
    let ce = try Loss.crossEntropy(logits: logits.reshaped([targets.count, -1]), targets: targets)
    gradients = try model.backward(
      trace, outputGradient: ce.gradient.reshaped(logits.shape), inputGradient: false
    ).parameters
    loss = Double(ce.value)
  } else {
    gradients = model.stateDict().mapValues { Tensor<Float>.zeros(shape: $0.shape) }
  }
  if let dp { loss = try dp.average(&gradients, loss: loss, count: counted, order: model).loss }
  try clipGradientNorm(&gradients, maxNorm: 5)
  var parameters = model.stateDict()
  try optimizer.step(&parameters, gradients: gradients)
  try model.loadStateDict(parameters)
  return loss
}

func checkGRU(steps: Int) throws {
  let dp = DataParallel.start()
  defer { dp.finish() }
  let (batch, length) = (7, 9)  // 7 rows: unequal shares on 2 ranks
  // Different initial weights per rank: the broadcast must make them equal.
  var model = gruModel(seed: 40 + UInt64(dp.rank))
  try dp.broadcastParameters(of: &model)
  var reference = model
  var optimizer = Adam<Float>(learningRate: 1e-2)
  var referenceOptimizer = optimizer
  var generator = SeededGenerator(seed: 7)
  for step in 1...steps {
    let data = sequences(&generator, batch: batch, steps: length, vocabulary: 13)
    let loss = try trainStep(&model, &optimizer, data, rows: dp.share(of: batch), dp: dp)
    if dp.isMain {
      let alone = try trainStep(
        &reference, &referenceOptimizer, data, rows: 0..<batch, dp: nil)
      if step == 1 || step == steps {
        print(
          String(
            format: "step %d: loss %.6f on %d ranks, %.6f in one process", step, loss, dp.size,
            alone))
      }
    }
  }
  // Every rank must end with the same parameters and optimizer state.
  try dp.agree(on: try fingerprint(model.stateDict()) + " " + fingerprint(optimizer.stateDict()))
  var failed = 0.0
  if dp.isMain {
    let worst = largestRelativeDifference(model.stateDict(), reference.stateDict())
    print(
      String(
        format:
          "GRU with lengths and padding, %d ranks, %d Adam steps: largest ‖Δ‖/‖p‖ from one process %.2e ('%@', max|Δ|/max|p| %.2e); parameters and Adam state equal on every rank",
        dp.size, steps, worst.relative, worst.name, worst.largest))
    if !(worst.relative <= 1e-5) { failed = 1 }
  }
  if dp.sum([failed])[0] > 0 {
    if dp.isMain { FileHandle.standardError.write(Data("tensorlstm-dp-check: above 1e-5\n".utf8)) }
    dp.finish()
    exit(1)
  }
}

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "gru":
  let steps = arguments.firstIndex(of: "--steps").flatMap { Int(arguments[$0 + 1]) } ?? 20
  do {
    try checkGRU(steps: steps)
  } catch {
    fail("\(error)")
  }
case "compare" where arguments.count >= 4:
  let tolerance =
    arguments.firstIndex(of: "--tolerance").flatMap { Double(arguments[$0 + 1]) } ?? 1e-5
  do {
    let a: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: arguments[2])
    let b: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: arguments[3])
    let worst = largestRelativeDifference(a, b)
    print(
      String(
        format: "%@ vs %@: %d tensors, largest ‖a − b‖/‖b‖ %.2e ('%@', max|a − b|/max|b| %.2e)",
        arguments[2], arguments[3], a.count, worst.relative, worst.name, worst.largest))
    if !(worst.relative <= tolerance) { fail("above the tolerance \(tolerance)") }
  } catch {
    fail("\(error)")
  }
default:
  fail(
    "usage: tensorlstm-dp-check gru [--steps N] | compare A.safetensors B.safetensors [--tolerance T]"
  )
}
