/// A multi-layer LSTM with PyTorch's `nn.LSTM` constructor, parameter names, shapes and results.
///
///     let lstm = LSTM<Float>(inputSize: 128, hiddenSize: 64, batchFirst: true)
///     let out = try lstm(x)            // x: [B, T, 128]
///     out.output                        // [B, T, 64]
///     out.output.selected(axis: 1, index: -1)   // [B, 64], the article's output[:, -1, :]
///
/// Gates are ordered i, f, g, o as in PyTorch. Parameters are initialised from
/// U(−1/√H, 1/√H) with a seedable generator (PyTorch's distribution; not its random stream).
/// A forward allocates its result and work buffers once and computes on the BLAS path (see
/// `LSTM+Forward.swift`). The model is a value: `Sendable`, safe to call from many tasks.
public struct LSTM<Scalar: BLASScalar>: Sendable {
  /// Features per input step, `I`.
  public let inputSize: Int
  /// Units per cell state, `H`.
  public let hiddenSize: Int
  /// Stacked layers, `L`.
  public let numLayers: Int
  /// Whether the layer has `bias_ih` and `bias_hh`.
  public let bias: Bool
  /// Whether input and output are `[B, T, ·]` rather than `[T, B, ·]`.
  public let batchFirst: Bool
  /// Whether each layer also reads the sequence backwards (`D = 2`).
  public let bidirectional: Bool
  /// Size of the projected hidden state `Hout` when > 0 (PyTorch's `proj_size`); 0 means none.
  public let projSize: Int

  /// How a forward divides its work between threads, overriding the plan's choice: `nil` (the
  /// default) lets ``ForwardPlan`` decide from the shape; `.hiddenUnits`, `.batchSlices` or
  /// `.none` force that split where it is possible (the hidden split needs no `lengths`, no
  /// projection and H ≥ 64; slices need 2 × 4 sequences; both need a budget of 2 threads), and
  /// the plan's own choice otherwise. For tuning and tests.
  public var threadSplit: ForwardPlan.Split? = nil

  /// The kernels the time loop runs on: `.automatic` (the widest fused kernels the CPU runs,
  /// for `Float`), `.avx512` or `.avx2` (forced), or `.portable`. All give the same results
  /// within `Float` rounding. Setting it repacks `W_hh` for that kernel's panel width (or drops
  /// the packed copy for `.portable`).
  public var kernels: RecurrentKernels = .automatic {
    didSet {
      let isa = kernels.vectorISA
      for i in directionWeights.indices { directionWeights[i].repack(for: isa) }
    }
  }

  /// The most threads one forward may use: its own workers plus OpenBLAS's, never more.
  /// `nil` (the default) follows ``BLAS/threadCount``, like PyTorch's `torch.get_num_threads()`.
  /// A budget is per model, so two callers with different budgets do not change each other's
  /// plan; see ``ForwardPlan`` for how a budget is spent.
  ///
  ///     var lstm = LSTM<Float>(inputSize: 64, hiddenSize: 256)
  ///     lstm.threads = 2
  public var threads: Int? = nil {
    didSet {
      if let threads {
        require(
          threads >= 1,
          "LSTM.threads must be ≥ 1 (or nil to follow BLAS.threadCount), got \(threads)")
      }
    }
  }

  /// Weights of each layer and direction, index `layer · D + direction`.
  var directionWeights: [DirectionWeights<Scalar>]

