import TensorLSTM
import Testing

/// Backward passes, losses and optimizers against PyTorch autograd and torch.optim
/// (tools/make_training_fixtures.py).
@Suite("Training: PyTorch autograd and torch.optim fixtures")
struct TrainingFixtureTests {
  @Test(
    "LSTM gradients equal autograd's within 1e-4 relative",
    arguments: [
      "grad_lstm_stacked_bi_lengths", "grad_lstm_proj_nobias", "grad_lstm_unbatched_bi_proj",
    ])
  func lstm(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    // The backward's GEMMs on every kernel the CPU runs (the packed GEMM forced, and sgemm).
    for kernels in RecurrentKernels.supported {
      try BLAS.withGEMMKernels(kernels) {
        try Self.checkLSTM(t, meta, absolute: 1e-5, relative: 1e-4)
      }
    }
  }

  @Test("LSTM gradients in float64 equal autograd's within 1e-10")
  func lstmDouble() throws {
    let (t, meta) = try Fixtures.load("grad_lstm_f64_lengths_proj", as: Double.self)
    try Self.checkLSTM(t, meta, absolute: 1e-12, relative: 1e-10)
  }

  static func checkLSTM<S: BLASScalar>(
    _ t: [String: Tensor<S>], _ meta: [String: String], absolute: Double, relative: Double
  ) throws {
    let int = { (key: String) in Int(meta[key]!)! }
    let flag = { (key: String) in meta[key] == "true" }
    var lstm = LSTM<S>(
      inputSize: int("input_size"), hiddenSize: int("hidden_size"), numLayers: int("num_layers"),
      bias: flag("bias"), batchFirst: flag("batch_first"), bidirectional: flag("bidirectional"),
      projSize: int("proj_size"))
    let names = lstm.parameterShapes.map(\.name)
    try lstm.loadStateDict(Dictionary(uniqueKeysWithValues: names.map { ($0, t[$0]!) }))
    let state = t["h0"].map { LSTMState(hidden: $0, cell: t["c0"]!) }
    let lengths = t["lengths"].map { $0.scalars.map { Int($0) } }
    let trace = try lstm.forwardWithTrace(t["input"]!, initialState: state, lengths: lengths)
    expectClose(trace.output.output, t["output"]!, absolute: absolute, relative: relative, "output")
    let g = try lstm.backward(
      trace, outputGradient: t["R"]!, hiddenGradient: t["S"]!, cellGradient: t["U"]!)
    expectClose(g.input, t["grad.input"]!, absolute: absolute, relative: relative, "dx")
    for name in names {
      expectClose(
        g.parameters[name]!, t["grad." + name]!, absolute: absolute, relative: relative, name)
    }
    #expect((g.initialState != nil) == (state != nil))
    if let s = g.initialState {
      expectClose(s.hidden, t["grad.h0"]!, absolute: absolute, relative: relative, "dh0")
      expectClose(s.cell, t["grad.c0"]!, absolute: absolute, relative: relative, "dc0")
    }
  }

  @Test("Linear and Conv1d (stride 2, padding 1, dilation 2, groups 2, permuted input) gradients")
  func layers() throws {
    let (t, _) = try Fixtures.load("grad_layers")
    var linear = Linear<Float>(inFeatures: 6, outFeatures: 4)
    try linear.loadStateDict(["weight": t["linear.weight"]!, "bias": t["linear.bias"]!])
    let lg = try linear.backward(input: t["linear.input"]!, outputGradient: t["linear.R"]!)
    expectClose(lg.input, t["linear.grad.input"]!, absolute: 1e-5, relative: 1e-4)
    expectClose(lg.parameters["weight"]!, t["linear.grad.weight"]!, absolute: 1e-5, relative: 1e-4)
    expectClose(lg.parameters["bias"]!, t["linear.grad.bias"]!, absolute: 1e-5, relative: 1e-4)

    var conv = Conv1d<Float>(
      inChannels: 6, outChannels: 4, kernelSize: 3, stride: 2, padding: 1, dilation: 2, groups: 2)
    try conv.loadStateDict(["weight": t["conv.weight"]!, "bias": t["conv.bias"]!])
    let permuted = t["conv.sequence"]!.permuted([0, 2, 1])  // [B, H, T], not copied
    let cg = try conv.backward(input: permuted, outputGradient: t["conv.R"]!)
    expectClose(cg.input, t["conv.grad.input"]!, absolute: 1e-5, relative: 1e-4)
    expectClose(cg.parameters["weight"]!, t["conv.grad.weight"]!, absolute: 1e-5, relative: 1e-4)
    expectClose(cg.parameters["bias"]!, t["conv.grad.bias"]!, absolute: 1e-5, relative: 1e-4)
  }

