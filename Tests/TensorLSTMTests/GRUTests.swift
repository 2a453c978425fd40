import TensorLSTM
import Testing

/// The cells besides the LSTM, as the tests sweep them.
enum CellKind: String, CaseIterable, Sendable {
  case gru, gruResetBefore, rnnTanh, rnnRelu
}

/// One randomized GRU or RNN configuration; the seed picks the cell (low two bits) and the
/// flags (the next five), so 128 consecutive seeds cover every combination.
struct CellCase: CustomStringConvertible, Sendable {
  var kind: CellKind
  var inputSize: Int
  var hiddenSize: Int
  var numLayers: Int
  var bias: Bool
  var batchFirst: Bool
  var bidirectional: Bool
  var batch: Int
  var steps: Int
  var unbatched: Bool
  var useLengths: Bool
  var useInitialState: Bool
  var seed: UInt64

  init(seed: Int) {
    var random = TestRandom(seed: UInt64(seed) &* 104_729)
    let bit = { (k: Int) in seed >> k & 1 == 1 }
    kind = CellKind.allCases[seed & 3]
    bidirectional = bit(2)
    bias = !bit(3)
    batchFirst = bit(4)
    useLengths = bit(5)
    useInitialState = bit(6)
    // Some hidden sizes past a vector (8, 16 lanes) with masked tails.
    hiddenSize = seed % 9 == 0 ? 1 : (seed % 5 == 1 ? random.int(17...40) : random.int(2...13))
    inputSize = random.int(1...9)
    numLayers = random.int(1...3)
    unbatched = seed % 7 == 3
    batch = unbatched ? 1 : (seed % 5 == 0 ? 1 : random.int(2...9))
    steps = random.int(1...7)
    self.seed = UInt64(seed)
  }

  var description: String {
    "\(kind) I\(inputSize) H\(hiddenSize) L\(numLayers) bias:\(bias) batchFirst:\(batchFirst) bi:\(bidirectional) B\(batch) T\(steps) unbatched:\(unbatched) lengths:\(useLengths) h0:\(useInitialState)"
  }

  /// The fast and the naive result of this case with `kernels` and `threads`.
  func results<S: BLASScalar>(
    _: S.Type, kernels: RecurrentKernels = .automatic, threads: Int = 1,
    split: ForwardPlan.Split? = nil
  ) throws -> (fast: RecurrentOutput<S>, slow: RecurrentOutput<S>, context: String) {
    var random = TestRandom(seed: seed)
    let shape =
      unbatched
      ? [steps, inputSize] : (batchFirst ? [batch, steps, inputSize] : [steps, batch, inputSize])
    let x: Tensor<S> = random.tensor(shape)
    let rows = numLayers * (bidirectional ? 2 : 1)
    let h0: Tensor<S>? =
      useInitialState ? random.tensor([rows] + (unbatched ? [] : [batch]) + [hiddenSize]) : nil
    let lengths = useLengths ? (0..<batch).map { _ in random.int(1...steps) } : nil
    let context = "\(self) kernels \(kernels) threads \(threads) lengths \(lengths ?? [])"
    switch kind {
    case .gru, .gruResetBefore:
      var model = GRU<S>(
        inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
        batchFirst: batchFirst, bidirectional: bidirectional, resetAfter: kind == .gru,
        seed: seed)
      (model.kernels, model.threads, model.threadSplit) = (kernels, threads, split)
      return (
        try model(x, initialState: h0, lengths: lengths),
        try Naive.gru(model, x, initialState: h0, lengths: lengths), context
      )
    case .rnnTanh, .rnnRelu:
      var model = RNN<S>(
        inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers,
        nonlinearity: kind == .rnnRelu ? .relu : .tanh, bias: bias, batchFirst: batchFirst,
        bidirectional: bidirectional, seed: seed)
      (model.kernels, model.threads, model.threadSplit) = (kernels, threads, split)
      return (
        try model(x, initialState: h0, lengths: lengths),
        try Naive.rnn(model, x, initialState: h0, lengths: lengths), context
      )
    }
  }

  static func expectMatch<S: BLASScalar>(
    _ r: (fast: RecurrentOutput<S>, slow: RecurrentOutput<S>, context: String),
    relative: Double, absolute: Double
  ) {
    expectClose(
      r.fast.output, r.slow.output, absolute: absolute, relative: relative, "output \(r.context)")
    expectClose(
      r.fast.hidden, r.slow.hidden, absolute: absolute, relative: relative, "hidden \(r.context)")
    expectClose(
      r.fast.lastStep, r.slow.lastStep, absolute: absolute, relative: relative,
      "lastStep \(r.context)")
  }
}

@Suite("GRU and RNN: BLAS path vs naive oracle")
struct GRUTests {
  @Test(
    "Float, every kernel the CPU runs, matches the oracle within 1e-5",
    arguments: (0..<128).map(CellCase.init(seed:)))
  func float(c: CellCase) throws {
    for kernels in RecurrentKernels.supported {
      CellCase.expectMatch(
        try c.results(Float.self, kernels: kernels), relative: 1e-5, absolute: 1e-5)
    }
  }