  /// An LSTM with PyTorch's hyper-parameters and defaults; allocates its parameters.
  ///
  ///     LSTM<Float>(inputSize: 8, hiddenSize: 16, numLayers: 2, bidirectional: true, seed: 7)
  ///
  /// - Precondition: sizes are positive, `projSize` is in `0..<hiddenSize`.
  public init(
    inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true,
    batchFirst: Bool = false, bidirectional: Bool = false, projSize: Int = 0, seed: UInt64 = 0
  ) {
    require(
      inputSize > 0 && hiddenSize > 0 && numLayers > 0,
      "LSTM: inputSize (\(inputSize)), hiddenSize (\(hiddenSize)) and numLayers (\(numLayers)) must be positive"
    )
    require(
      projSize >= 0 && projSize < hiddenSize,
      "LSTM: projSize \(projSize) must be in 0..<hiddenSize (\(hiddenSize)), as in PyTorch")
    // Checked before any size arithmetic: G·H × (I or D·Hout) must be countable.
    requireCountable(
      [[4, hiddenSize, inputSize], [4, hiddenSize, bidirectional ? 2 : 1, hiddenSize]],
      "LSTM(inputSize: \(inputSize), hiddenSize: \(hiddenSize))")
    self.inputSize = inputSize
    self.hiddenSize = hiddenSize
    self.numLayers = numLayers
    self.bias = bias
    self.batchFirst = batchFirst
    self.bidirectional = bidirectional
    self.projSize = projSize
    var generator = SeededGenerator(seed: seed)
    let bound = 1 / Scalar(hiddenSize).squareRoot()
    var weights: [DirectionWeights<Scalar>] = []
    for layer in 0..<numLayers {
      for _ in 0..<(bidirectional ? 2 : 1) {
        var parameters: [Tensor<Scalar>] = []
        for shape in LSTM.cellShapes(
          layer: layer, inputSize: inputSize, hiddenSize: hiddenSize,
          directions: bidirectional ? 2 : 1, projSize: projSize, bias: bias)
        {
          parameters.append(
            .randomUniform(shape: shape.shape, in: -bound...bound, using: &generator))
        }
        weights.append(
          DirectionWeights(
            parameters: parameters, bias: bias, projected: projSize > 0,
            isa: RecurrentKernels.automatic.vectorISA))
      }
    }
    directionWeights = weights
  }

  /// Directions `D`: 2 when bidirectional, else 1.
  public var directions: Int { bidirectional ? 2 : 1 }
  /// Size of `h` and of each output step per direction: `projSize` when > 0, else `hiddenSize`.
  public var outputHiddenSize: Int { projSize > 0 ? projSize : hiddenSize }

  /// The parameters in PyTorch's order for one layer: names (without suffix) and shapes.
  static func cellShapes(
    layer: Int, inputSize: Int, hiddenSize: Int, directions: Int, projSize: Int, bias: Bool
  ) -> [(name: String, shape: [Int])] {
    let hOut = projSize > 0 ? projSize : hiddenSize
    let layerInput = layer == 0 ? inputSize : directions * hOut
    var result: [(String, [Int])] = [
      ("weight_ih", [4 * hiddenSize, layerInput]), ("weight_hh", [4 * hiddenSize, hOut]),
    ]
    if bias { result += [("bias_ih", [4 * hiddenSize]), ("bias_hh", [4 * hiddenSize])] }
    if projSize > 0 { result.append(("weight_hr", [projSize, hiddenSize])) }
    return result
  }

  /// Every parameter's PyTorch name and shape, in PyTorch's order (`weight_ih_l0`,
  /// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `weight_hr_l0`, then `…_reverse`, then l1 …).
  public var parameterShapes: [(name: String, shape: [Int])] {
    var result: [(String, [Int])] = []
    for layer in 0..<numLayers {
      for direction in 0..<directions {
        let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
        for entry in LSTM.cellShapes(
          layer: layer, inputSize: inputSize, hiddenSize: hiddenSize, directions: directions,
          projSize: projSize, bias: bias)
        {
          result.append((entry.name + suffix, entry.shape))
        }
      }
    }
    return result
  }

  /// The parameters by PyTorch name (`weight_ih_l0`, …); O(parameters), shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] {
    var result: [String: Tensor<Scalar>] = [:]
    let names = parameterShapes.map(\.name)
    let tensors = directionWeights.flatMap(\.parameters)
    for (name, tensor) in zip(names, tensors) { result[name] = tensor }
    return result
  }

  /// Replaces every parameter from a PyTorch-style state dict; copies the tensors it keeps.
  ///
  ///     try lstm.loadStateDict(try SafeTensors.read(contentsOf: path))
  ///
  /// - Throws: ``LayerError/missingKey(_:expected:)``, ``LayerError/unexpectedKey(_:actual:)``
  ///   or ``LayerError/shapeMismatch(name:expected:actual:)``; checked before any parameter
  ///   changes, so a failed load leaves the model as it was.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    let expected = parameterShapes
    try StateDictCheck.validate(dict, expected: expected)
    var index = 0
    var newCells: [DirectionWeights<Scalar>] = []
    for cell in directionWeights {
      let count = cell.parameters.count
      let parameters = expected[index..<(index + count)].map { dict[$0.name]!.contiguous() }
      newCells.append(
        DirectionWeights(
          parameters: parameters, bias: bias, projected: projSize > 0, isa: kernels.vectorISA))
      index += count
    }
    directionWeights = newCells
  }
}