  @Test("cross-entropy (with an ignored row) and MSE: values and gradients")
  func losses() throws {
    let (t, _) = try Fixtures.load("grad_layers")
    let ce = try Loss.crossEntropy(
      logits: t["ce.logits"]!, targets: t["ce.targets"]!.scalars.map { Int($0) })
    #expect(abs(ce.value - t["ce.value"]!.scalars[0]) <= 1e-5)
    expectClose(ce.gradient, t["ce.grad"]!, absolute: 1e-6, relative: 1e-5)
    let mse = try Loss.mse(prediction: t["mse.prediction"]!, target: t["mse.target"]!)
    #expect(abs(mse.value - t["mse.value"]!.scalars[0]) <= 1e-5)
    expectClose(mse.gradient, t["mse.grad"]!, absolute: 1e-6, relative: 1e-5)
  }

  @Test("SGD, Nesterov, Adam and AdamW trajectories over five steps within 2e-5")
  func optimizers() throws {
    let (t, _) = try Fixtures.load("optim_trajectories")
    let start = ["a": t["start.a"]!, "b": t["start.b"]!]
    let gradients = (0..<5).map { ["a": t["grad\($0).a"]!, "b": t["grad\($0).b"]!] }
    var optimizers: [(String, any Optimizer<Float>)] = [
      ("sgd", SGD<Float>(learningRate: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01)),
      (
        "nesterov", SGD<Float>(learningRate: 0.05, momentum: 0.8, weightDecay: 0.02, nesterov: true)
      ),
      (
        "adam",
        Adam<Float>(learningRate: 0.01, betas: (0.8, 0.99), epsilon: 1e-6, weightDecay: 0.01)
      ),
      (
        "adamw",
        AdamW<Float>(learningRate: 0.01, betas: (0.9, 0.999), epsilon: 1e-8, weightDecay: 0.1)
      ),
    ]
    for i in optimizers.indices {
      var parameters = start
      for step in 0..<5 {
        try optimizers[i].1.step(&parameters, gradients: gradients[step])
        for key in ["a", "b"] {
          expectClose(
            parameters[key]!, t["\(optimizers[i].0)\(step).\(key)"]!, absolute: 2e-5,
            relative: 2e-5, "\(optimizers[i].0) step \(step) \(key)")
        }
      }
    }
    var clipped = gradients[0].mapValues { g in
      Tensor(shape: g.shape, scalars: g.scalars.map { $0 * 3 })
    }
    let norm = try clipGradientNorm(&clipped, maxNorm: 1.5)
    #expect(abs(norm - Double(t["clip.norm"]!.scalars[0])) <= 1e-4)
    expectClose(clipped["a"]!, t["clip.a"]!, absolute: 1e-6, relative: 1e-5)
    expectClose(clipped["b"]!, t["clip.b"]!, absolute: 1e-6, relative: 1e-5)
  }

  @Test("a bad step throws, naming what is wrong, and changes neither parameters nor state")
  func stepRefusals() throws {
    let p = ["w": Tensor<Float>(shape: [2], scalars: [1, 2])]
    let good = ["w": Tensor<Float>(shape: [2], scalars: [0.5, -0.5])]
    var adam = Adam<Float>(learningRate: 0.1)
    var parameters = p
    for (gradients, error) in [
      (["v": good["w"]!, "w": good["w"]!], TrainingError.unknownParameter("v")),
      ([:], TrainingError.missingGradient("w")),
      (
        ["w": Tensor<Float>.zeros(shape: [3])],
        TrainingError.shapeMismatch(name: "gradient 'w'", expected: [2], actual: [3])
      ),
      (
        ["w": Tensor<Float>(shape: [2], scalars: [.nan, 0])],
        TrainingError.nonFinite("gradient 'w'")
      ),
    ] {
      #expect(throws: error) { try adam.step(&parameters, gradients: gradients) }
      #expect(parameters["w"]!.scalars == [1, 2])
      #expect(adam.steps == 0)
    }
    try adam.step(&parameters, gradients: good)
    #expect(adam.steps == 1 && parameters["w"]!.scalars != [1, 2])
    #expect(
      throws: TrainingError.invalidTargets(
        "targets[1] = 5 is outside 0..<3 (and not the ignored index -100)")
    ) {
      try Loss.crossEntropy(logits: Tensor<Float>.zeros(shape: [2, 3]), targets: [0, 5])
    }
    #expect(throws: TrainingError.nonFinite("cross-entropy loss")) {
      try Loss.crossEntropy(
        logits: Tensor<Float>(shape: [1, 2], scalars: [.nan, 0]), targets: [0])
    }
  }
}
