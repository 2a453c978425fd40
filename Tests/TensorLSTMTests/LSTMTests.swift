import TensorLSTM
import Testing

/// One randomized LSTM configuration; the seed's low bits pick the flags so that 64
/// consecutive seeds cover every combination of six of them.
struct LSTMCase: CustomStringConvertible, Sendable {
  var inputSize: Int
  var hiddenSize: Int
  var numLayers: Int
  var bias: Bool
  var batchFirst: Bool
  var bidirectional: Bool
  var projSize: Int
  var batch: Int
  var steps: Int
  var unbatched: Bool
  var useLengths: Bool
  var useInitialState: Bool
  var stridedInput: Bool
  var seed: UInt64

  init(seed: Int) {
    var random = TestRandom(seed: UInt64(seed) &* 7919)
    let bit = { (k: Int) in seed >> k & 1 == 1 }
    bidirectional = bit(0)
    bias = !bit(1)
    batchFirst = bit(2)
    useLengths = bit(3)
    useInitialState = bit(4)
    hiddenSize = seed % 11 == 0 ? 1 : random.int(2...13)
    projSize = bit(5) && hiddenSize > 1 ? random.int(1...(hiddenSize - 1)) : 0
    inputSize = random.int(1...9)
    numLayers = random.int(1...3)
    unbatched = seed % 7 == 3
    batch = unbatched ? 1 : (seed % 5 == 0 ? 1 : random.int(2...5))
    steps = random.int(1...7)
    stridedInput = random.bool()
    self.seed = UInt64(seed)
  }

  var description: String {
    "I\(inputSize) H\(hiddenSize) L\(numLayers) bias:\(bias) batchFirst:\(batchFirst) bi:\(bidirectional) proj:\(projSize) B\(batch) T\(steps) unbatched:\(unbatched) lengths:\(useLengths) h0:\(useInitialState) strided:\(stridedInput)"
  }

  func model<S: BLASScalar>(_: S.Type) -> LSTM<S> {
    LSTM<S>(
      inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
      batchFirst: batchFirst, bidirectional: bidirectional, projSize: projSize, seed: seed)
  }

  /// The input, possibly as a strided view holding the same logical values.
  func input<S: BLASScalar>(_: S.Type, _ random: inout TestRandom) -> Tensor<S> {
    if unbatched { return random.tensor([steps, inputSize]) }
    let shape = batchFirst ? [batch, steps, inputSize] : [steps, batch, inputSize]
    guard stridedInput else { return random.tensor(shape) }
    // The other time/batch order, permuted back: a non-contiguous view of the same shape.
    let swapped: Tensor<S> = random.tensor([shape[1], shape[0], inputSize])
    return swapped.permuted([1, 0, 2])
  }
}

@Suite("LSTM: BLAS path vs naive oracle")
struct LSTMTests {
  static func run<S: BLASScalar>(
    _ c: LSTMCase, _: S.Type, tolerance: Double, absolute: Double? = nil
  ) throws {
    var random = TestRandom(seed: c.seed)
    let model = c.model(S.self)
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
    let fast = try model(x, initialState: state, lengths: lengths)
    let slow = try Naive.lstm(model, x, initialState: state, lengths: lengths)
    let context = "\(c) lengths \(lengths ?? [])"
    let a = absolute ?? tolerance
    expectClose(fast.output, slow.output, absolute: a, relative: tolerance, "output \(context)")
    expectClose(fast.hidden, slow.hidden, absolute: a, relative: tolerance, "hidden \(context)")
    expectClose(fast.cell, slow.cell, absolute: a, relative: tolerance, "cell \(context)")
    expectClose(
      fast.lastStep, slow.lastStep, absolute: a, relative: tolerance, "lastStep \(context)")
  }

  @Test("Float matches the oracle within 1e-5", arguments: (0..<96).map(LSTMCase.init(seed:)))
  func float(c: LSTMCase) throws { try Self.run(c, Float.self, tolerance: 1e-5) }

