// A character-level LSTM language model trained end to end with TensorLSTM: one-hot characters
// → LSTM → Linear → cross-entropy, Adam, on the Python standard library's sources (every
// Debian machine with python3 has them).
//
//   swift run -c release tensorlstm-charlm --steps 600 --checkpoint charlm.safetensors
//   swift run -c release tensorlstm-charlm --resume charlm.safetensors --steps 800
//
// Checkpoints are safetensors with PyTorch's keys ("lstm.weight_ih_l0", …, "head.weight"):
// `tools/charlm_check.py` loads one into the same PyTorch module and recomputes the validation
// loss; `tools/charlm_torch.py` trains the same model from the same start in PyTorch.
import Foundation
import TensorLSTM

struct Options {
  var corpus = ""
  var maxBytes = 2_000_000
  var steps = 600
  var batch = 32
  var seqLength = 64
  var hidden = 256
  var layers = 1
  var learningRate: Float = 2e-3
  var clip = 1.0
  var evalEvery = 100
  var valWindows = 64
  var seed: UInt64 = 1
  var threads = 1
  var checkpoint: String? = nil
  var resume: String? = nil
  var saveInitial: String? = nil
  var log: String? = nil
  var sample = 400
  var quiet = false

  init(_ arguments: [String]) {
    var i = 1
    func value() -> String {
      i += 1
      guard i < arguments.count else { fail("missing value after \(arguments[i - 1])") }
      return arguments[i]
    }
    while i < arguments.count {
      switch arguments[i] {
      case "--corpus": corpus = value()
      case "--max-bytes": maxBytes = Int(value()) ?? maxBytes
      case "--steps": steps = Int(value()) ?? steps
      case "--batch": batch = Int(value()) ?? batch
      case "--seq": seqLength = Int(value()) ?? seqLength
      case "--hidden": hidden = Int(value()) ?? hidden
      case "--layers": layers = Int(value()) ?? layers
      case "--lr": learningRate = Float(value()) ?? learningRate
      case "--clip": clip = Double(value()) ?? clip
      case "--eval-every": evalEvery = Int(value()) ?? evalEvery
      case "--val-windows": valWindows = Int(value()) ?? valWindows
      case "--seed": seed = UInt64(value()) ?? seed
      case "--threads": threads = Int(value()) ?? threads
      case "--checkpoint": checkpoint = value()
      case "--resume": resume = value()
      case "--save-initial": saveInitial = value()
      case "--log": log = value()
      case "--sample": sample = Int(value()) ?? sample
      case "--quiet": quiet = true
      case "--help", "-h":
        print(
          """
          tensorlstm-charlm [--corpus DIR] [--max-bytes N] [--steps N] [--batch B] [--seq T]
                            [--hidden H] [--layers L] [--lr LR] [--clip NORM] [--eval-every N]
                            [--val-windows N] [--seed S] [--threads N] [--checkpoint FILE]
                            [--resume FILE] [--save-initial FILE] [--log CSV] [--sample N] [--quiet]
          """)
        exit(0)
      default: fail("unknown argument \(arguments[i]); see --help")
      }
      i += 1
    }
  }
}

/// Writes a line to standard output unbuffered, in order with the progress bar.
func say(_ line: String) {
  FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("tensorlstm-charlm: \(message)\n".utf8))
  exit(2)
}

/// The corpus: the first `maxBytes` bytes of the directory's `.py` files in name order, tabs as
/// spaces, bytes outside printable ASCII and newline as '?' (tools/charlm_check.py does the
/// same), split 90 % / 10 % into training and validation text.
struct Corpus {
  var vocabulary: [UInt8]
  var train: [Int]
  var validation: [Int]

  init(directory: String, maxBytes: Int) throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: directory)
      .filter { $0.hasSuffix(".py") }.sorted()
    var bytes: [UInt8] = []
    for file in files where bytes.count < maxBytes {
      let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
      bytes += data.prefix(maxBytes - bytes.count)
    }
    let text = bytes.map { b -> UInt8 in
      b == 9 ? 32 : (b == 10 || (32...126).contains(b) ? b : 63)
    }
    vocabulary = Array(Set(text)).sorted()
    var index = [Int](repeating: 0, count: 256)
    for (i, c) in vocabulary.enumerated() { index[Int(c)] = i }
    let codes = text.map { index[Int($0)] }
    let split = codes.count * 9 / 10
    (train, validation) = (Array(codes[..<split]), Array(codes[split...]))
  }
}

/// SplitMix64: the batch offsets, replicated exactly by tools/charlm_torch.py.
struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// One-hot inputs `[B, T, V]` and targets (the next characters) of windows starting at `starts`.
func batch(_ codes: [Int], starts: [Int], length: Int, vocabulary: Int) -> (Tensor<Float>, [Int]) {
  var x = [Float](repeating: 0, count: starts.count * length * vocabulary)
  var targets: [Int] = []
  for (b, start) in starts.enumerated() {
    for t in 0..<length {
      x[(b * length + t) * vocabulary + codes[start + t]] = 1
      targets.append(codes[start + t + 1])
    }
  }
  return (Tensor(shape: [starts.count, length, vocabulary], scalars: x), targets)
}

