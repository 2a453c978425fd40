import TensorLSTM
import Testing

/// `weightPrecision = .bfloat16`: every forward path computes with the weights rounded to
/// bfloat16 — the fused step streaming them packed at half the bytes, the GEMM paths reading
/// rounded Float copies — so each kernel variant matches the naive oracle run on a Float model
/// holding the rounded weights, and the Float weights stay the state dict.
@Suite("Weight precision: bfloat16 weights on every kernel")
struct WeightPrecisionTests {
  /// `value` rounded to bfloat16 (nearest, ties to even) and widened back.
  static func bfloat16(_ value: Float) -> Float {
    let bits = value.bitPattern
    return Float(bitPattern: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) & 0xffff_0000)
  }

  /// `dict` with its weights (not biases) rounded to bfloat16.
  static func rounded(_ dict: [String: Tensor<Float>]) -> [String: Tensor<Float>] {
    dict.reduce(into: [:]) { result, entry in
      result[entry.key] =
        entry.key.hasPrefix("weight")
        ? Tensor(shape: entry.value.shape, scalars: entry.value.scalars.map(bfloat16))
        : entry.value
    }
  }

  @Test(
    "LSTM at bfloat16 matches the oracle on rounded weights (plain, projected, lengths, bidirectional, stacked)",
    arguments: [1, 3, 7], [13, 300])
  func lstm(batch: Int, hidden: Int) throws {
    var random = TestRandom(seed: UInt64(batch * 100 + hidden))
    let (steps, features) = (9, 11)
    for variant in ["plain", "projected", "lengths", "bidirectional", "stacked"] {
      var model = LSTM<Float>(
        inputSize: features, hiddenSize: hidden, numLayers: variant == "stacked" ? 2 : 1,
        bidirectional: variant == "bidirectional",
        projSize: variant == "projected" ? hidden / 2 : 0,
        seed: UInt64(hidden))
      let weights = model.stateDict()
      var reference = model
      try reference.loadStateDict(Self.rounded(weights))
      let x: Tensor<Float> = random.tensor([steps, batch, features])
      let lengths = variant == "lengths" ? (0..<batch).map { 1 + $0 % steps } : nil
      let oracle = try Naive.lstm(reference, x, lengths: lengths)
      model.weightPrecision = .bfloat16
      // One or two rows over a W_hh larger than 1 MiB as Float (H 300 unprojected: 1.4 MiB)
      // stream the bfloat16 panels; the rest read Float panels of the same rounded weights.
      let streams =
        batch <= 2 && hidden == 300 && !["lengths", "projected"].contains(variant)
        && RecurrentKernels.isFusedSupported
      #expect(try model.plan(for: x, lengths: lengths).streamsBFloat16 == streams, "\(variant)")
      #expect(
        model.stateDict().mapValues(\.scalars) == weights.mapValues(\.scalars),
        "the Float weights stay the state dict")
      for kernels in RecurrentKernels.supported {
        model.kernels = kernels
        let out = try model(x, lengths: lengths)
        expectClose(out.output, oracle.output, "\(variant) \(kernels)")
        expectClose(out.cell, oracle.cell, "cell \(variant) \(kernels)")
      }
      // Back at .float, the Float weights compute again.
      model.weightPrecision = .float
      expectClose(
        try model(x, lengths: lengths).output, try Naive.lstm(model, x, lengths: lengths).output)
    }
  }

  @Test(
    "GRU (both reset placements) and RNN at bfloat16 match the oracle on rounded weights",
    arguments: [(3, 37, 37), (1, 300, 520)])
  func gruAndRNN(batch: Int, gruHidden: Int, rnnHidden: Int) throws {
    var random = TestRandom(seed: 5)
    let x: Tensor<Float> = random.tensor([12, batch, 10])
    for resetAfter in [true, false] {
      var gru = GRU<Float>(inputSize: 10, hiddenSize: gruHidden, resetAfter: resetAfter, seed: 2)
      var reference = gru
      try reference.loadStateDict(Self.rounded(gru.stateDict()))
      let oracle = try Naive.gru(reference, x)
      gru.weightPrecision = .bfloat16
      let streams = batch == 1 && resetAfter && RecurrentKernels.isFusedSupported
      #expect(try gru.plan(for: x).streamsBFloat16 == streams)
      for kernels in RecurrentKernels.supported {
        gru.kernels = kernels
        expectClose(try gru(x).output, oracle.output, "GRU reset after \(resetAfter) \(kernels)")
      }
    }
    var rnn = RNN<Float>(inputSize: 10, hiddenSize: rnnHidden, seed: 3)
    var reference = rnn
    try reference.loadStateDict(Self.rounded(rnn.stateDict()))
    let oracle = try Naive.rnn(reference, x)
    rnn.weightPrecision = .bfloat16
    #expect(
      try rnn.plan(for: x).streamsBFloat16 == (batch == 1 && RecurrentKernels.isFusedSupported))
    for kernels in RecurrentKernels.supported {
      rnn.kernels = kernels
      expectClose(try rnn(x).output, oracle.output, "RNN \(kernels)")
    }
  }

  /// Batch 1 over many steps at 2 threads: the hidden split's workers read their panels of the
  /// bfloat16 `W_hh` at half the Float offsets.
  @Test("bfloat16 weights in the hidden split, and loading a state dict rounds the new weights")
  func hiddenSplitAndLoad() throws {
    var random = TestRandom(seed: 8)
    var model = LSTM<Float>(inputSize: 16, hiddenSize: 400, seed: 4)
    model.threads = 2
    model.threadSplit = .hiddenUnits
    model.weightPrecision = .bfloat16
    let fresh = LSTM<Float>(inputSize: 16, hiddenSize: 400, seed: 9).stateDict()
    try model.loadStateDict(fresh)
    #expect(model.weightPrecision == .bfloat16)
    var reference = model
    reference.weightPrecision = .float
    try reference.loadStateDict(Self.rounded(fresh))
    let x: Tensor<Float> = random.tensor([40, 1, 16])
    let oracle = try Naive.lstm(reference, x)
    for kernels in RecurrentKernels.supported {
      model.kernels = kernels
      let plan = try model.plan(for: x)
      if BLAS.cores >= 2 && kernels != .portable {
        // Each worker streams its half of W_hh (1.25 MiB as Float) as bfloat16.
        #expect(plan.split == .hiddenUnits && plan.streamsBFloat16, "\(plan)")
      }
      expectClose(try model(x).output, oracle.output, "\(kernels)")
    }
  }

  @Test func traceNeedsFloatWeights() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var lstm = LSTM<Float>(inputSize: 2, hiddenSize: 3)
      lstm.weightPrecision = .bfloat16
      _ = try? lstm.forwardWithTrace(Tensor<Float>.zeros(shape: [2, 1, 2]))
    }
    let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(text.contains("weightPrecision = .float"), "\(text)")
  }
}
