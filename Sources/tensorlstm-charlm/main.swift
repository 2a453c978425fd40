// A character-level LSTM language model trained end to end with TensorLSTM: a Sequential of
// Embedding → LSTM (2 layers, dropout between them) → Linear, cross-entropy, Adam, on the
// Python standard library's sources (every Debian machine with python3 has them).
//
//   swift run -c release tensorlstm-charlm --steps 600 --checkpoint charlm.safetensors
//   swift run -c release tensorlstm-charlm --resume charlm.safetensors --steps 800
//   swift run -c release tensorlstm-charlm --resume charlm.safetensors --steps 800 \
//     --compare-precisions    # the final validation loss with bfloat16 and int8 LSTM weights
//
// Checkpoints are safetensors with PyTorch's keys ("embed.weight", "lstm.weight_ih_l0", …,
// "head.weight"): `tools/charlm_torch.py check` loads one into the same PyTorch module strictly
// and recomputes the validation loss; `tools/charlm_torch.py train` trains the same model from
// the same start in PyTorch.
//
// Data-parallel over MPI: the nested package Distributed/ builds this same file with
// DATA_PARALLEL defined and TensorLSTMDistributed linked, which adds `--data-parallel` (each of N
// ranks takes its contiguous 1/N of every batch of `--batch`; the gradients are averaged over the
// global batch):
//
//   swift build -c release --package-path Distributed --product tensorlstm-charlm
//   mpirun -np 2 Distributed/.build/release/tensorlstm-charlm --data-parallel --steps 600
import Foundation
import TensorLSTM

#if DATA_PARALLEL
  import TensorLSTMDistributed
#endif