struct CharLM {
  var lstm: LSTM<Float>
  var head: Linear<Float>

  var parameters: [String: Tensor<Float>] {
    var result: [String: Tensor<Float>] = [:]
    for (k, v) in lstm.stateDict() { result["lstm." + k] = v }
    for (k, v) in head.stateDict() { result["head." + k] = v }
    return result
  }

  mutating func load(_ dict: [String: Tensor<Float>]) throws {
    try lstm.loadStateDict(dict, prefix: "lstm.")
    try head.loadStateDict(dict, prefix: "head.")
  }

  /// The mean cross-entropy of predicting each next character (no gradient).
  func loss(_ x: Tensor<Float>, _ targets: [Int]) throws -> Float {
    let logits = try head(try lstm(x).output)
    return try Loss.crossEntropy(logits: logits.reshaped([targets.count, -1]), targets: targets)
      .value
  }

  /// One training step's loss and gradients, keyed like `parameters`.
  func gradients(_ x: Tensor<Float>, _ targets: [Int]) throws -> (Float, [String: Tensor<Float>]) {
    let trace = try lstm.forwardWithTrace(x)
    let output = trace.output.output  // [B, T, H]
    let logits = try head(output)
    let ce = try Loss.crossEntropy(logits: logits.reshaped([targets.count, -1]), targets: targets)
    let headGradients = try head.backward(
      input: output, outputGradient: ce.gradient.reshaped(logits.shape))
    // The one-hot characters need no gradient: the first layer's dX GEMM is skipped.
    let lstmGradients = try lstm.backward(
      trace, outputGradient: headGradients.input, inputGradient: false)
    var result: [String: Tensor<Float>] = [:]
    for (k, v) in lstmGradients.parameters { result["lstm." + k] = v }
    for (k, v) in headGradients.parameters { result["head." + k] = v }
    return (ce.value, result)
  }
}

func validationLoss(_ model: CharLM, _ corpus: Corpus, _ o: Options) throws -> Double {
  let windows = Swift.min(o.valWindows, (corpus.validation.count - 1) / o.seqLength)
  var total = 0.0
  var count = 0
  var start = 0
  while start < windows {
    let n = Swift.min(o.batch, windows - start)
    let (x, targets) = batch(
      corpus.validation, starts: (start..<(start + n)).map { $0 * o.seqLength },
      length: o.seqLength, vocabulary: corpus.vocabulary.count)
    total += Double(try model.loss(x, targets)) * Double(n)
    count += n
    start += n
  }
  return total / Double(count)
}

func formatTime(_ seconds: Double) -> String {
  let s = Int(seconds.rounded())
  return String(format: "%d:%02d", s / 60, s % 60)
}

func save(
  _ model: CharLM, _ optimizer: Adam<Float>, _ corpus: Corpus, _ o: Options, step: Int,
  validation: Double, to path: String
) throws {
  let vocabulary = String(decoding: corpus.vocabulary, as: UTF8.self)
  try SafeTensors.write(
    model.parameters, to: path,
    metadata: [
      "step": "\(step)", "validation_loss": "\(validation)", "vocabulary": vocabulary,
      "hidden": "\(o.hidden)", "layers": "\(o.layers)", "seq_length": "\(o.seqLength)",
      "batch": "\(o.batch)", "max_bytes": "\(o.maxBytes)", "val_windows": "\(o.valWindows)",
      "seed": "\(o.seed)", "corpus": o.corpus, "format": "pytorch state_dict of CharLM",
    ])
  try SafeTensors.write(optimizer.stateDict(), to: path + ".optimizer")
}

func sample(_ model: CharLM, _ corpus: Corpus, count: Int, seed: UInt64) throws -> String {
  var generator = SeededGenerator(seed: seed)
  let v = corpus.vocabulary.count
  var state: LSTMState<Float>? = nil
  var text = Array("def ".utf8)
  var index = [Int](repeating: 0, count: 256)
  for (i, c) in corpus.vocabulary.enumerated() { index[Int(c)] = i }
  var next = 0
  // Prime with the prompt, then feed each sampled character back in (temperature 0.8).
  for (position, character) in text.enumerated() {
    var x = [Float](repeating: 0, count: v)
    x[index[Int(character)]] = 1
    let out = try model.lstm.streaming(Tensor(shape: [1, 1, v], scalars: x), state: state)
    state = out.state
    if position == text.count - 1 {
      next = pick(try model.head(out.output).scalars, using: &generator)
    }
  }
  for _ in 0..<count {
    text.append(corpus.vocabulary[next])
    var x = [Float](repeating: 0, count: v)
    x[next] = 1
    let out = try model.lstm.streaming(Tensor(shape: [1, 1, v], scalars: x), state: state)
    state = out.state
    next = pick(try model.head(out.output).scalars, using: &generator)
  }
  return String(decoding: text, as: UTF8.self)
}

