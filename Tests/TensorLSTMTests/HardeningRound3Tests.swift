import Dispatch
import Foundation
import TensorLSTM
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Issue 21's reproducers (hardening round 3), each a test that failed, trapped, hung or
/// ballooned before the fix.
@Suite("Hardening, round 3")
struct HardeningRound3Tests {
  // MARK: Optimizer state from outside (checkpoints) and from reused names

  /// An LSTM(4→8)'s parameters and zero gradients of their shapes.
  static func lstmParameters() -> ([String: Tensor<Float>], [String: Tensor<Float>]) {
    let parameters = LSTM<Float>(inputSize: 4, hiddenSize: 8, seed: 1).stateDict()
    return (parameters, parameters.mapValues { Tensor<Float>.zeros(shape: $0.shape) })
  }

  @Test("another model's Adam checkpoint throws at step, naming the parameter; nothing changes")
  func adamCheckpointOfOtherShapes() throws {
    let (parameters, gradients) = Self.lstmParameters()
    var checkpoint: [String: Tensor<Float>] = ["step": Tensor(shape: [1], scalars: [5])]
    for name in parameters.keys {
      checkpoint["exp_avg." + name] = .zeros(shape: [2])
      checkpoint["exp_avg_sq." + name] = .zeros(shape: [2])
    }
    var adam = Adam<Float>()
    try adam.loadStateDict(checkpoint)
    var stepped = parameters
    #expect {
      try adam.step(&stepped, gradients: gradients)
    } throws: { error in
      guard case TrainingError.shapeMismatch(let name, let expected, let actual) = error else {
        return false
      }
      return name.contains("bias_hh_l0") || name.contains("weight")
        ? expected != [2] && actual == [2] : false
    }
    #expect(stepped.keys.allSatisfy { stepped[$0]!.scalars == parameters[$0]!.scalars })
    #expect(adam.steps == 5, "a failed step does not count")
  }

  @Test("reusing a name for a parameter of another shape throws (Adam, AdamW, SGD momentum)")
  func reusedNameOfOtherShape() throws {
    func run<O: Optimizer<Float>>(_ optimizer: O) throws {
      var optimizer = optimizer
      var small = ["w": Tensor<Float>(repeating: 1, shape: [4])]
      try optimizer.step(&small, gradients: ["w": Tensor(repeating: 1, shape: [4])])
      var large = ["w": Tensor<Float>(repeating: 1, shape: [4096])]
      #expect(throws: TrainingError.self) {
        try optimizer.step(&large, gradients: ["w": Tensor(repeating: 1, shape: [4096])])
      }
      #expect(large["w"]!.scalars.allSatisfy { $0 == 1 }, "nothing written on error")
    }
    try run(Adam<Float>())
    try run(AdamW<Float>())
    try run(SGD<Float>(learningRate: 0.1, momentum: 0.9))
    // Smaller after larger (the SGD bounds trap).
    var sgd = SGD<Float>(learningRate: 0.1, momentum: 0.9)
    var p = ["w": Tensor<Float>.zeros(shape: [8])]
    try sgd.step(&p, gradients: ["w": .zeros(shape: [8])])
    p = ["w": .zeros(shape: [4])]
    #expect(
      throws: TrainingError.shapeMismatch(
        name: "momentum buffer of parameter 'w' (the optimizer state is another model's?)",
        expected: [4], actual: [8])
    ) { try sgd.step(&p, gradients: ["w": .zeros(shape: [4])]) }
  }

  @Test(
    "a step count that is not a whole number ≥ 0 throws",
    arguments: [Float.nan, .infinity, -.infinity, 1e30, -1, 2.5])
  func badStepCount(step: Float) throws {
    var adam = Adam<Float>()
    var parameters = ["w": Tensor<Float>(repeating: 1, shape: [3])]
    try adam.step(&parameters, gradients: ["w": Tensor(repeating: 1, shape: [3])])
    let good = adam.stateDict()
    var bad = good
    bad["step"] = Tensor(shape: [1], scalars: [step])
    #expect {
      try adam.loadStateDict(bad)
    } throws: { error in
      guard case TrainingError.invalidOptimizerState(let reason) = error else { return false }
      return reason.contains("step")
    }
    #expect(adam.stateDict()["step"]!.scalars == [1], "the state is unchanged")
  }

  @Test("unknown entries, unpaired or negative moments throw; nothing is loaded")
  func malformedAdamState() throws {
    let one = Tensor<Float>(repeating: 1, shape: [3])
    let cases: [[String: Tensor<Float>]] = [
      [:],
      ["step": one],
      ["step": Tensor(shape: [1], scalars: [1]), "momentum.w": one],
      ["step": Tensor(shape: [1], scalars: [1]), "exp_avg.w": one],
      ["step": Tensor(shape: [1], scalars: [1]), "exp_avg_sq.w": one],
      [
        "step": Tensor(shape: [1], scalars: [1]), "exp_avg.w": one,
        "exp_avg_sq.w": Tensor(repeating: -1, shape: [3]),
      ],
      [
        "step": Tensor(shape: [1], scalars: [1]), "exp_avg.w": one,
        "exp_avg_sq.w": Tensor(repeating: 1, shape: [4]),
      ],
    ]
    for dict in cases {
      var adam = Adam<Float>()
      #expect(throws: TrainingError.self, "\(dict.keys.sorted())") { try adam.loadStateDict(dict) }
      #expect(adam.steps == 0 && adam.stateDict().count == 1)
    }
  }

  @Test("a round trip of the Adam state keeps the parameters' shapes")
  func adamStateRoundTrip() throws {
    var adam = AdamW<Double>()
    var parameters = ["w": Tensor<Double>(repeating: 1, shape: [2, 3])]
    try adam.step(&parameters, gradients: ["w": Tensor(repeating: 0.5, shape: [2, 3])])
    let state = adam.stateDict()
    #expect(state["exp_avg.w"]!.shape == [2, 3] && state["exp_avg_sq.w"]!.shape == [2, 3])
    var restored = AdamW<Double>()
    try restored.loadStateDict(state)
    var a = parameters
    var b = parameters
    try adam.step(&a, gradients: ["w": Tensor(repeating: 0.25, shape: [2, 3])])
    try restored.step(&b, gradients: ["w": Tensor(repeating: 0.25, shape: [2, 3])])
    #expect(a["w"]!.scalars == b["w"]!.scalars)
  }

  // MARK: Hyper-parameters: programmer input, stops with a message naming the argument

  @Test func adamNaNLearningRate() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Adam<Float>(learningRate: .nan)
    }
    #expect(stderrText(result).contains("Adam: invalid learningRate nan"), "\(stderrText(result))")
  }

  @Test func adamInfiniteLearningRate() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Adam<Float>(learningRate: .infinity)
    }
    #expect(stderrText(result).contains("invalid learningRate inf"), "\(stderrText(result))")
  }

  @Test func adamNegativeLearningRate() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = AdamW<Float>(learningRate: -1)
    }
    #expect(stderrText(result).contains("AdamW: invalid learningRate -1"), "\(stderrText(result))")
  }

  @Test func adamBetaOne() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Adam<Float>(betas: (1, 0.999))
    }
    #expect(stderrText(result).contains("invalid betas.0 1"), "\(stderrText(result))")
  }

  @Test func adamNegativeBeta() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Adam<Float>(betas: (0.9, -0.5))
    }
    #expect(stderrText(result).contains("invalid betas.1 -0.5"), "\(stderrText(result))")
  }

  @Test func adamNaNWeightDecay() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Adam<Double>(weightDecay: .nan)
    }
    #expect(stderrText(result).contains("invalid weightDecay nan"), "\(stderrText(result))")
  }

  @Test func adamNegativeEpsilon() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Adam<Float>(epsilon: -1)
    }
    #expect(stderrText(result).contains("invalid epsilon -1"), "\(stderrText(result))")
  }

  @Test func sgdNaNLearningRate() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = SGD<Float>(learningRate: .nan)
    }
    #expect(stderrText(result).contains("SGD: invalid learningRate nan"), "\(stderrText(result))")
  }

  @Test func sgdLearningRateChangedToNaNBeforeStep() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var sgd = SGD<Float>(learningRate: 0.1)
      sgd.learningRate = .nan
      var p = ["w": Tensor<Float>.zeros(shape: [2])]
      try? sgd.step(&p, gradients: ["w": .zeros(shape: [2])])
    }
    #expect(stderrText(result).contains("SGD: invalid learningRate nan"), "\(stderrText(result))")
  }

  @Test func clipNegativeNorm() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var g = ["w": Tensor<Float>(repeating: 1, shape: [2])]
      _ = try? clipGradientNorm(&g, maxNorm: -1)
    }
    #expect(stderrText(result).contains("maxNorm must be ≥ 0"), "\(stderrText(result))")
  }

  @Test func clipNaNNorm() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var g = ["w": Tensor<Float>(repeating: 1, shape: [2])]
      _ = try? clipGradientNorm(&g, maxNorm: .nan)
    }
    #expect(stderrText(result).contains("got nan"), "\(stderrText(result))")
  }

  @Test func clipNegativeInfiniteNorm() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var g = ["w": Tensor<Float>(repeating: 1, shape: [2])]
      _ = try? clipGradientNorm(&g, maxNorm: -.infinity)
    }
    #expect(stderrText(result).contains("got -inf"), "\(stderrText(result))")
  }

  @Test("an infinite maxNorm never clips")
  func clipInfiniteNorm() throws {
    var g = ["w": Tensor<Float>(repeating: 3, shape: [2])]
    let norm = try clipGradientNorm(&g, maxNorm: .infinity)
    #expect(abs(norm - 18.0.squareRoot()) < 1e-6 && g["w"]!.scalars == [3, 3])
  }

  // MARK: Losses that overflow the scalar type

  @Test("a loss finite in Double but not in Float throws nonFinite")
  func lossOverflow() throws {
    let logits = Tensor<Float>(shape: [1, 3], scalars: [3e38, -3e38, 0])
    #expect(throws: TrainingError.nonFinite("cross-entropy loss")) {
      try Loss.crossEntropy(logits: logits, targets: [1])
    }
    #expect(throws: TrainingError.nonFinite("mean squared error")) {
      try Loss.mse(
        prediction: Tensor<Float>(shape: [2], scalars: [3e38, -3e38]),
        target: .zeros(shape: [2]))
    }
  }

  // MARK: Files

  /// Runs `body` on its own thread; false when it has not finished within `seconds`.
  static func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      body()
      done.signal()
    }
    return done.wait(timeout: .now() + seconds) == .success
  }

  @Test("a FIFO with no writer is refused at once by every reader")
  func fifoWithoutWriter() throws {
    let path =
      NSTemporaryDirectory() + "tensorlstm-fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    #expect(mkfifo(path, 0o600) == 0)
    defer { unlink(path) }
    let readers: [(String, @Sendable () -> Error?)] = [
      (
        "SafeTensors.read",
        { catching { _ = try SafeTensors.read(contentsOf: path, as: Float.self) } }
      ),
      ("SafeTensors.metadata", { catching { _ = try SafeTensors.metadata(contentsOf: path) } }),
      ("NumPy.read", { catching { _ = try NumPy.read(contentsOf: path, as: Float.self) } }),
    ]
    for (name, read) in readers {
      let box = ErrorBox()
      let finished = Self.finishes(within: 10) { box.set(read()) }
      #expect(finished, "\(name) blocked on a FIFO")
      guard finished else { continue }
      let error = box.get() as? FileError
      #expect(
        error?.reason.contains("not a regular file") == true,
        "\(name): \(String(describing: box.get()))")
    }
  }

  @Test("a /proc file that streams without end is read up to a bound, then refused")
  func procPagemap() throws {
    #expect {
      _ = try SafeTensors.read(contentsOf: "/proc/self/pagemap", as: Float.self)
    } throws: { error in
      (error as? FileError)?.reason.contains("streams more than") == true
    }
  }

  @Test("a path with a NUL is refused by reads and writes; nothing is written")
  func nulInPath() throws {
    let dir =
      NSTemporaryDirectory() + "tensorlstm-nul-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let t = Tensor<Float>(repeating: 1, shape: [2])
    try NumPy.write(t, to: dir + "/a")
    try SafeTensors.write(["t": t], to: dir + "/b")
    #expect(throws: FileError.self) {
      _ = try NumPy.read(contentsOf: dir + "/a\u{0}.npy", as: Float.self)
    }
    #expect(throws: FileError.self) {
      _ = try SafeTensors.read(contentsOf: dir + "/b\u{0}.safetensors", as: Float.self)
    }
    #expect(throws: FileError.self) { try NumPy.write(t, to: dir + "/c\u{0}.npy") }
    #expect(throws: FileError.self) { try SafeTensors.write(["t": t], to: dir + "/d\u{0}.x") }
    let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    #expect(left == ["a", "b"], "\(left)")
  }

  @Test("a tensor named __metadata__ is refused on write")
  func reservedName() throws {
    let t = Tensor<Float>(repeating: 1, shape: [2])
    #expect(throws: SafeTensorsError.self) {
      _ = try SafeTensors.encode(["__metadata__": t, "w": t])
    }
    let path = NSTemporaryDirectory() + "tensorlstm-reserved-\(getpid()).safetensors"
    #expect(throws: SafeTensorsError.self) {
      try SafeTensors.write(["__metadata__": t, "w": t], to: path)
    }
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  /// A safetensors file with `header` as its JSON header and `data` after it.
  static func safetensors(_ header: String, data: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
    return bytes + Array(header.utf8) + data
  }

  @Test(
    "duplicate keys in a header are refused",
    arguments: [
      #"{"w":{"dtype":"F32","shape":[1],"shape":[2],"data_offsets":[0,4]}}"#,
      #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
      #"{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"}}"#,
      #"{"__metadata__":{"a":"1","a":"2"}}"#,
    ])
  func duplicateKeys(header: String) throws {
    let bytes = Self.safetensors(header)
    #expect {
      _ = try SafeTensors.decode(bytes, as: Float.self)
    } throws: { error in
      "\(error)".contains("duplicate")
    }
    #expect(throws: SafeTensorsError.self) { _ = try SafeTensors.metadata(bytes) }
  }

  @Test("a header of 48 M zeros in one array is refused at once")
  func headerArrayBomb() throws {
    var header = #"{"__metadata__":{"k":["#
    header += String(repeating: "0,", count: 1 << 20) + "0]}}"
    #expect {
      _ = try SafeTensors.decode(Self.safetensors(header), as: Float.self)
    } throws: { error in
      "\(error)".contains("array of more than")
    }
  }

  /// The header bomb's peak memory, asserted: in a child process whose data segment may grow
  /// by at most 12× the header beyond what it holds when the parse starts (the limit is
  /// `RLIMIT_DATA`, which counts malloc's heap and its anonymous mappings). Before the fix the
  /// parser took 26× the file; a parse over the limit crashes the child and fails the test.
  /// Not under a sanitizer: its shadow memory and quarantine count against the limit too.
  @Test(.enabled(if: !sanitizerIsLoaded, "a sanitizer's own memory counts against the limit"))
  func headerMemoryIsBounded() async {
    await #expect(processExitsWith: .success) {
      func dataBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmData:") } ?? ""
        return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
      }
      // 32 MiB of objects of 64-element arrays: values as dense as JSON allows.
      let row = "[" + Array(repeating: "0", count: 64).joined(separator: ",") + "]"
      var header = #"{"__metadata__":{"#
      var index = 0
      while header.utf8.count < 32 << 20 {
        header += "\"\(index)\":\(row),"
        index += 1
      }
      header += #""end":"x"}}"#
      let bytes = HardeningRound3Tests.safetensors(header)
      var limit = rlimit()
      limit.rlim_cur = rlim_t(dataBytes() + 12 * header.utf8.count + (64 << 20))
      limit.rlim_max = limit.rlim_cur
      guard setrlimit(Int32(RLIMIT_DATA.rawValue), &limit) == 0 else { exit(3) }
      do {
        _ = try SafeTensors.decode(bytes, as: Float.self)
        exit(4)  // it is no valid header
      } catch {
        exit(0)
      }
    }
  }

  // MARK: Views

  @Test func reshapeCountOverflow() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [1]).reshaped([1 << 32, 1 << 32])
    }
    let text = stderrText(result)
    #expect(text.contains("[4294967296, 4294967296]") && text.contains("Int"), "\(text)")
  }

  @Test func reshapeInferredCountOverflow() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [1]).reshaped([1 << 32, 1 << 32, -1])
    }
    let text = stderrText(result)
    #expect(text.contains("[4294967296, 4294967296, -1]") && text.contains("Int"), "\(text)")
  }

  @Test func unflattenCountOverflow() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [1]).unflattened(axis: 0, shape: [1 << 32, 1 << 32])
    }
    let text = stderrText(result)
    #expect(text.contains("[4294967296, 4294967296]") && text.contains("Int"), "\(text)")
  }
}

/// What a reader threw, or nil.
func catching(_ body: () throws -> Void) -> Error? {
  do {
    try body()
    return nil
  } catch { return error }
}

/// An error handed from one thread to another.
final class ErrorBox: @unchecked Sendable {
  private let lock = NSLock()
  private var error: Error?
  func set(_ error: Error?) { lock.withLock { self.error = error } }
  func get() -> Error? { lock.withLock { error } }
}