struct Options {
  var corpus = ""
  var maxBytes = 2_000_000
  var steps = 600
  var batch = 32
  var seqLength = 64
  var embed = 64
  var hidden = 256
  var layers = 2
  var dropout = 0.2
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
  var dataParallel = false
  var comparePrecisions = false

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
      case "--embed": embed = Int(value()) ?? embed
      case "--hidden": hidden = Int(value()) ?? hidden
      case "--layers": layers = Int(value()) ?? layers
      case "--dropout": dropout = Double(value()) ?? dropout
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
      case "--data-parallel": dataParallel = true
      case "--compare-precisions": comparePrecisions = true
      case "--help", "-h":
        print(
          """
          tensorlstm-charlm [--corpus DIR] [--max-bytes N] [--steps N] [--batch B] [--seq T]
                            [--embed E] [--hidden H] [--layers L] [--dropout P] [--lr LR]
                            [--clip NORM] [--eval-every N]
                            [--val-windows N] [--seed S] [--threads N] [--checkpoint FILE]
                            [--resume FILE] [--save-initial FILE] [--log CSV] [--sample N] [--quiet]
                            [--data-parallel]   (the Distributed/ build, under mpirun)
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

/// The ranks this process trains with: itself alone, or — in the Distributed/ build with
/// `--data-parallel` under mpirun — a ``DataParallel`` run. Every rank draws the same global
/// batch from the seed and trains on its share; rank 0 prints and writes checkpoints.
struct Team {
  var rank = 0
  var size = 1
  #if DATA_PARALLEL
    var run: DataParallel? = nil
  #endif

  init(_ o: Options) {
    guard o.dataParallel else { return }
    #if DATA_PARALLEL
      let run = DataParallel.start()
      (self.run, rank, size) = (run, run.rank, run.size)
      if !run.usesMPI {
        say("--data-parallel: not started by mpirun, training in one process")
      }
    #else
      fail(
        "--data-parallel needs MPI: build this example from the nested package Distributed/ (swift build -c release --package-path Distributed) and start it with mpirun"
      )
    #endif
  }

  var isMain: Bool { rank == 0 }
  /// Seconds in allreduce and seconds waiting for the slowest rank, since the start.
  var communication: (sending: Double, waiting: Double) {
    #if DATA_PARALLEL
      if let run { return (run.communicationSeconds, run.waitingSeconds) }
    #endif
    return (0, 0)
  }

  /// Ends every rank with `message` (one rank failing alone would leave the others waiting).
  func stop(_ message: String) -> Never {
    #if DATA_PARALLEL
      if let run { run.abort("tensorlstm-charlm: \(message)") }
    #endif
    fail(message)
  }

  func share(of count: Int) -> Range<Int> {
    #if DATA_PARALLEL
      if let run { return run.share(of: count) }
    #endif
    return 0..<count
  }

  /// Stops every rank unless all were started with the same model, data and options.
  func agree(on description: String) {
    #if DATA_PARALLEL
      do {
        try run?.agree(on: description)
      } catch {
        if isMain { FileHandle.standardError.write(Data("tensorlstm-charlm: \(error)\n".utf8)) }
        run?.finish()
        exit(2)
      }
    #endif
  }

  /// Rank 0's parameters and optimizer state on every rank.
  func broadcast(_ model: inout Sequential<Float>, _ optimizer: inout Adam<Float>) throws {
    #if DATA_PARALLEL
      guard let run else { return }
      try run.broadcastParameters(of: &model)
      var state = optimizer.stateDict()
      try run.broadcast(&state)
      if !isMain && !state.isEmpty { try optimizer.loadStateDict(state) }
    #endif
  }

  /// The global batch's mean loss and mean gradients from this rank's share (`count` targets).
  func average(
    _ gradients: inout [String: Tensor<Float>], loss: Float, count: Int, of model: Sequential<Float>
  ) throws -> Float {
    #if DATA_PARALLEL
      if let run {
        return Float(
          try run.average(&gradients, loss: Double(loss), count: count, order: model).loss)
      }
    #endif
    return loss
  }

  /// Sums over the ranks.
  func sum(_ values: [Double]) -> [Double] {
    #if DATA_PARALLEL
      if let run { return run.sum(values) }
    #endif
    return values
  }

  func finish() {
    #if DATA_PARALLEL
      run?.finish()
    #endif
  }
}

/// The corpus: the first `maxBytes` bytes of the directory's `.py` files in name order, tabs as
/// spaces, bytes outside printable ASCII and newline as '?' (tools/charlm_torch.py does the
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

/// Character ids `[B, T]` and targets (the next characters) of windows starting at `starts`.
func batch(_ codes: [Int], starts: [Int], length: Int) -> (Tensor<Float>, [Int]) {
  var ids: [Float] = []
  var targets: [Int] = []
  for start in starts {
    for t in 0..<length {
      ids.append(Float(codes[start + t]))
      targets.append(codes[start + t + 1])
    }
  }
  return (Tensor(shape: [starts.count, length], scalars: ids), targets)
}

/// The model: `Embedding(V, E)` "embed" → `LSTM(E, H, L, dropout)` "lstm" → `Linear(H, V)` "head",
/// the attribute names of the PyTorch module in tools/charlm_torch.py.
/// Each rank of a data-parallel run seeds its LSTM differently so that its dropout masks differ;
/// the weights are rank 0's on every rank (broadcast).
func makeModel(vocabulary v: Int, _ o: Options, rank: Int = 0) -> Sequential<Float> {
  var lstm = LSTM<Float>(
    inputSize: o.embed, hiddenSize: o.hidden, numLayers: o.layers, batchFirst: true,
    dropout: o.dropout, seed: o.seed &+ UInt64(rank) << 32)
  lstm.threads = o.threads
  return Sequential<Float> {
    Embedding<Float>(numEmbeddings: v, embeddingDim: o.embed, seed: o.seed &+ 2).named("embed")
    lstm.named("lstm")
    Linear<Float>(inFeatures: o.hidden, outFeatures: v, seed: o.seed &+ 1).named("head")
  }
}

/// The mean cross-entropy of predicting each next character (eval mode, no trace).
func loss(_ model: Sequential<Float>, _ ids: Tensor<Float>, _ targets: [Int]) throws -> Float {
  var model = model
  model.training = false
  let logits = try model(ids)
  return try Loss.crossEntropy(logits: logits.reshaped([targets.count, -1]), targets: targets).value
}

/// One training step's loss and gradients, keyed like the model's state dict.
func gradients(_ model: Sequential<Float>, _ ids: Tensor<Float>, _ targets: [Int]) throws -> (
  Float, [String: Tensor<Float>]
) {
  let trace = try model.forwardWithTrace(ids)
  let logits = trace.output  // [B, T, V]
  let ce = try Loss.crossEntropy(logits: logits.reshaped([targets.count, -1]), targets: targets)
  let g = try model.backward(
    trace, outputGradient: ce.gradient.reshaped(logits.shape), inputGradient: false)
  return (ce.value, g.parameters)
}

/// The mean validation loss over the first `valWindows` windows; each rank evaluates its share.
func validationLoss(_ model: Sequential<Float>, _ corpus: Corpus, _ o: Options, _ team: Team)
  throws -> Double
{
  let windows = team.share(of: Swift.min(o.valWindows, (corpus.validation.count - 1) / o.seqLength))
  var total = 0.0
  var count = 0
  var start = windows.lowerBound
  while start < windows.upperBound {
    let n = Swift.min(o.batch, windows.upperBound - start)
    let (x, targets) = batch(
      corpus.validation, starts: (start..<(start + n)).map { $0 * o.seqLength },
      length: o.seqLength)
    total += Double(try loss(model, x, targets)) * Double(n)
    count += n
    start += n
  }
  let sums = team.sum([total, Double(count)])
  return sums[0] / sums[1]
}

/// The validation loss with the LSTM's weights at bfloat16 and int8 (its forward only; the
/// Float weights stay the model's), against the Float loss; and the largest difference of the
/// LSTM's output from Float's over the first 1000 validation characters.
func comparePrecisions(
  _ model: Sequential<Float>, _ corpus: Corpus, _ o: Options, _ team: Team
) throws {
  let float = try validationLoss(model, corpus, o, team)
  var eval = model
  eval.training = false
  let embed = eval.children[0].layer as! Embedding<Float>
  let lstm = eval.children[1].layer as! LSTM<Float>
  let length = Swift.min(1000, corpus.validation.count)
  let ids = Tensor<Float>(
    shape: [1, length], scalars: corpus.validation[..<length].map(Float.init))
  let embedded = try embed.forward(ids, lengths: nil)
  let reference = try lstm.forward(embedded, lengths: nil).scalars
  for precision in [WeightPrecision.bfloat16, .int8] {
    var reduced = lstm
    reduced.weightPrecision = precision
    let output = try reduced.forward(embedded, lengths: nil).scalars
    let differences = zip(output, reference).map { abs($0 - $1) }.sorted()
    if team.isMain, let worst = differences.last {
      let mean = differences.reduce(0, +) / Float(differences.count)
      let p999 = differences[differences.count * 999 / 1000]
      say(
        "LSTM output with \(precision) weights over \(length) steps: |Δ| from float max \(worst), 99.9th percentile \(p999), mean \(mean)"
      )
    }
    let layers = model.children.map { child in
      guard var lstm = child.layer as? LSTM<Float> else { return child.layer.named(child.name) }
      lstm.weightPrecision = precision
      return lstm.named(child.name)
    }
    let loss = try validationLoss(Sequential(layers), corpus, o, team)
    if team.isMain {
      say(
        String(
          format: "validation loss with %@ LSTM weights %.4f (float %.4f, %+.2f %%)",
          precision.description, loss, float, 100 * (loss - float) / float))
    }
  }
}

func formatTime(_ seconds: Double) -> String {
  let s = Int(seconds.rounded())
  return String(format: "%d:%02d", s / 60, s % 60)
}

func save(
  _ model: Sequential<Float>, _ optimizer: Adam<Float>, _ corpus: Corpus, _ o: Options, step: Int,
  validation: Double, to path: String
) throws {
  let vocabulary = String(decoding: corpus.vocabulary, as: UTF8.self)
  try SafeTensors.write(
    model.stateDict(), to: path,
    metadata: [
      "step": "\(step)", "validation_loss": "\(validation)", "vocabulary": vocabulary,
      "embed": "\(o.embed)", "hidden": "\(o.hidden)", "layers": "\(o.layers)",
      "dropout": "\(o.dropout)", "seq_length": "\(o.seqLength)",
      "batch": "\(o.batch)", "max_bytes": "\(o.maxBytes)", "val_windows": "\(o.valWindows)",
      "seed": "\(o.seed)", "corpus": o.corpus, "format": "pytorch state_dict of CharLM",
    ])
  try SafeTensors.write(optimizer.stateDict(), to: path + ".optimizer")
}

/// Text sampled one character at a time (temperature 0.8), the LSTM streaming its state.
func sample(_ model: Sequential<Float>, _ corpus: Corpus, count: Int, seed: UInt64) throws
  -> String
{
  var generator = SeededGenerator(seed: seed)
  var embed = model.children[0].layer as! Embedding<Float>
  var lstm = model.children[1].layer as! LSTM<Float>
  let head = model.children[2].layer as! Linear<Float>
  (embed.training, lstm.training) = (false, false)
  var state: LSTMState<Float>? = nil
  var text = Array("def ".utf8)
  var index = [Int](repeating: 0, count: 256)
  for (i, c) in corpus.vocabulary.enumerated() { index[Int(c)] = i }
  func step(_ id: Int) throws -> Int {
    let x = try embed(Tensor(shape: [1, 1], scalars: [Float(id)]))
    let out = try lstm.streaming(x, state: state)
    state = out.state
    return pick(try head(out.output).scalars, using: &generator)
  }
  var next = 0
  for character in text { next = try step(index[Int(character)]) }
  for _ in 0..<count {
    text.append(corpus.vocabulary[next])
    next = try step(next)
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

/// Trains as the options say; in a data-parallel run, on this rank's share of every batch.
func train(_ o: Options, _ team: Team) throws {
  func announce(_ line: String) { if team.isMain { say(line) } }
  let corpus = try Corpus(directory: o.corpus, maxBytes: o.maxBytes)
  let v = corpus.vocabulary.count
  var model = makeModel(vocabulary: v, o, rank: team.rank)
  var optimizer = Adam<Float>(learningRate: o.learningRate)
  guard o.batch >= team.size else {
    team.stop(
      "--batch \(o.batch) is the global batch: it needs at least one window per rank (\(team.size))"
    )
  }
  // Everything that must match across ranks; --threads may differ per rank.
  team.agree(
    on:
      "corpus \(corpus.train.count)+\(corpus.validation.count) chars, vocabulary \(v); embed \(o.embed) hidden \(o.hidden) layers \(o.layers) dropout \(o.dropout); batch \(o.batch) seq \(o.seqLength) lr \(o.learningRate) clip \(o.clip) steps \(o.steps) seed \(o.seed) resume \(o.resume ?? "-")"
  )
  if let resume = o.resume, team.isMain {
    try model.loadStateDict(try SafeTensors.read(contentsOf: resume))
    try optimizer.loadStateDict(try SafeTensors.read(contentsOf: resume + ".optimizer"))
  }
  try team.broadcast(&model, &optimizer)
  let firstStep = optimizer.steps
  if let resume = o.resume { announce("resumed from \(resume) at step \(firstStep)") }
  if let path = o.saveInitial, team.isMain {
    try save(model, optimizer, corpus, o, step: 0, validation: .nan, to: path)
  }
  announce(
    "corpus: \(o.corpus), \(corpus.train.count) training and \(corpus.validation.count) validation characters, vocabulary \(v)"
  )
  announce(
    "model: Embedding(\(v), \(o.embed)) → LSTM(\(o.embed) → \(o.hidden), \(o.layers) layer(s), dropout \(o.dropout)) → Linear(\(o.hidden) → \(v)); Adam lr \(o.learningRate); batch \(o.batch) × \(o.seqLength) characters; \(o.threads) thread(s)"
      + (team.size > 1
        ? " per rank × \(team.size) ranks (\(team.share(of: o.batch).count) windows on rank 0)"
        : "")
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
  let mine = team.share(of: o.batch)
  for step in (firstStep + 1)...Swift.max(firstStep + 1, o.steps) where step <= o.steps {
    // Every rank draws the whole global batch and trains on its contiguous share.
    let starts = (0..<o.batch).map { _ in
      Int(random.next() % UInt64(corpus.train.count - o.seqLength - 1))
    }
    let (x, targets) = batch(corpus.train, starts: Array(starts[mine]), length: o.seqLength)
    var (loss, stepGradients) = try gradients(model, x, targets)
    loss = try team.average(&stepGradients, loss: loss, count: targets.count, of: model)
    try clipGradientNorm(&stepGradients, maxNorm: o.clip)
    var parameters = model.stateDict()
    try optimizer.step(&parameters, gradients: stepGradients)
    try model.loadStateDict(parameters)
    smoothed = smoothed.map { 0.95 * $0 + 0.05 * Double(loss) } ?? Double(loss)
    let elapsed = Date().timeIntervalSince(start)
    let done = step - firstStep
    let rate = Double(done * o.batch * o.seqLength) / elapsed
    let eta = elapsed / Double(done) * Double(o.steps - step)
    let communication =
      team.size > 1
      ? String(
        format: " | allreduce %.1f + waiting %.1f ms/step",
        1000 * team.communication.sending / Double(done),
        1000 * team.communication.waiting / Double(done)) : ""
    if !o.quiet && team.isMain {
      let width = 24
      let filled = width * step / o.steps
      let bar =
        String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
      let line = String(
        format: "\rstep %5d/%d [%@] loss %.3f | %.0f chars/s%@ | ETA %@   ", step, o.steps, bar,
        smoothed!, rate, communication, formatTime(eta))
      FileHandle.standardOutput.write(Data(line.utf8))
    }
    var validation = ""
    if step % o.evalEvery == 0 || step == o.steps {
      lastValidation = try validationLoss(model, corpus, o, team)
      validation = "\(lastValidation)"
      announce(
        (o.quiet ? "" : "\n")
          + String(
            format: "step %d: validation loss %.4f (train %.4f), %.1f s, %.0f chars/s%@", step,
            lastValidation, smoothed!, elapsed, rate, communication))
      if let path = o.checkpoint, team.isMain {
        try save(model, optimizer, corpus, o, step: step, validation: lastValidation, to: path)
      }
    }
    logLines.append("\(step),\(loss),\(validation),\(elapsed)")
  }
  if let log = o.log, team.isMain {
    try (logLines.joined(separator: "\n") + "\n").write(
      toFile: log, atomically: true, encoding: .utf8)
  }
  let total = Date().timeIntervalSince(start)
  announce(
    String(
      format: "trained %d steps in %.1f s; final validation loss %.4f", o.steps - firstStep, total,
      lastValidation))
  if o.comparePrecisions {
    try comparePrecisions(model, corpus, o, team)
  }
  if o.sample > 0 && team.isMain {
    say("--- sample (temperature 0.8) ---")
    say(try sample(model, corpus, count: o.sample, seed: o.seed))
  }
}

var o = Options(CommandLine.arguments)
if o.corpus.isEmpty {
  let candidates = ["/usr/lib/python3.11", "/usr/lib/python3.12", "/usr/lib/python3.13"]
  guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
    fail("no Python standard library found; pass --corpus DIR (a folder of .py files)")
  }
  o.corpus = found
}
BLAS.threadCount = o.threads
let team = Team(o)
do {
  try train(o, team)
} catch {
  team.stop("\(error)")
}
team.finish()