func pick(_ logits: [Float], using generator: inout SeededGenerator) -> Int {
  let scaled = logits.map { Double($0) / 0.8 }
  let top = scaled.max() ?? 0
  let weights = scaled.map { Foundation.exp($0 - top) }
  var u = Double.random(in: 0..<weights.reduce(0, +), using: &generator)
  for (i, w) in weights.enumerated() {
    u -= w
    if u < 0 { return i }
  }
  return weights.count - 1
}

// MARK: - Main

var o = Options(CommandLine.arguments)
if o.corpus.isEmpty {
  let candidates = ["/usr/lib/python3.11", "/usr/lib/python3.12", "/usr/lib/python3.13"]
  guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
    fail("no Python standard library found; pass --corpus DIR (a folder of .py files)")
  }
  o.corpus = found
}
BLAS.threadCount = o.threads
let corpus = try Corpus(directory: o.corpus, maxBytes: o.maxBytes)
let v = corpus.vocabulary.count
var model = CharLM(
  lstm: LSTM<Float>(
    inputSize: v, hiddenSize: o.hidden, numLayers: o.layers, batchFirst: true, seed: o.seed),
  head: Linear<Float>(inFeatures: o.hidden, outFeatures: v, seed: o.seed &+ 1))
model.lstm.threads = o.threads
var optimizer = Adam<Float>(learningRate: o.learningRate)
var firstStep = 0
if let resume = o.resume {
  try model.load(try SafeTensors.read(contentsOf: resume))
  try optimizer.loadStateDict(try SafeTensors.read(contentsOf: resume + ".optimizer"))
  firstStep = optimizer.steps
  say("resumed from \(resume) at step \(firstStep)")
}
if let path = o.saveInitial {
  try save(model, optimizer, corpus, o, step: 0, validation: .nan, to: path)
}
say(
  "corpus: \(o.corpus), \(corpus.train.count) training and \(corpus.validation.count) validation characters, vocabulary \(v)"
)
say(
  "model: LSTM(\(v) → \(o.hidden), \(o.layers) layer(s)) → Linear(\(o.hidden) → \(v)); Adam lr \(o.learningRate); batch \(o.batch) × \(o.seqLength) characters; \(o.threads) thread(s)"
)
var logLines = ["step,train_loss,validation_loss,seconds"]
if let log = o.log, o.resume != nil, let old = try? String(contentsOfFile: log, encoding: .utf8) {
  logLines = old.split(separator: "\n").map(String.init)
}
var random = SplitMix64(state: o.seed)
// The batch stream is a function of the seed and the step: skip what a resumed run has done.
for _ in 0..<(firstStep * o.batch) { _ = random.next() }
let start = Date()
var smoothed: Double? = nil
var lastValidation = Double.nan
for step in (firstStep + 1)...Swift.max(firstStep + 1, o.steps) where step <= o.steps {
  let starts = (0..<o.batch).map { _ in
    Int(random.next() % UInt64(corpus.train.count - o.seqLength - 1))
  }
  let (x, targets) = batch(corpus.train, starts: starts, length: o.seqLength, vocabulary: v)
  var (loss, gradients) = try model.gradients(x, targets)
  try clipGradientNorm(&gradients, maxNorm: o.clip)
  var parameters = model.parameters
  try optimizer.step(&parameters, gradients: gradients)
  try model.load(parameters)
  smoothed = smoothed.map { 0.95 * $0 + 0.05 * Double(loss) } ?? Double(loss)
  let elapsed = Date().timeIntervalSince(start)
  let done = step - firstStep
  let rate = Double(done * o.batch * o.seqLength) / elapsed
  let eta = elapsed / Double(done) * Double(o.steps - step)
  if !o.quiet {
    let width = 24
    let filled = width * step / o.steps
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let line = String(
      format: "\rstep %5d/%d [%@] loss %.3f | %.0f chars/s | ETA %@   ", step, o.steps, bar,
      smoothed!, rate, formatTime(eta))
    FileHandle.standardOutput.write(Data(line.utf8))
  }
  var validation = ""
  if step % o.evalEvery == 0 || step == o.steps {
    lastValidation = try validationLoss(model, corpus, o)
    validation = "\(lastValidation)"
    say(
      (o.quiet ? "" : "\n")
        + String(
          format: "step %d: validation loss %.4f (train %.4f), %.1f s", step, lastValidation,
          smoothed!, elapsed))
    if let path = o.checkpoint {
      try save(model, optimizer, corpus, o, step: step, validation: lastValidation, to: path)
    }
  }
  logLines.append("\(step),\(loss),\(validation),\(elapsed)")
}
if let log = o.log {
  try (logLines.joined(separator: "\n") + "\n").write(
    toFile: log, atomically: true, encoding: .utf8)
}
let total = Date().timeIntervalSince(start)
say(
  String(
    format: "trained %d steps in %.1f s; final validation loss %.4f", o.steps - firstStep, total,
    lastValidation))
if o.sample > 0 {
  say("--- sample (temperature 0.8) ---")
  say(try sample(model, corpus, count: o.sample, seed: o.seed))
}
