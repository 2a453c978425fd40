import Dispatch
import Foundation
import Synchronization
import TensorLSTM
import Testing

/// The planned runs after the first: steps replay into buffers kept across runs. They must
/// give what the traced run gave, never overwrite an output a caller still holds, fall back
/// when an input's layout differs from the traced one, and keep concurrent callers apart.
@Suite struct ONNXReplayTests {
  static func chunk(_ seed: UInt64) -> Tensor<Float> {
    Tensor<Float>.randomNormal(shape: [1, 576], seed: seed) * 0.1
  }

  static func sileroInputs(_ chunk: Tensor<Float>, _ state: Tensor<Float>) -> [String: ONNXValue] {
    ["input": .float(chunk), "state": .float(state), "sr": .int64([16000], shape: [])]
  }

  static let models = [
    "silero_vad", "silero_vad_16k_op15", "silero_vad_op18_ifless", "onnx_tagger_op17",
    "onnx_convgru_op17", "onnx_rnn_op17", "onnx_tagger_op14", "onnx_cell_op17",
  ]

  /// The model and inputs of `file`: Silero with a random chunk and state, a torch export
  /// with its fixture's first input.
  static func modelAndInputs(_ file: String) throws -> (ONNXModel, [String: ONNXValue]) {
    if file.hasPrefix("silero") {
      return (
        try ONNXModelTests.silero(file),
        sileroInputs(chunk(2), .randomNormal(shape: [2, 1, 128], seed: 3))
      )
    }
    let model = try ONNXModel(contentsOfFile: "\(Fixtures.directory)/\(file).onnx")
    let (fixture, metadata) = try Fixtures.load(file)
    let x = fixture["input.a"]!
    let input: ONNXValue =
      metadata["int_input"] == "1" ? .int64(x.scalars.map { Int64($0) }, shape: x.shape) : .float(x)
    return (model, ["input": input])
  }

  /// Every plan replays every step (a view, or into buffers): none is evaluated as in the
  /// trace, so none allocates its result.
  @Test(arguments: models)
  func plansReplayEveryStep(file: String) throws {
    let (model, inputs) = try Self.modelAndInputs(file)
    let plan = try #require(try model.plan(for: inputs))
    let steps = plan.description.split(separator: "\n").dropFirst()
    #expect(steps.count == plan.stepCount)
    for step in steps {
      #expect(step.hasSuffix(" view") || step.hasSuffix(" into buffers"), "\(file): \(step)")
    }
  }

