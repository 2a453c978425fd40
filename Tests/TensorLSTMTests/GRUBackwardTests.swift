import TensorLSTM
import Testing

/// GRU (both reset placements) and RNN backward: central finite differences of the BLAS
/// forward in Double over every flag, PyTorch autograd fixtures, and the refusals.
@Suite("GRU and RNN backward")
struct GRUBackwardTests {
  /// L = Σ output ⊙ R + Σ h_n ⊙ S, its gradient from backward, and L itself for perturbations.
  static func check(_ c: CellCase) throws {
    var random = TestRandom(seed: c.seed &+ 7)
    let shape =
      c.unbatched
      ? [c.steps, c.inputSize]
      : (c.batchFirst ? [c.batch, c.steps, c.inputSize] : [c.steps, c.batch, c.inputSize])
    let x: Tensor<Double> = random.tensor(shape)
    let rows = c.numLayers * (c.bidirectional ? 2 : 1)
    let h0: Tensor<Double> = random.tensor([rows] + (c.unbatched ? [] : [c.batch]) + [c.hiddenSize])
    let lengths = c.useLengths ? (0..<c.batch).map { _ in random.int(1...c.steps) } : nil
    var gru = GRU<Double>(
      inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bias: c.bias,
      batchFirst: c.batchFirst, bidirectional: c.bidirectional, resetAfter: c.kind == .gru,
      seed: c.seed)
    var rnn = RNN<Double>(
      inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
      nonlinearity: c.kind == .rnnRelu ? .relu : .tanh, bias: c.bias, batchFirst: c.batchFirst,
      bidirectional: c.bidirectional, seed: c.seed)
    let isGRU = c.kind == .gru || c.kind == .gruResetBefore
    let forward = { (x: Tensor<Double>, h: Tensor<Double>) throws -> RecurrentOutput<Double> in
      isGRU
        ? try gru(x, initialState: h, lengths: lengths)
        : try rnn(x, initialState: h, lengths: lengths)
    }
    let out = try forward(x, h0)
    let (r, s): (Tensor<Double>, Tensor<Double>) = (
      random.tensor(out.output.shape), random.tensor(out.hidden.shape)
    )
    let trace =
      isGRU
      ? try gru.forwardWithTrace(x, initialState: h0, lengths: lengths)
      : try rnn.forwardWithTrace(x, initialState: h0, lengths: lengths)
    expectClose(trace.output.output, out.output, absolute: 1e-12, "trace output \(c)")
    expectClose(trace.output.hidden, out.hidden, absolute: 1e-12, "trace h_n \(c)")
    let g =
      isGRU
      ? try gru.backward(trace, outputGradient: r, hiddenGradient: s)
      : try rnn.backward(trace, outputGradient: r, hiddenGradient: s)
    func loss(_ x: Tensor<Double>, _ h: Tensor<Double>) throws -> Double {
      let o = try forward(x, h)
      return zip(o.output.scalars, r.scalars).map(*).reduce(0, +)
        + zip(o.hidden.scalars, s.scalars).map(*).reduce(0, +)
    }
    let e = 1e-6
    func expectDerivative(_ analytic: Double, _ plus: Double, _ minus: Double, _ what: String) {
      let estimate = (plus - minus) / (2 * e)
      #expect(
        abs(estimate - analytic) <= 1e-6 + 1e-5 * abs(analytic),
        "\(what) \(c) lengths \(lengths ?? []): numeric \(estimate), backward \(analytic)")
    }
    let dict = isGRU ? gru.stateDict() : rnn.stateDict()
    for (name, tensor) in dict {
      for k in Set([0, tensor.count / 2, tensor.count - 1]) {
        var values = [Double]()
        for sign in [1.0, -1.0] {
          var d = dict
          var scalars = tensor.scalars
          scalars[k] += sign * e
          d[name] = Tensor(shape: tensor.shape, scalars: scalars)
          if isGRU { try gru.loadStateDict(d) } else { try rnn.loadStateDict(d) }
          values.append(try loss(x, h0))
        }
        expectDerivative(g.parameters[name]!.scalars[k], values[0], values[1], "\(name)[\(k)]")
      }
    }
    if isGRU { try gru.loadStateDict(dict) } else { try rnn.loadStateDict(dict) }
    for (tensor, analytic, what) in [(x, g.input, "x"), (h0, g.initialState!, "h0")] {
      for k in Set([0, tensor.count / 2, tensor.count - 1]) {
        var values = [Double]()
        for sign in [1.0, -1.0] {
          var scalars = tensor.scalars
          scalars[k] += sign * e
          let moved = Tensor(shape: tensor.shape, scalars: scalars)
          values.append(try what == "x" ? loss(moved, h0) : loss(x, moved))
        }
        expectDerivative(analytic.scalars[k], values[0], values[1], "\(what)[\(k)]")
      }
    }
  }

  @Test(
    "gradients equal central finite differences (GRU both placements, RNN tanh and relu; every flag)",
    arguments: (0..<48).map(CellCase.init(seed:)))
  func finiteDifferences(c: CellCase) throws {
    try Self.check(c)
  }

  /// The BLAS backward against Naive.gruBackward / Naive.rnnBackward, the cases spread over
  /// every kernel (the fused traces and the portable one); the traced forward's output is the
  /// plain forward's.
  static func compareWithOracle<S: BLASScalar>(
    _ c: CellCase, _: S.Type, absolute: Double, relative: Double
  ) throws {
    let kernels = RecurrentKernels.supported[Int(c.seed) % RecurrentKernels.supported.count]
    var random = TestRandom(seed: c.seed &+ 11)
    let shape =
      c.unbatched
      ? [c.steps, c.inputSize]
      : (c.batchFirst ? [c.batch, c.steps, c.inputSize] : [c.steps, c.batch, c.inputSize])
    let x: Tensor<S> = random.tensor(shape)
    let rows = c.numLayers * (c.bidirectional ? 2 : 1)
    let h0: Tensor<S>? =
      c.useInitialState
      ? random.tensor([rows] + (c.unbatched ? [] : [c.batch]) + [c.hiddenSize]) : nil
    let lengths = c.useLengths ? (0..<c.batch).map { _ in random.int(1...c.steps) } : nil
    let (fast, slow): (RecurrentGradients<S>, RecurrentGradients<S>)
    if c.kind == .gru || c.kind == .gruResetBefore {
      var gru = GRU<S>(
        inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bias: c.bias,
        batchFirst: c.batchFirst, bidirectional: c.bidirectional, resetAfter: c.kind == .gru,
        seed: c.seed)
      gru.kernels = kernels
      let trace = try gru.forwardWithTrace(x, initialState: h0, lengths: lengths)
      let plain = try gru(x, initialState: h0, lengths: lengths)
      expectClose(
        trace.output.output, plain.output, absolute: absolute, relative: relative,
        "trace output \(c) \(kernels)")
      let dY: Tensor<S> = random.tensor(trace.output.output.shape)
      let dHn: Tensor<S> = random.tensor(trace.output.hidden.shape)
      fast = try gru.backward(trace, outputGradient: dY, hiddenGradient: dHn)
      slow = try Naive.gruBackward(
        gru, x, initialState: h0, lengths: lengths, outputGradient: dY, hiddenGradient: dHn)
    } else {
      var rnn = RNN<S>(
        inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
        nonlinearity: c.kind == .rnnRelu ? .relu : .tanh, bias: c.bias, batchFirst: c.batchFirst,
        bidirectional: c.bidirectional, seed: c.seed)
      rnn.kernels = kernels
      let trace = try rnn.forwardWithTrace(x, initialState: h0, lengths: lengths)
      let dY: Tensor<S> = random.tensor(trace.output.output.shape)
      fast = try rnn.backward(trace, outputGradient: dY)
      slow = try Naive.rnnBackward(rnn, x, initialState: h0, lengths: lengths, outputGradient: dY)
    }
    let context = "\(c) kernels \(kernels) lengths \(lengths ?? [])"
    expectClose(fast.input, slow.input, absolute: absolute, relative: relative, "dx \(context)")
    #expect((fast.initialState == nil) == (slow.initialState == nil))
    if let a = fast.initialState, let b = slow.initialState {
      expectClose(a, b, absolute: absolute, relative: relative, "dh0 \(context)")
    }
    for (name, expected) in slow.parameters {
      expectClose(
        fast.parameters[name]!, expected, absolute: absolute, relative: relative,
        "\(name) \(context)")
    }
  }

  @Test(
    "Float gradients match the naive oracle within 1e-4",
    arguments: (0..<128).map(CellCase.init(seed:)))
  func float(c: CellCase) throws {
    try Self.compareWithOracle(c, Float.self, absolute: 2e-5, relative: 1e-4)
  }

  @Test(
    "Double gradients match the naive oracle within 1e-11",
    arguments: (0..<64).map(CellCase.init(seed:)))
  func double(c: CellCase) throws {
    try Self.compareWithOracle(c, Double.self, absolute: 1e-12, relative: 1e-11)
  }

  @Test(
    "PyTorch nn.GRU and nn.RNN autograd within 1e-4",
    arguments: [
      "grad_gru_stacked_bi_lengths", "grad_gru_unbatched_nobias", "grad_rnn_relu_bi_lengths",
      "grad_rnn_tanh_stacked",
    ])
  func torch(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    let int = { (key: String) in Int(meta[key]!)! }
    let flag = { (key: String) in meta[key] == "true" }
    let lengths = t["lengths"].map { $0.scalars.map { Int($0) } }
    let g: RecurrentGradients<Float>
    let names: [String]
    if meta["cell"] == "gru" {
      var gru = GRU<Float>(
        inputSize: int("input_size"), hiddenSize: int("hidden_size"),
        numLayers: int("num_layers"), bias: flag("bias"), batchFirst: flag("batch_first"),
        bidirectional: flag("bidirectional"))
      names = gru.parameterShapes.map(\.name)
      try gru.loadStateDict(Dictionary(uniqueKeysWithValues: names.map { ($0, t[$0]!) }))
      let trace = try gru.forwardWithTrace(t["input"]!, initialState: t["h0"], lengths: lengths)
      g = try gru.backward(trace, outputGradient: t["R"]!, hiddenGradient: t["S"]!)
    } else {
      var rnn = RNN<Float>(
        inputSize: int("input_size"), hiddenSize: int("hidden_size"),
        numLayers: int("num_layers"),
        nonlinearity: RNNNonlinearity(rawValue: meta["nonlinearity"]!)!, bias: flag("bias"),
        batchFirst: flag("batch_first"), bidirectional: flag("bidirectional"))
      names = rnn.parameterShapes.map(\.name)
      try rnn.loadStateDict(Dictionary(uniqueKeysWithValues: names.map { ($0, t[$0]!) }))
      let trace = try rnn.forwardWithTrace(t["input"]!, initialState: t["h0"], lengths: lengths)
      g = try rnn.backward(trace, outputGradient: t["R"]!, hiddenGradient: t["S"]!)
    }
    expectClose(g.input, t["grad.input"]!, absolute: 1e-5, relative: 1e-4, "dx")
    for name in names {
      expectClose(g.parameters[name]!, t["grad." + name]!, absolute: 1e-5, relative: 1e-4, name)
    }
    if let h0 = t["grad.h0"] {
      expectClose(g.initialState!, h0, absolute: 1e-5, relative: 1e-4, "dh0")
    }
  }

  @Test(
    "a bidirectional GRU or RNN backward with 2 threads (the directions' time loops at once) equals the 1-thread one",
    arguments: [CellKind.gru, .gruResetBefore, .rnnTanh], [false, true])
  func concurrentDirections(kind: CellKind, lengths useLengths: Bool) throws {
    var gru = GRU<Float>(
      inputSize: 7, hiddenSize: 64, numLayers: 2, bidirectional: true,
      resetAfter: kind == .gru, seed: 9)
    var rnn = RNN<Float>(inputSize: 7, hiddenSize: 64, numLayers: 2, bidirectional: true, seed: 9)
    // The library's GEMMs (a forced vector set) give the same sums at 1 and 2 threads; the
    // BLAS's (portable, or where the calibration picks it, e.g. under a sanitizer) round
    // differently, and 60 steps of a recurrent backward carry that to ~1e-4.
    let kernels = RecurrentKernels.supported.first!
    gru.kernels = kernels
    rnn.kernels = kernels
    let x = Tensor<Float>.randomNormal(shape: [60, 5, 7], seed: 10)
    let h0 = Tensor<Float>.randomNormal(shape: [4, 5, 64], seed: 12)
    let dY = Tensor<Float>.randomNormal(shape: [60, 5, 128], seed: 11)
    let lengths = useLengths ? [60, 3, 37, 1, 60] : nil
    var results: [RecurrentGradients<Float>] = []
    for threads in [1, 2] {
      if kind == .rnnTanh {
        rnn.threads = threads
        let trace = try rnn.forwardWithTrace(x, initialState: h0, lengths: lengths)
        results.append(try rnn.backward(trace, outputGradient: dY))
      } else {
        gru.threads = threads
        let trace = try gru.forwardWithTrace(x, initialState: h0, lengths: lengths)
        results.append(try gru.backward(trace, outputGradient: dY))
      }
    }
    let (absolute, relative) = kernels == .portable ? (1e-4, 1e-3) : (1e-6, 1e-5)
    let what = "\(kind) lengths \(useLengths)"
    expectClose(results[0].input, results[1].input, absolute: absolute, relative: relative, what)
    expectClose(
      results[0].initialState!, results[1].initialState!, absolute: absolute,
      relative: relative, "dh0 \(what)")
    for (name, value) in results[0].parameters {
      expectClose(
        value, results[1].parameters[name]!, absolute: absolute, relative: relative,
        "\(name) \(what)")
    }
  }

  @Test(
    "a one-direction GRU or RNN trace with the hidden units split between 2 threads equals the 1-thread one, and so does its backward",
    arguments: [CellKind.gru, .rnnTanh], [1, 3])
  func splitUnits(kind: CellKind, batch: Int) throws {
    // Double, every kernel the CPU runs; H 80: the second worker's share is not a whole panel;
    // two layers, so the second reads the first's split output.
    for kernels in RecurrentKernels.supported where kernels != .portable {
      var gru = GRU<Double>(inputSize: 7, hiddenSize: 80, numLayers: 2, seed: 9)
      var rnn = RNN<Double>(inputSize: 7, hiddenSize: 80, numLayers: 2, seed: 9)
      gru.kernels = kernels
      rnn.kernels = kernels
      let x = Tensor<Double>.randomNormal(shape: [30, batch, 7], seed: 10)
      let h0 = Tensor<Double>.randomNormal(shape: [2, batch, 80], seed: 12)
      let dY = Tensor<Double>.randomNormal(shape: [30, batch, 80], seed: 11)
      var results: [(RecurrentTrace<Double>, RecurrentGradients<Double>)] = []
      for (threads, split) in [(1, ForwardPlan.Split.none), (2, .hiddenUnits)] {
        if kind == .gru {
          (gru.threads, gru.threadSplit) = (threads, split)
          let trace = try gru.forwardWithTrace(x, initialState: h0)
          results.append((trace, try gru.backward(trace, outputGradient: dY)))
        } else {
          (rnn.threads, rnn.threadSplit) = (threads, split)
          let trace = try rnn.forwardWithTrace(x, initialState: h0)
          results.append((trace, try rnn.backward(trace, outputGradient: dY)))
        }
      }
      let plan = try kind == .gru ? gru.plan(for: x) : rnn.plan(for: x)
      #expect(plan.split == .hiddenUnits, "the forward's plan splits the units")
      // The same arithmetic per unit, in the same order: the trace equal to the last bit; the
      // backward's GEMMs over all steps may split differently at 2 threads.
      let what = "\(kind) \(kernels) B \(batch)"
      expectClose(results[0].0.output.output, results[1].0.output.output, absolute: 0, what)
      let (one, two) = (results[0].1, results[1].1)
      expectClose(one.input, two.input, absolute: 1e-12, relative: 1e-11, "dx \(what)")
      expectClose(
        one.initialState!, two.initialState!, absolute: 1e-12, relative: 1e-11, "dh0 \(what)")
      for (name, value) in one.parameters {
        expectClose(
          value, two.parameters[name]!, absolute: 1e-12, relative: 1e-11, "\(name) \(what)")
      }
    }
  }

  @Test(
    "a traced forward in batch slices (2 threads) equals the 1-thread one, and so does its backward (LSTM, GRU both placements)",
    arguments: ["LSTM", "GRU", "GRU (reset before)"], [false, true])
  func batchSlices(cell: String, lengths useLengths: Bool) throws {
    // B 13 over 2 slices (7 + 6), H 48 (W_hh small enough that the forward slices the batch).
    let kernels = RecurrentKernels.supported.first!
    var gru = GRU<Float>(
      inputSize: 9, hiddenSize: 48, numLayers: 2, resetAfter: cell == "GRU", seed: 3)
    var lstm = LSTM<Float>(inputSize: 9, hiddenSize: 48, numLayers: 2, seed: 3)
    (gru.kernels, lstm.kernels) = (kernels, kernels)
    let x = Tensor<Float>.randomNormal(shape: [40, 13, 9], seed: 4)
    let h0 = Tensor<Float>.randomNormal(shape: [2, 13, 48], seed: 5)
    let state = LSTMState(hidden: h0, cell: .randomNormal(shape: [2, 13, 48], seed: 6))
    let dY = Tensor<Float>.randomNormal(shape: [40, 13, 48], seed: 7)
    let lengths = useLengths ? [40, 3, 37, 1, 40, 12, 40, 9, 2, 40, 40, 17, 5] : nil
    /// The trace at `threads` (with `split`), then the backward at one thread: only the trace
    /// differs between the runs.
    func traced(_ threads: Int, _ split: ForwardPlan.Split) throws -> [String: Tensor<Float>] {
      let planned: ForwardPlan.Split
      let g: (input: Tensor<Float>, parameters: [String: Tensor<Float>])
      let output: Tensor<Float>
      if cell == "LSTM" {
        (lstm.threads, lstm.threadSplit) = (threads, split)
        planned = try lstm.plan(for: x, lengths: lengths).split
        let trace = try lstm.forwardWithTrace(x, initialState: state, lengths: lengths)
        lstm.threads = 1
        let gradients = try lstm.backward(trace, outputGradient: dY)
        (output, g) = (trace.output.output, (gradients.input, gradients.parameters))
      } else {
        (gru.threads, gru.threadSplit) = (threads, split)
        planned = try gru.plan(for: x, lengths: lengths).split
        let trace = try gru.forwardWithTrace(x, initialState: h0, lengths: lengths)
        gru.threads = 1
        let gradients = try gru.backward(trace, outputGradient: dY)
        (output, g) = (trace.output.output, (gradients.input, gradients.parameters))
      }
      #expect(threads == 1 || planned == .batchSlices)
      return g.parameters.merging(["output": output, "dx": g.input]) { $1 }
    }
    let (one, two) = (try traced(1, .none), try traced(2, .batchSlices))
    // The fused step does each sequence's arithmetic alike in a slice: equal to the last bit;
    // the per-step GEMMs (lengths, the reset-before GRU) of 7 or 6 rows instead of 13 may round
    // differently.
    let what = "\(cell) lengths \(useLengths)"
    let fused = !useLengths && cell != "GRU (reset before)"
    let (absolute, relative) = fused ? (0, 0) : (1e-6, 1e-4)
    for (name, value) in one {
      expectClose(value, two[name]!, absolute: absolute, relative: relative, "\(name) \(what)")
    }
  }

  /// The backward's time loop in batch slices: at 2 threads each worker carries half the
  /// sequences through every step. The same trace, backward at 1 and 2 threads, every cell
  /// (the LSTM with a projection too), with and without lengths, Double.
  @Test(
    "a backward in batch slices (2 threads) equals the 1-thread one, every cell",
    arguments: ["LSTM", "LSTM (projection)", "GRU", "GRU (reset before)", "RNN"], [false, true])
  func backwardBatchSlices(cell: String, lengths useLengths: Bool) throws {
    // B 50 over 2 slices of 25 (at least minimumSliceRows each), T 40, H 48.
    let (batch, steps, input, hidden) = (50, 40, 9, 48)
    let x = Tensor<Double>.randomNormal(shape: [steps, batch, input], seed: 4)
    let lengths = useLengths ? (0..<batch).map { [40, 3, 37, 1, 12, 40, 9, 2, 17][$0 % 9] } : nil
    func gradients(threads: Int) throws -> [String: Tensor<Double>] {
      let g: (input: Tensor<Double>, parameters: [String: Tensor<Double>])
      switch cell {
      case "LSTM", "LSTM (projection)":
        var lstm = LSTM<Double>(
          inputSize: input, hiddenSize: hidden, numLayers: 2,
          projSize: cell == "LSTM" ? 0 : 20, seed: 3)
        let trace = try lstm.forwardWithTrace(x, lengths: lengths)
        lstm.threads = threads
        let dY = Tensor<Double>.randomNormal(shape: trace.output.output.shape, seed: 7)
        let result = try lstm.backward(trace, outputGradient: dY)
        g = (result.input, result.parameters)
      case "RNN":
        var rnn = RNN<Double>(inputSize: input, hiddenSize: hidden, numLayers: 2, seed: 3)
        let trace = try rnn.forwardWithTrace(x, lengths: lengths)
        rnn.threads = threads
        let dY = Tensor<Double>.randomNormal(shape: trace.output.output.shape, seed: 7)
        let result = try rnn.backward(trace, outputGradient: dY)
        g = (result.input, result.parameters)
      default:
        var gru = GRU<Double>(
          inputSize: input, hiddenSize: hidden, numLayers: 2, resetAfter: cell == "GRU", seed: 3)
        let trace = try gru.forwardWithTrace(x, lengths: lengths)
        gru.threads = threads
        let dY = Tensor<Double>.randomNormal(shape: trace.output.output.shape, seed: 7)
        let result = try gru.backward(trace, outputGradient: dY)
        g = (result.input, result.parameters)
      }
      return g.parameters.merging(["dx": g.input]) { $1 }
    }
    let (one, two) = (try gradients(threads: 1), try gradients(threads: 2))
    for (name, value) in one {
      expectClose(
        two[name]!, value, absolute: 1e-11, relative: 1e-10, "\(cell) lengths \(useLengths) \(name)"
      )
    }
  }

  /// A Float training step at 2 threads against 1, on each vector kernel: the products over
  /// all steps split their rows (taller than wide) or columns, the per-step products their
  /// columns, the backward's time loop its batch (B 64). Where the packed GEMM runs every
  /// product the two agree to the last bit (AVX-512 on Zen 5); where the calibration keeps the
  /// BLAS's sgemm (AVX2 here), its 2-thread rounding differs.
  @Test(
    "a Float LSTM training step at 2 threads matches 1 thread on each vector kernel",
    arguments: RecurrentKernels.supported.filter { $0 != .portable && $0 != .automatic })
  func trainingThreads(kernels: RecurrentKernels) throws {
    let x = Tensor<Float>.randomNormal(shape: [20, 64, 24], seed: 4)
    func step(threads: Int) throws -> [String: Tensor<Float>] {
      var lstm = LSTM<Float>(inputSize: 24, hiddenSize: 40, numLayers: 2, seed: 3)
      (lstm.kernels, lstm.threads) = (kernels, threads)
      let trace = try lstm.forwardWithTrace(x)
      let dY = Tensor<Float>.randomNormal(shape: trace.output.output.shape, seed: 7)
      let g = try lstm.backward(trace, outputGradient: dY)
      return g.parameters.merging(["dx": g.input]) { $1 }
    }
    let (one, two) = (try step(threads: 1), try step(threads: 2))
    for (name, value) in one {
      expectClose(two[name]!, value, absolute: 1e-5, relative: 1e-4, "\(kernels) \(name)")
    }
  }

  @Test("a stale trace or a misshapen gradient throws")
  func refusals() throws {
    var gru = GRU<Float>(inputSize: 3, hiddenSize: 4, batchFirst: true)
    let x = Tensor<Float>.randomNormal(shape: [2, 5, 3], seed: 1)
    let trace = try gru.forwardWithTrace(x)
    #expect(
      throws: TrainingError.shapeMismatch(
        name: "outputGradient", expected: [2, 5, 4], actual: [2, 5, 3])
    ) { try gru.backward(trace, outputGradient: .zeros(shape: [2, 5, 3])) }
    try gru.loadStateDict(
      gru.stateDict().mapValues { Tensor(shape: $0.shape, scalars: $0.scalars) })
    #expect(throws: TrainingError.self) {
      try gru.backward(trace, outputGradient: .zeros(shape: [2, 5, 4]))
    }
  }
}
