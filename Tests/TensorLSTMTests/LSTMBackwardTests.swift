import TensorLSTM
import Testing

/// The LSTM backward against the naive scalar BPTT (every flag), finite differences in Double,
/// and its refusals.
@Suite("LSTM backward: BLAS path vs naive oracle and finite differences")
struct LSTMBackwardTests {
  /// A random case's forward trace, loss gradients and both backwards.
  static func run<S: BLASScalar>(
    _ c: LSTMCase, _: S.Type, kernels: RecurrentKernels = .automatic
  ) throws -> (
    fast: LSTMGradients<S>, slow: LSTMGradients<S>, context: String
  ) {
    var random = TestRandom(seed: c.seed &+ 99)
    var model = c.model(S.self)
    model.kernels = kernels
    let x = c.input(S.self, &random)
    let rows = c.numLayers * (c.bidirectional ? 2 : 1)
    let hOut = c.projSize > 0 ? c.projSize : c.hiddenSize
    let batchAxis = c.unbatched ? [] : [c.batch]
    let state: LSTMState<S>? =
      c.useInitialState
      ? LSTMState(
        hidden: random.tensor([rows] + batchAxis + [hOut]),
        cell: random.tensor([rows] + batchAxis + [c.hiddenSize])) : nil
    let lengths = c.useLengths ? (0..<c.batch).map { _ in random.int(1...c.steps) } : nil
    let trace = try model.forwardWithTrace(x, initialState: state, lengths: lengths)
    let plain = try model(x, initialState: state, lengths: lengths)
    expectClose(trace.output.output, plain.output, absolute: 1e-5, relative: 1e-4, "trace output")
    let dY: Tensor<S> = random.tensor(trace.output.output.shape)
    let dHn: Tensor<S>? = c.seed % 3 == 0 ? random.tensor(trace.output.hidden.shape) : nil
    let dCn: Tensor<S>? = c.seed % 2 == 0 ? random.tensor(trace.output.cell.shape) : nil
    let fast = try model.backward(
      trace, outputGradient: dY, hiddenGradient: dHn, cellGradient: dCn)
    let slow = try Naive.lstmBackward(
      model, x, initialState: state, lengths: lengths, outputGradient: dY, hiddenGradient: dHn,
      cellGradient: dCn)
    return (
      fast, slow,
      "\(c) kernels \(kernels) lengths \(lengths ?? []) dHn \(dHn != nil) dCn \(dCn != nil)"
    )
  }

  static func compare<S: BLASScalar>(
    _ r: (fast: LSTMGradients<S>, slow: LSTMGradients<S>, context: String), absolute: Double,
    relative: Double
  ) {
    expectClose(
      r.fast.input, r.slow.input, absolute: absolute, relative: relative, "dx \(r.context)")
    #expect((r.fast.initialState == nil) == (r.slow.initialState == nil), "\(r.context)")
    if let a = r.fast.initialState, let b = r.slow.initialState {
      expectClose(a.hidden, b.hidden, absolute: absolute, relative: relative, "dh0 \(r.context)")
      expectClose(a.cell, b.cell, absolute: absolute, relative: relative, "dc0 \(r.context)")
    }
    #expect(Set(r.fast.parameters.keys) == Set(r.slow.parameters.keys), "\(r.context)")
    for (name, expected) in r.slow.parameters {
      guard let actual = r.fast.parameters[name] else { continue }
      expectClose(actual, expected, absolute: absolute, relative: relative, "\(name) \(r.context)")
    }
  }

  @Test(
    "Float gradients match the oracle within 1e-4 (every flag: layers, bidirectional, projSize, no bias, batchFirst, unbatched, lengths, initial state, strided input)",
    arguments: (0..<96).map(LSTMCase.init(seed:)))
  func float(c: LSTMCase) throws {
    Self.compare(try Self.run(c, Float.self), absolute: 2e-5, relative: 1e-4)
  }

  @Test(
    "Double gradients match the oracle within 1e-11 (the cases spread over every kernel)",
    arguments: (0..<64).map(LSTMCase.init(seed:)))
  func double(c: LSTMCase) throws {
    let kernels = RecurrentKernels.supported[Int(c.seed) % RecurrentKernels.supported.count]
    Self.compare(
      try Self.run(c, Double.self, kernels: kernels), absolute: 1e-12, relative: 1e-11)
  }