  /// Double models use the precise activations: double precision, not the Float rational's
  /// ~1e-7 (issue 13: 5.3e-8 before, on a 2-layer 16 → 32 LSTM over 50 steps).
  @Test(
    "Double matches the oracle within 1e-12 relative, 1e-13 absolute",
    arguments: (0..<64).map(LSTMCase.init(seed:)))
  func double(c: LSTMCase) throws {
    try Self.run(c, Double.self, tolerance: 1e-12, absolute: 1e-13)
  }

  // (40, 300, 64) takes three chunks, so its batch-first input rows are gathered per chunk.
  @Test(
    "long sequences and gate-buffer chunking",
    arguments: [(1, 300, 16), (40, 120, 32), (40, 300, 64)])
  func chunked(batch: Int, steps: Int, hidden: Int) throws {
    let model = LSTM<Float>(
      inputSize: 8, hiddenSize: hidden, numLayers: 2, batchFirst: true, bidirectional: true,
      seed: 5)
    let x = Tensor<Float>.randomNormal(shape: [batch, steps, 8], seed: 6)
    let lengths = (0..<batch).map { max(1, steps - 7 * $0) }
    let fast = try model(x, lengths: lengths)
    let slow = try Naive.lstm(model, x, lengths: lengths)
    expectClose(fast.output, slow.output, absolute: 2e-5, relative: 1e-4)
    expectClose(fast.hidden, slow.hidden, absolute: 2e-5, relative: 1e-4)
    expectClose(fast.cell, slow.cell, absolute: 2e-5, relative: 1e-4)
  }
}

@Suite("LSTM: the article's last step")
struct LSTMLastStepTests {
  @Test("unpadded unidirectional: lastStep == output[:, -1, :] == hidden[-1]")
  func unpadded() throws {
    let model = LSTM<Float>(inputSize: 6, hiddenSize: 5, numLayers: 2, batchFirst: true, seed: 2)
    let x = Tensor<Float>.randomNormal(shape: [4, 7, 6], seed: 3)
    let out = try model(x)
    #expect(out.lastStep.scalars == out.output.selected(axis: 1, index: -1).scalars)
    #expect(out.lastStep.scalars == out.hidden[-1].scalars)
    #expect(out.output.selected(axis: 1, index: -1).sharesStorage(with: out.output))
  }

  @Test("padded: lastStep picks each sequence's own last step, not the padding")
  func padded() throws {
    let model = LSTM<Float>(inputSize: 3, hiddenSize: 4, batchFirst: true, seed: 4)
    let x = Tensor<Float>.randomNormal(shape: [3, 6, 3], seed: 5)
    let lengths = [6, 2, 4]
    let out = try model(x, lengths: lengths)
    for (b, length) in lengths.enumerated() {
      #expect(out.lastStep[b].scalars == out.output[b, length - 1].scalars)
      for t in length..<6 { #expect(out.output[b, t].scalars.allSatisfy { $0 == 0 }) }
    }
    // output[:, -1, :] is padding (zeros) for the shorter sequences.
    #expect(out.output[.all, -1][1].scalars.allSatisfy { $0 == 0 })
    #expect(out.lastStep[1].scalars.contains { $0 != 0 })
  }

  @Test("padded input equals the same sequences run one by one, unpadded")
  func paddedEqualsSeparate() throws {
    let model = LSTM<Double>(
      inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, bidirectional: true, seed: 8)
    let x = Tensor<Double>.randomNormal(shape: [3, 5, 3], seed: 9)
    let lengths = [2, 5, 3]
    let out = try model(x, lengths: lengths)
    for (b, length) in lengths.enumerated() {
      let alone = try model(x[.range(b..<(b + 1)), .range(0..<length)])
      expectClose(
        out.output[.range(b..<(b + 1)), .range(0..<length)].contiguous(), alone.output,
        absolute: 1e-12)
      expectClose(out.hidden[.all, .range(b..<(b + 1))].contiguous(), alone.hidden, absolute: 1e-12)
      expectClose(out.cell[.all, .range(b..<(b + 1))].contiguous(), alone.cell, absolute: 1e-12)
    }
  }
}

@Suite("LSTM: bad input throws, and the model stays usable")
struct LSTMErrorTests {
  static let model = LSTM<Float>(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true)