  @Test(
    "Double matches the oracle within 1e-12 relative, 1e-13 absolute",
    arguments: (0..<64).map(CellCase.init(seed:)))
  func double(c: CellCase) throws {
    CellCase.expectMatch(try c.results(Double.self), relative: 1e-12, absolute: 1e-13)
  }

  /// Both splits and every kernel, on shapes where each split is possible (H ≥ 64 for the
  /// gate-column split, 8+ sequences for slices). The budget is per model: nothing global.
  @Test(
    "two threads: gate-column split and batch slices give the one-thread results",
    arguments: CellKind.allCases)
  func threads(kind: CellKind) throws {
    for (split, batch, hidden) in [
      (ForwardPlan.Split.hiddenUnits, 3, 72), (.hiddenUnits, 1, 64), (.batchSlices, 9, 20),
    ] {
      var c = CellCase(seed: 4)
      (c.kind, c.batch, c.hiddenSize, c.steps, c.unbatched) = (kind, batch, hidden, 20, false)
      (c.useLengths, c.numLayers, c.bidirectional) = (split == .batchSlices, 2, true)
      for kernels in RecurrentKernels.supported {
        CellCase.expectMatch(
          try c.results(Float.self, kernels: kernels, threads: 2, split: split), relative: 1e-4,
          absolute: 2e-5)
      }
    }
  }

  @Test("the reset placements are different functions, and resetAfter says which")
  func placements() throws {
    var after = GRU<Double>(inputSize: 3, hiddenSize: 5, seed: 1)
    var before = GRU<Double>(inputSize: 3, hiddenSize: 5, resetAfter: false, seed: 1)
    #expect(after.resetAfter && !before.resetAfter)
    // Same weights, non-zero b_hn: only the placement of r differs.
    let dict = after.stateDict()
    try before.loadStateDict(dict)
    try after.loadStateDict(dict)
    let x = Tensor<Double>.randomNormal(shape: [6, 2, 3], seed: 2)
    let h0 = Tensor<Double>.randomNormal(shape: [1, 2, 5], seed: 3)
    let a = try after(x, initialState: h0).output.scalars
    let b = try before(x, initialState: h0).output.scalars
    let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    #expect(difference > 1e-3, "the two placements agree to \(difference)")
  }

  @Test("streaming in chunks equals one call; bidirectional streaming throws")
  func streaming() throws {
    let gru = GRU<Float>(inputSize: 4, hiddenSize: 24, numLayers: 2, batchFirst: true, seed: 3)
    let rnn = RNN<Float>(inputSize: 4, hiddenSize: 24, nonlinearity: .relu, batchFirst: true)
    let x = Tensor<Float>.randomNormal(shape: [3, 10, 4], seed: 4)
    for run in [
      { (x: Tensor<Float>, s: Tensor<Float>?) in try gru.streaming(x, state: s) },
      { (x: Tensor<Float>, s: Tensor<Float>?) in try rnn.streaming(x, state: s) },
    ] {
      let whole = try run(x, nil)
      var state: Tensor<Float>? = nil
      for range in [0..<3, 3..<4, 4..<10] {
        let out = try run(x.sliced(axis: 1, range: range), state)
        expectClose(
          out.output, whole.output.sliced(axis: 1, range: range).contiguous(), absolute: 1e-6)
        state = out.state
      }
      expectClose(state!, whole.hidden, absolute: 1e-6)
    }
    let bi = GRU<Float>(inputSize: 4, hiddenSize: 3, bidirectional: true)
    #expect(throws: LayerError.self) { try bi.streaming(x.permuted([1, 0, 2]), state: nil) }
  }

  @Test("bad input throws, naming expected and actual, and changes nothing")
  func errors() throws {
    var gru = GRU<Float>(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true)
    let x = Tensor<Float>.zeros(shape: [2, 5, 3])
    #expect(
      throws: LayerError.shapeMismatch(
        name: "initialState", expected: [2, 2, 4], actual: [1, 2, 4])
    ) { try gru(x, initialState: Tensor<Float>.zeros(shape: [1, 2, 4])) }
    #expect(
      throws: LayerError.shapeMismatch(name: "input", expected: [2, 5, 3], actual: [2, 5, 4])
    ) { try gru(Tensor<Float>.zeros(shape: [2, 5, 4])) }
    #expect(throws: LayerError.self) { try gru(x, lengths: [6, 1]) }
    let before = gru.stateDict()
    var bad = before
    bad["weight_hh_l1"] = Tensor<Float>.zeros(shape: [12, 5])
    #expect(
      throws: LayerError.shapeMismatch(name: "weight_hh_l1", expected: [12, 4], actual: [12, 5])
    ) { try gru.loadStateDict(bad) }
    for (name, tensor) in gru.stateDict() { #expect(tensor.scalars == before[name]!.scalars) }
  }

  @Test("parameter names and shapes are PyTorch's")
  func parameterShapes() {
    let gru = GRU<Float>(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true)
    #expect(
      gru.parameterShapes.map(\.name).prefix(5) == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse",
      ])
    #expect(gru.parameterShapes.first { $0.name == "weight_ih_l1" }!.shape == [12, 8])
    let rnn = RNN<Float>(inputSize: 3, hiddenSize: 4, bias: false)
    #expect(rnn.parameterShapes.map(\.shape) == [[4, 3], [4, 4]])
  }
}
