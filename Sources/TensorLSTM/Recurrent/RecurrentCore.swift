/// What every recurrent layer type holds and does the same way: its sizes and flags, the
/// weights of each layer and direction, the kernel and thread settings, and the state-dict
/// bookkeeping. ``LSTM``, ``GRU`` and ``RNN`` each wrap one and add their cell's API.
///
/// Public only so that ``RecurrentLayer`` can reach it from its extensions; it has no public
/// members. Use the layer's properties instead.
public struct RecurrentCore<Scalar: BLASScalar>: Sendable {
  /// Sizes and cell; only ``RecurrentGeometry/reverseOnly`` changes after init (ONNX
  /// "reverse").
  var geometry: RecurrentGeometry
  let bias: Bool
  let batchFirst: Bool
  /// The LSTM's `proj_size` (0: none, and always 0 for the other cells).
  var projSize: Int { geometry.projected ? geometry.outputHiddenSize : 0 }
  var threadSplit: ForwardPlan.Split? = nil
  var threads: Int? = nil {
    didSet {
      if let threads {
        require(
          threads >= 1,
          "\(name).threads must be ≥ 1 (or nil to follow BLAS.threadCount), got \(threads)")
      }
    }
  }
  var kernels: RecurrentKernels = .automatic {
    didSet { repackWeights() }
  }
  /// The precision the forward streams the weights in (``WeightPrecision``).
  var weightPrecision: WeightPrecision = .float {
    didSet { repackWeights() }
  }

  /// Stops with a message when the weights are not Float-precision: training computes with the
  /// Float weights, so a reduced-precision forward has no trace that matches it.
  func requireTrainable(_ call: String) {
    require(
      weightPrecision == .float,
      "\(name).\(call): weightPrecision is .\(weightPrecision); training needs the Float weights: set weightPrecision = .float first (stateDict() holds them unchanged)"
    )
  }

  private mutating func repackWeights() {
    for i in weights.indices { weights[i].repack(for: kernels, precision: weightPrecision) }
  }
  /// Index `layer · D + direction`.
  private(set) var weights: [DirectionWeights<Scalar>]
  /// PyTorch's `dropout`: the probability of zeroing each output element of every layer but
  /// the last, in training mode.
  var dropout: Double
  /// The masks' generator, shared by copies of the layer.
  let masks: MaskSource

  /// The layer type's name for messages ("LSTM", "GRU", "RNN").
  var name: String { geometry.cell.layerName }

  /// Checks the hyper-parameters as PyTorch does and draws every parameter from
  /// U(−1/√H, 1/√H) (PyTorch's distribution; not its random stream).
  init(
    cell: RecurrentCell, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool,
    batchFirst: Bool, dropout: Double = 0, bidirectional: Bool, projSize: Int = 0, seed: UInt64
  ) {
    let name = cell.layerName
    require(
      dropout >= 0 && dropout <= 1, "\(name): dropout must be in [0, 1], got \(dropout)")
    self.dropout = dropout
    masks = MaskSource(seed: seed ^ 0x5eed_d509_0a7b_1e5f)
    require(
      inputSize > 0 && hiddenSize > 0 && numLayers > 0,
      "\(name): inputSize (\(inputSize)), hiddenSize (\(hiddenSize)) and numLayers (\(numLayers)) must be positive"
    )
    require(
      projSize >= 0 && projSize < hiddenSize,
      "\(name): projSize \(projSize) must be in 0..<hiddenSize (\(hiddenSize)), as in PyTorch")
    // Checked before any size arithmetic: G·H × (I or D·Hout) must be countable.
    requireCountable(
      [
        [cell.gateCount, hiddenSize, inputSize],
        [cell.gateCount, hiddenSize, bidirectional ? 2 : 1, hiddenSize],
      ],
      "\(name)(inputSize: \(inputSize), hiddenSize: \(hiddenSize))")
    geometry = RecurrentGeometry(
      cell: cell, inputSize: inputSize, hiddenSize: hiddenSize,
      outputHiddenSize: projSize > 0 ? projSize : hiddenSize, layers: numLayers,
      directions: bidirectional ? 2 : 1, projected: projSize > 0)
    (self.bias, self.batchFirst) = (bias, batchFirst)
    var generator = SeededGenerator(seed: seed)
    let bound = 1 / Scalar(hiddenSize).squareRoot()
    var weights: [DirectionWeights<Scalar>] = []
    for layer in 0..<numLayers {
      for _ in 0..<geometry.directions {
        let parameters = Self.layerShapes(geometry, layer: layer, bias: bias).map {
          Tensor<Scalar>.randomUniform(shape: $0.shape, in: -bound...bound, using: &generator)
        }
        weights.append(
          DirectionWeights(
            cell: cell, parameters: parameters, bias: bias, projected: projSize > 0,
            kernels: .automatic))
      }
    }
    self.weights = weights
  }

  /// One layer-direction's parameters in PyTorch's order, names without suffix:
  /// `weight_ih [G·H, I or D·Hout]`, `weight_hh [G·H, Hout]`, `bias_ih`, `bias_hh` `[G·H]`,
  /// and the LSTM's `weight_hr [Hout, H]`.
  static func layerShapes(_ g: RecurrentGeometry, layer: Int, bias: Bool)
    -> [(name: String, shape: [Int])]
  {
    let hOut = g.outputHiddenSize
    let layerInput = layer == 0 ? g.inputSize : g.directions * hOut
    var result: [(String, [Int])] = [
      ("weight_ih", [g.gateWidth, layerInput]), ("weight_hh", [g.gateWidth, hOut]),
    ]
    if bias { result += [("bias_ih", [g.gateWidth]), ("bias_hh", [g.gateWidth])] }
    if g.projected { result.append(("weight_hr", [hOut, g.hiddenSize])) }
    return result
  }