  @Test func wrongRank() {
    #expect(
      throws: LayerError.rankMismatch(
        name: "input", expected: "[B, T, 3] or unbatched [T, 3]", actual: [2, 3, 4, 3])
    ) { try Self.model(Tensor<Float>.zeros(shape: [2, 3, 4, 3])) }
  }

  @Test func wrongFeatureSize() {
    #expect(
      throws: LayerError.shapeMismatch(name: "input", expected: [2, 5, 3], actual: [2, 5, 4])
    ) {
      try Self.model(Tensor<Float>.zeros(shape: [2, 5, 4]))
    }
  }

  @Test func wrongInitialState() {
    let state = LSTMState(
      hidden: Tensor<Float>.zeros(shape: [2, 3, 4]), cell: Tensor<Float>.zeros(shape: [2, 2, 4]))
    #expect(
      throws: LayerError.shapeMismatch(
        name: "initialState.hidden", expected: [2, 2, 4], actual: [2, 3, 4])
    ) { try Self.model(Tensor<Float>.zeros(shape: [2, 5, 3]), initialState: state) }
  }

  @Test func badLengths() throws {
    let x = Tensor<Float>.randomNormal(shape: [2, 5, 3], seed: 1)
    #expect(throws: LayerError.self) { try Self.model(x, lengths: [5]) }
    #expect(throws: LayerError.self) { try Self.model(x, lengths: [5, 0]) }
    #expect(throws: LayerError.self) { try Self.model(x, lengths: [6, 1]) }
    // Still usable, and unchanged.
    let a = try Self.model(x)
    let b = try Naive.lstm(Self.model, x)
    expectClose(a.output, b.output)
  }

  @Test func stateDictErrorsLeaveTheModelUntouched() throws {
    var model = Self.model
    let before = model.stateDict()
    var dict = before
    dict["weight_hh_l1"] = Tensor<Float>.zeros(shape: [16, 5])
    #expect(
      throws: LayerError.shapeMismatch(name: "weight_hh_l1", expected: [16, 4], actual: [16, 5])
    ) { try model.loadStateDict(dict) }
    dict = before
    dict["bias_ih_l0"] = nil
    #expect(throws: LayerError.missingKey("bias_ih_l0", expected: [16])) {
      try model.loadStateDict(dict)
    }
    dict = before
    dict["weight_hr_l0"] = Tensor<Float>.zeros(shape: [2, 4])
    #expect(throws: LayerError.unexpectedKey("weight_hr_l0", actual: [2, 4])) {
      try model.loadStateDict(dict)
    }
    for (key, value) in model.stateDict() { #expect(value.scalars == before[key]!.scalars) }
  }

  @Test func stateDictRoundTrip() throws {
    let source = LSTM<Float>(inputSize: 3, hiddenSize: 6, bidirectional: true, projSize: 2, seed: 3)
    var target = LSTM<Float>(inputSize: 3, hiddenSize: 6, bidirectional: true, projSize: 2, seed: 4)
    let names = source.parameterShapes.map(\.name)
    #expect(
      names == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
        "bias_hh_l0_reverse", "weight_hr_l0_reverse",
      ])
    try target.loadStateDict(source.stateDict())
    let x = Tensor<Float>.randomNormal(shape: [5, 2, 3], seed: 1)
    #expect(try target(x).output.scalars == source(x).output.scalars)
  }
}

@Suite("LSTM: concurrency")
struct LSTMConcurrencyTests {
  @Test("many tasks calling one model get the serial results")
  func concurrentCalls() async throws {
    let model = LSTM<Float>(inputSize: 8, hiddenSize: 16, numLayers: 2, batchFirst: true, seed: 1)
    let inputs = (0..<16).map { Tensor<Float>.randomNormal(shape: [3, 12, 8], seed: UInt64($0)) }
    let serial = try inputs.map { try model($0).output.scalars }
    let parallel = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
      for (i, x) in inputs.enumerated() {
        group.addTask { (i, try model(x).output.scalars) }
      }
      var result = [[Float]](repeating: [], count: inputs.count)
      for try await (i, values) in group { result[i] = values }
      return result
    }
    #expect(parallel == serial)
  }
}