  /// Runs 2 and 3 (replayed) against run 1 (traced), for Silero and the torch exports.
  @Test(arguments: models)
  func replayedRunsMatchTheTracedRun(file: String) throws {
    let (model, inputs) = try Self.modelAndInputs(file)
    let first = try model.run(inputs)
    for _ in 0..<2 {
      let again = try model.run(inputs)
      #expect(Set(again.keys) == Set(first.keys))
      for (name, value) in first {
        #expect(again[name]!.shape == value.shape, "\(file) \(name)")
        #expect(
          ONNXModelTests.maxDifference(again[name]!.float!.scalars, value.float!.scalars) < 1e-6,
          "\(file) \(name)")
      }
    }
  }

  /// A replayed embedding still checks its token ids: an id past the table throws, naming
  /// the node, and the next good run is unaffected.
  @Test func replayedGatherChecksItsIndices() throws {
    let (model, inputs) = try Self.modelAndInputs("onnx_tagger_op17")
    guard case .int64(let ids, let shape)? = inputs["input"] else {
      Issue.record("the tagger takes int64 ids")
      return
    }
    let expected = try model.run(inputs)
    _ = try model.run(inputs)
    var bad = ids
    bad[3] = 1_000_000
    #expect(throws: ONNXError.self) { try model.run(["input": .int64(bad, shape: shape)]) }
    let again = try model.run(inputs)
    for (name, value) in expected {
      #expect(again[name]!.float!.scalars == value.float!.scalars, "\(name)")
    }
  }

  /// A caller keeps run k's outputs while making run k+1 (Silero's carried state): the
  /// buffers rotate, so what it holds is never written again.
  @Test func heldOutputsAreNeverOverwritten() throws {
    let model = try ONNXModelTests.silero("silero_vad_16k_op15")
    var state = Tensor<Float>.zeros(shape: [2, 1, 128])
    var held: [(Tensor<Float>, [Float])] = []
    for seed in 1...6 {
      let out = try model.run(Self.sileroInputs(Self.chunk(UInt64(seed)), state))
      state = out["stateN"]!.float!
      held.append((state, state.scalars))
      held.append((out["output"]!.float!, out["output"]!.float!.scalars))
    }
    for (tensor, scalars) in held { #expect(tensor.scalars == scalars) }
    // The same chunk from the same state gives the same result however often it runs.
    let start = held[4].0
    let a = try model.run(Self.sileroInputs(Self.chunk(9), start))["output"]!.float!.scalars
    _ = try model.run(Self.sileroInputs(Self.chunk(10), start))
    let b = try model.run(Self.sileroInputs(Self.chunk(9), start))["output"]!.float!.scalars
    #expect(a == b)
  }

  /// An LSTM cell the exporter wrote as operators (Gemm, Split, activations, Mul/Add) is one
  /// engine step in the plan: Silero's op18 model has one, the unrolled LSTMCell three.
  @Test(arguments: [("silero_vad_op18_ifless", 1), ("onnx_cell_op17", 3), ("onnx_cell_op14", 3)])
  func exportedCellsAreFused(file: String, cells: Int) throws {
    let (model, inputs) = try Self.modelAndInputs(file)
    let plan = try #require(try model.plan(for: inputs))
    let fused = plan.description.split(separator: "\n").filter { $0.contains("LSTMCell '") }
    #expect(fused.count == cells, "\(plan)")
    #expect(!plan.description.contains("Split '"), "\(plan)")
  }

  /// An input with the traced shape but other strides (a strided view) is evaluated, not
  /// replayed through the traced layout, and gives the contiguous input's result (the fused
  /// cell of op18 too).
  @Test(arguments: ["silero_vad_16k_op15", "silero_vad_op18_ifless"])
  func inputsWithOtherStridesFallBack(file: String) throws {
    let model = try ONNXModelTests.silero(file)
    let wideState = Tensor<Float>.randomNormal(shape: [2, 1, 256], seed: 4)
    let state = wideState.sliced(axis: 2, range: 1..<256, step: 2)
    let wide = Tensor<Float>.randomNormal(shape: [1, 1152], seed: 5) * 0.1
    let strided = wide.sliced(axis: 1, range: 0..<1152, step: 2)
    #expect(strided.shape == [1, 576] && !strided.isContiguous && state.shape == [2, 1, 128])
    let (contiguous, contiguousState) = (strided.contiguous(), state.contiguous())
    for _ in 0..<2 { _ = try model.run(Self.sileroInputs(contiguous, contiguousState)) }
    let expected = try model.run(Self.sileroInputs(contiguous, contiguousState))
    let got = try model.run(Self.sileroInputs(strided, state))
    for name in ["output", "stateN"] {
      #expect(got[name]!.float!.scalars == expected[name]!.float!.scalars, "\(name)")
    }
  }

  /// Callers on several threads share one model (and plan) but never a run state.
  @Test func concurrentCallersGetTheirOwnResults() throws {
    let model = try ONNXModelTests.silero("silero_vad_16k_op15")
    @Sendable func stream(_ seed: Int) throws -> [Float] {
      var state = Tensor<Float>.zeros(shape: [2, 1, 128])
      var probabilities: [Float] = []
      for i in 0..<12 {
        let out = try model.run(Self.sileroInputs(Self.chunk(UInt64(seed * 100 + i)), state))
        state = out["stateN"]!.float!
        probabilities.append(out["output"]!.float!.scalars[0])
      }
      return probabilities
    }
    let expected = try (0..<4).map { try stream($0) }
    let results = Mutex<[Int: [Float]]>([:])
    DispatchQueue.concurrentPerform(iterations: 4) { i in
      let r = try? stream(i)
      results.withLock { $0[i] = r }
    }
    for i in 0..<4 { #expect(results.withLock { $0[i] } == expected[i], "caller \(i)") }
  }
}