  /// Central differences of L = Σ output ⊙ R + Σ h_n ⊙ S + Σ c_n ⊙ U on the BLAS forward.
  @Test(
    "Double gradients equal central finite differences of the BLAS forward",
    arguments: [3, 12, 21, 46, 57])
  func finiteDifferences(seed: Int) throws {
    var c = LSTMCase(seed: seed)
    c.useInitialState = true
    var random = TestRandom(seed: 5)
    var model = c.model(Double.self)
    let x: Tensor<Double> = c.input(Double.self, &random).contiguous()
    let rows = c.numLayers * (c.bidirectional ? 2 : 1)
    let hOut = c.projSize > 0 ? c.projSize : c.hiddenSize
    let batchAxis = c.unbatched ? [] : [c.batch]
    let state = LSTMState<Double>(
      hidden: random.tensor([rows] + batchAxis + [hOut]),
      cell: random.tensor([rows] + batchAxis + [c.hiddenSize]))
    let lengths = c.useLengths ? (0..<c.batch).map { _ in random.int(1...c.steps) } : nil
    let out = try model(x, initialState: state, lengths: lengths)
    let (r, s, u): (Tensor<Double>, Tensor<Double>, Tensor<Double>) = (
      random.tensor(out.output.shape), random.tensor(out.hidden.shape),
      random.tensor(out.cell.shape)
    )
    func loss(_ m: LSTM<Double>, _ x: Tensor<Double>, _ state: LSTMState<Double>) throws -> Double {
      let o = try m(x, initialState: state, lengths: lengths)
      return zip(o.output.scalars, r.scalars).map(*).reduce(0, +)
        + zip(o.hidden.scalars, s.scalars).map(*).reduce(0, +)
        + zip(o.cell.scalars, u.scalars).map(*).reduce(0, +)
    }
    let trace = try model.forwardWithTrace(x, initialState: state, lengths: lengths)
    let g = try model.backward(trace, outputGradient: r, hiddenGradient: s, cellGradient: u)
    let epsilon = 1e-6
    func numeric(_ perturb: (Double) throws -> Double) rethrows -> Double {
      (try perturb(epsilon) - perturb(-epsilon)) / (2 * epsilon)
    }
    // Every parameter: a few entries each.
    let dict = model.stateDict()
    for (name, tensor) in dict {
      for k in Set([0, tensor.count / 2, tensor.count - 1]) {
        let estimate = try numeric { e in
          var d = dict
          var scalars = tensor.scalars
          scalars[k] += e
          d[name] = Tensor(shape: tensor.shape, scalars: scalars)
          try model.loadStateDict(d)
          return try loss(model, x, state)
        }
        let analytic = g.parameters[name]!.scalars[k]
        #expect(
          abs(estimate - analytic) <= 1e-6 + 1e-5 * abs(analytic),
          "\(name)[\(k)] \(c): \(estimate) vs \(analytic)")
      }
    }
    try model.loadStateDict(dict)
    for k in Set([0, x.count / 3, x.count - 1]) {
      let estimate = try numeric { e in
        var scalars = x.scalars
        scalars[k] += e
        return try loss(model, Tensor(shape: x.shape, scalars: scalars), state)
      }
      let analytic = g.input.scalars[k]
      #expect(abs(estimate - analytic) <= 1e-6 + 1e-5 * abs(analytic), "x[\(k)] \(c)")
    }
    for k in Set([0, state.cell.count - 1]) {
      let estimate = try numeric { e in
        var scalars = state.cell.scalars
        scalars[k] += e
        return try loss(
          model, x,
          LSTMState(hidden: state.hidden, cell: Tensor(shape: state.cell.shape, scalars: scalars)))
      }
      let analytic = g.initialState!.cell.scalars[k]
      #expect(abs(estimate - analytic) <= 1e-6 + 1e-5 * abs(analytic), "c0[\(k)] \(c)")
    }
  }

  @Test("a trace from other weights, or gradients of the wrong shape, throw and compute nothing")
  func refusals() throws {
    var lstm = LSTM<Float>(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true)
    let x = Tensor<Float>.randomNormal(shape: [2, 5, 3], seed: 1)
    let trace = try lstm.forwardWithTrace(x)
    #expect(
      throws: TrainingError.shapeMismatch(
        name: "outputGradient", expected: [2, 5, 4], actual: [2, 5, 3])
    ) { try lstm.backward(trace, outputGradient: .zeros(shape: [2, 5, 3])) }
    #expect(
      throws: TrainingError.shapeMismatch(
        name: "hiddenGradient", expected: [2, 2, 4], actual: [1, 2, 4])
    ) {
      try lstm.backward(
        trace, outputGradient: .zeros(shape: [2, 5, 4]), hiddenGradient: .zeros(shape: [1, 2, 4]))
    }
    try lstm.loadStateDict(
      lstm.stateDict().mapValues { Tensor(shape: $0.shape, scalars: $0.scalars) })
    #expect(throws: TrainingError.self) {
      try lstm.backward(trace, outputGradient: .zeros(shape: [2, 5, 4]))
    }
  }

  @Test(
    "a bidirectional trace and backward with 2 threads (the directions at once) equal the 1-thread ones",
    arguments: RecurrentKernels.supported, [false, true])
  func concurrentDirections(kernels: RecurrentKernels, lengths useLengths: Bool) throws {
    var lstm = LSTM<Float>(
      inputSize: 7, hiddenSize: 24, numLayers: 2, bidirectional: true, projSize: 0, seed: 9)
    lstm.kernels = kernels
    let x = Tensor<Float>.randomNormal(shape: [12, 5, 7], seed: 10)
    let dY = Tensor<Float>.randomNormal(shape: [12, 5, 48], seed: 11)
    var results: [(Tensor<Float>, LSTMGradients<Float>)] = []
    let lengths = useLengths ? [12, 3, 7, 1, 12] : nil
    for threads in [1, 2] {
      lstm.threads = threads
      let trace = try lstm.forwardWithTrace(x, lengths: lengths)
      results.append((trace.output.output, try lstm.backward(trace, outputGradient: dY)))
    }
    // Bit for bit where the library's GEMMs run; the BLAS's sgemm (where the calibration
    // picks it, e.g. under a sanitizer) rounds differently at 1 and 2 threads.
    let (absolute, relative) = (1e-6, 1e-5)
    expectClose(results[0].0, results[1].0, absolute: absolute, relative: relative, "\(kernels)")
    expectClose(
      results[0].1.input, results[1].1.input, absolute: absolute, relative: relative, "dx")
    for (name, value) in results[0].1.parameters {
      expectClose(
        value, results[1].1.parameters[name]!, absolute: absolute, relative: relative,
        "\(name) \(kernels)")
    }
  }

  @Test(
    "a one-direction trace and backward with the hidden units split between 2 threads equal the 1-thread ones",
    arguments: RecurrentKernels.supported, [1, 3])
  func splitUnits(kernels: RecurrentKernels, batch: Int) throws {
    // H 80: the second worker's share (units 48..<80 on AVX-512, 48 on AVX2) is not a whole
    // panel; two layers, so the second reads the first's split output.
    var lstm = LSTM<Double>(inputSize: 7, hiddenSize: 80, numLayers: 2, seed: 9)
    lstm.kernels = kernels
    let x = Tensor<Double>.randomNormal(shape: [30, batch, 7], seed: 10)
    let state = LSTMState<Double>(
      hidden: .randomNormal(shape: [2, batch, 80], seed: 12),
      cell: .randomNormal(shape: [2, batch, 80], seed: 13))
    let dY = Tensor<Double>.randomNormal(shape: [30, batch, 80], seed: 11)
    let dHn = Tensor<Double>.randomNormal(shape: [2, batch, 80], seed: 14)
    var results: [(LSTMTrace<Double>, LSTMGradients<Double>)] = []
    for (threads, split) in [(1, ForwardPlan.Split.none), (2, .hiddenUnits)] {
      lstm.threads = threads
      lstm.threadSplit = split
      let trace = try lstm.forwardWithTrace(x, initialState: state)
      results.append(
        (trace, try lstm.backward(trace, outputGradient: dY, hiddenGradient: dHn)))
    }
    #expect(try lstm.plan(for: x).split == .hiddenUnits, "the forward's plan splits the units")
    // The split runs the same arithmetic per unit, in the same order: equal to the last bit
    // but for the GEMMs over all steps, which may split differently at 2 threads.
    let (absolute, relative) = (1e-12, 1e-11)
    let what = "\(kernels) B \(batch)"
    expectClose(results[0].0.output.output, results[1].0.output.output, absolute: 0, what)
    expectClose(results[0].0.output.cell, results[1].0.output.cell, absolute: 0, "c_n \(what)")
    let (one, two) = (results[0].1, results[1].1)
    expectClose(one.input, two.input, absolute: absolute, relative: relative, "dx \(what)")
    expectClose(
      one.initialState!.hidden, two.initialState!.hidden, absolute: absolute, relative: relative,
      "dh0 \(what)")
    expectClose(
      one.initialState!.cell, two.initialState!.cell, absolute: absolute, relative: relative,
      "dc0 \(what)")
    for (name, value) in one.parameters {
      expectClose(
        value, two.parameters[name]!, absolute: absolute, relative: relative, "\(name) \(what)")
    }
  }

  @Test("the article's heads: gradients written through views reach only their positions")
  func heads() throws {
    let lstm = LSTM<Double>(inputSize: 3, hiddenSize: 4, batchFirst: true, seed: 2)
    let x = Tensor<Double>.randomNormal(shape: [2, 5, 3], seed: 3)
    let trace = try lstm.forwardWithTrace(x)
    let head = Tensor<Double>.randomNormal(shape: [2, 4], seed: 4)
    var dY = Tensor<Double>.zeros(shape: [2, 5, 4])
    dY[.all, -1, .all] = head
    #expect(dY[.all, -1].scalars == head.scalars)
    #expect(dY[.all, .range(0..<4)].scalars.allSatisfy { $0 == 0 })
    // The last-step head through dY equals the same gradient entering as dh_n.
    let viaOutput = try lstm.backward(trace, outputGradient: dY)
    let viaHidden = try lstm.backward(
      trace, outputGradient: .zeros(shape: [2, 5, 4]), hiddenGradient: head.unsqueezed(axis: 0))
    expectClose(viaOutput.input, viaHidden.input, absolute: 1e-14)
    for (name, t) in viaOutput.parameters {
      expectClose(t, viaHidden.parameters[name]!, absolute: 1e-14, name)
    }
  }
}