  /// Every parameter's PyTorch name and shape, in PyTorch's order (`weight_ih_l0`, …, then
  /// `…_l0_reverse`, then l1 …).
  var parameterShapes: [(name: String, shape: [Int])] {
    var result: [(String, [Int])] = []
    for layer in 0..<geometry.layers {
      for direction in 0..<geometry.directions {
        let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
        for entry in Self.layerShapes(geometry, layer: layer, bias: bias) {
          result.append((entry.name + suffix, entry.shape))
        }
      }
    }
    return result
  }

  func stateDict() -> [String: Tensor<Scalar>] {
    var result: [String: Tensor<Scalar>] = [:]
    let tensors = weights.flatMap(\.parameters)
    for (entry, tensor) in zip(parameterShapes, tensors) { result[entry.name] = tensor }
    return result
  }

  /// Validates every name and shape first, then replaces all weights: a failed load changes
  /// nothing.
  mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    let expected = parameterShapes
    try StateDictCheck.validate(dict, expected: expected)
    var index = 0
    var loaded: [DirectionWeights<Scalar>] = []
    for direction in weights {
      let count = direction.parameters.count
      let parameters = expected[index..<(index + count)].map { dict[$0.name]!.contiguous() }
      loaded.append(
        DirectionWeights(
          cell: geometry.cell, parameters: parameters, bias: bias,
          projected: geometry.projected,
          kernels: kernels, precision: weightPrecision))
      index += count
    }
    weights = loaded
  }

  /// Whether a forward in `training` mode applies dropout between layers.
  func dropsOut(training: Bool) -> Bool { training && dropout > 0 && geometry.layers > 1 }

  /// Layer `k` alone, as a one-layer core with no dropout: the same weights (and packed
  /// `W_hh`), settings and flags; O(1).
  func layer(_ k: Int) -> RecurrentCore {
    var single = self
    single.geometry.layers = 1
    single.geometry.inputSize =
      k == 0 ? geometry.inputSize : geometry.directions * geometry.outputHiddenSize
    let d = geometry.directions
    single.weights = Array(weights[(k * d)..<((k + 1) * d)])
    single.dropout = 0
    return single
  }

  /// The engine with these settings and weights; O(1), shares the weights.
  var engine: RecurrentForward<Scalar> {
    RecurrentForward(
      geometry: geometry, batchFirst: batchFirst, threads: threads, threadSplit: threadSplit,
      kernels: kernels, weights: weights)
  }

  /// Checks the input, lengths and `h0` of a GRU or RNN call (`[D·L, B, H]`).
  func shape(input: Tensor<Scalar>, h0: Tensor<Scalar>?, lengths: [Int]?) throws -> ForwardShape {
    let shape = try ForwardShape(
      geometry: geometry, batchFirst: batchFirst, input: input, lengths: lengths)
    if let h0 {
      try shape.checkState(
        h0, name: "initialState", width: geometry.outputHiddenSize,
        layers: geometry.layers * geometry.directions)
    }
    return shape
  }

  /// The plan of a call with `input`, without running it.
  func plan(for input: Tensor<Scalar>, lengths: [Int]?) throws -> ForwardPlan {
    let shape = try self.shape(input: input, h0: nil, lengths: lengths)
    return engine.plan(shape, input: input, hasLengths: lengths != nil)
  }

  /// A GRU or RNN forward: `h0` `[D·L, B, H]` or nil.
  func callAsFunction(_ input: Tensor<Scalar>, h0: Tensor<Scalar>?, lengths: [Int]?) throws
    -> RecurrentOutput<Scalar>
  {
    let s = try shape(input: input, h0: h0, lengths: lengths)
    let result = engine.run(s, input: input, h0: h0, c0: nil, lengths: lengths)
    return RecurrentOutput(output: result.output, hidden: result.hidden, lastStep: result.lastStep)
  }

  /// Throws the streaming error of a bidirectional layer.
  func requireStreamable() throws {
    if geometry.directions == 2 || geometry.reverseOnly {
      throw LayerError.unsupported(
        "\(name).streaming: a \(geometry.reverseOnly ? "reverse" : "bidirectional") \(name) cannot stream, because its reverse direction starts at the end of the whole sequence; call the model once on the full sequence instead"
      )
    }
  }
}

/// What a ``GRU`` or ``RNN`` forward returns: PyTorch's `output, h_n`.
///
///     let out = try gru(x)              // x: [B, T, I] with batchFirst
///     out.output                        // [B, T, D·H]
///     out.lastStep                      // [B, D·H], each sequence's last valid step
public struct RecurrentOutput<Scalar: BLASScalar>: Sendable {
  /// Every step's top-layer `h`: `[B, T, D·H]` with batchFirst, else `[T, B, D·H]` (`[T, D·H]`
  /// unbatched). Zero past a sequence's length.
  public var output: Tensor<Scalar>
  /// `h_n`: `[D·L, B, H]`, each sequence's state at its own last valid step.
  public var hidden: Tensor<Scalar>
  /// Each sequence's top-layer output at its last valid step: `[B, D·H]` (`[D·H]` unbatched);
  /// Keras' `return_sequences=False`.
  public var lastStep: Tensor<Scalar>

  /// The final state, ready to be passed as the next call's `initialState`.
  public var state: Tensor<Scalar> { hidden }
}
