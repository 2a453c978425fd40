import TensorLSTM
import Testing

/// GRU and RNN against PyTorch, Keras 3 and onnxruntime (tools/make_gru_fixtures.py): all five
/// GRU variants, within 1e-4 relative and 1e-5 absolute.
@Suite("GRU and RNN: PyTorch, Keras and ONNX fixtures")
struct GRUFixtureTests {
  @Test(
    "PyTorch nn.GRU and nn.RNN through loadStateDict",
    arguments: [
      "torch_gru_stacked_bi", "torch_gru_lengths_bi", "torch_gru_nobias_unbatched",
      "torch_rnn_tanh_stacked", "torch_rnn_relu_bi_lengths",
    ])
  func torch(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    try Self.checkTorch(t, meta, absolute: 1e-5, relative: 1e-4)
  }

  @Test(
    "PyTorch nn.GRU and nn.RNN in float64 within 1e-12, every kernel",
    arguments: [
      "torch_gru_f64_lengths", "torch_gru_f64_stacked_bi", "torch_rnn_tanh_f64",
      "torch_rnn_relu_f64_bi",
    ], RecurrentKernels.supported)
  func torchDouble(name: String, kernels: RecurrentKernels) throws {
    let (t, meta) = try Fixtures.load(name, as: Double.self)
    try Self.checkTorch(t, meta, absolute: 1e-12, relative: 1e-12, kernels: kernels)
  }

  static func checkTorch<S: BLASScalar>(
    _ t: [String: Tensor<S>], _ meta: [String: String], absolute: Double, relative: Double,
    kernels: RecurrentKernels = .automatic
  ) throws {
    let int = { (key: String) in Int(meta[key]!)! }
    let flag = { (key: String) in meta[key] == "true" }
    let lengths = t["lengths"].map { $0.scalars.map { Int($0) } }
    var dict = t
    for key in ["input", "output", "hidden", "h0", "lengths"] { dict[key] = nil }
    let out: RecurrentOutput<S>
    if meta["cell"] == "gru" {
      var gru = GRU<S>(
        inputSize: int("input_size"), hiddenSize: int("hidden_size"),
        numLayers: int("num_layers"), bias: flag("bias"), batchFirst: flag("batch_first"),
        bidirectional: flag("bidirectional"))
      try gru.loadStateDict(dict)
      gru.kernels = kernels
      out = try gru(t["input"]!, initialState: t["h0"], lengths: lengths)
    } else {
      var rnn = RNN<S>(
        inputSize: int("input_size"), hiddenSize: int("hidden_size"),
        numLayers: int("num_layers"),
        nonlinearity: RNNNonlinearity(rawValue: meta["nonlinearity"]!)!,
        bias: flag("bias"), batchFirst: flag("batch_first"), bidirectional: flag("bidirectional"))
      try rnn.loadStateDict(dict)
      rnn.kernels = kernels
      out = try rnn(t["input"]!, initialState: t["h0"], lengths: lengths)
    }
    expectClose(out.output, t["output"]!, absolute: absolute, relative: relative, "output")
    expectClose(out.hidden, t["hidden"]!, absolute: absolute, relative: relative, "h_n")
  }

  @Test(
    "Keras GRU, reset_after true and false, Bidirectional, no bias",
    arguments: [
      "keras_gru_reset_after", "keras_gru_reset_before", "keras_gru_bidirectional",
      "keras_gru_nobias",
    ])
  func keras(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    func weights(_ side: String) -> KerasGRUWeights<Float>? {
      t["\(side).kernel"].map {
        KerasGRUWeights(
          kernel: $0, recurrentKernel: t["\(side).recurrent_kernel"]!, bias: t["\(side).bias"])
      }
    }
    let resetAfter = meta["reset_after"] == "true"
    let gru = try GRU(
      keras: weights("forward")!, backward: weights("backward"), resetAfter: resetAfter)
    #expect(gru.resetAfter == resetAfter)
    let out = try gru(t["input"]!)
    expectClose(out.output, t["sequences"]!, absolute: 1e-5, relative: 1e-4, "return_sequences")
    expectClose(out.lastStep, t["last"]!, absolute: 1e-5, relative: 1e-4, "last step")
  }

  @Test(
    "ONNX GRU node: linear_before_reset 0 and 1, every direction, sequence_lens, initial_h",
    arguments: ["onnx_gru_lbr0_bidirectional", "onnx_gru_lbr1_forward", "onnx_gru_lbr0_reverse"])
  func onnx(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    let direction = meta["direction"]!
    let gru = try GRU(
      onnx: ONNXGRUNode(
        w: t["W"]!, r: t["R"]!, b: t["B"]!, direction: direction,
        linearBeforeReset: Int(meta["linear_before_reset"]!)!))
    #expect(gru.isReverse == (direction == "reverse"))
    let lengths = t["sequence_lens"].map { $0.scalars.map { Int($0) } }
    let out = try gru(t["X"]!, initialState: t["initial_h"], lengths: lengths)
    let y = LSTM<Float>.onnxY(out.output, directions: direction == "bidirectional" ? 2 : 1)
    expectClose(y, t["Y"]!, absolute: 1e-5, relative: 1e-4, "Y")
    expectClose(out.hidden, t["Y_h"]!, absolute: 1e-5, relative: 1e-4, "Y_h")
  }

  @Test("the two placements differ on the same ONNX weights: mixing them up is caught")
  func placementsDiffer() throws {
    let (t, _) = try Fixtures.load("onnx_gru_lbr0_bidirectional")
    let wrong = try GRU(
      onnx: ONNXGRUNode(
        w: t["W"]!, r: t["R"]!, b: t["B"]!, direction: "bidirectional", linearBeforeReset: 1))
    let lengths = t["sequence_lens"]!.scalars.map { Int($0) }
    let y = LSTM<Float>.onnxY(
      try wrong(t["X"]!, initialState: t["initial_h"], lengths: lengths).output, directions: 2)
    let difference = zip(y.scalars, t["Y"]!.scalars).map { abs($0 - $1) }.max() ?? 0
    #expect(difference > 1e-2, "linear_before_reset 1 matched a 0 fixture to \(difference)")
  }

  @Test("ONNX GRU attributes it cannot honour throw, never ignored")
  func onnxRejections() {
    let w = Tensor<Float>.zeros(shape: [1, 6, 3])
    let r = Tensor<Float>.zeros(shape: [1, 6, 2])
    for node in [
      ONNXGRUNode(w: w, r: r, clip: 3), ONNXGRUNode(w: w, r: r, activations: ["Relu", "Tanh"]),
      ONNXGRUNode(w: w, r: r, direction: "sideways"), ONNXGRUNode(w: w, r: r, linearBeforeReset: 2),
      ONNXGRUNode(w: w, r: r, layout: 2),
    ] {
      #expect(throws: LayerError.self) { _ = try GRU(onnx: node) }
    }
    #expect(throws: LayerError.shapeMismatch(name: "R", expected: [1, 6, 2], actual: [1, 6, 3])) {
      _ = try GRU(onnx: ONNXGRUNode(w: w, r: .zeros(shape: [1, 6, 3])))
    }
  }
}
