/// A multi-layer Elman RNN with PyTorch's `nn.RNN` constructor, parameter names, shapes and
/// results: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)` (or relu).
///
///     let rnn = RNN<Float>(inputSize: 32, hiddenSize: 64, nonlinearity: .relu)
///     let out = try rnn(x)            // x: [T, B, 32]
///     out.output                      // [T, B, 64]
///
/// Parameters `weight_ih_l0 [H, I]`, `weight_hh_l0 [H, H]`, `bias_ih_l0`, `bias_hh_l0` start
/// from U(−1/√H, 1/√H). Same engine, semantics and settings as ``LSTM`` and ``GRU``.
public struct RNN<Scalar: BLASScalar>: Sendable {
  var core: RecurrentCore<Scalar>
  /// Training mode (PyTorch's `train()`, the default) or evaluation mode (`eval()`): only
  /// `dropout` between layers depends on it.
  public var training = true
  /// PyTorch's `dropout`: the probability of zeroing each output element of every layer but
  /// the last, in training mode (0: none). Masks come from a generator seeded by `seed`.
  public var dropout: Double { core.dropout }

  /// A layer around `core` (one layer of a stacked model, for dropout between layers).
  init(core: RecurrentCore<Scalar>) { self.core = core }

  /// Features per input step, `I`.
  public var inputSize: Int { core.geometry.inputSize }
  /// Units of `h`, `H`.
  public var hiddenSize: Int { core.geometry.hiddenSize }
  /// Stacked layers, `L`.
  public var numLayers: Int { core.geometry.layers }
  /// The activation, PyTorch's `nonlinearity`.
  public var nonlinearity: RNNNonlinearity {
    if case .rnn(let nonlinearity) = core.geometry.cell { return nonlinearity }
    preconditionFailure("RNN: its core holds \(core.geometry.cell)")
  }
  /// Whether the layer has `bias_ih` and `bias_hh`.
  public var bias: Bool { core.bias }
  /// Whether input and output are `[B, T, ·]` rather than `[T, B, ·]`.
  public var batchFirst: Bool { core.batchFirst }
  /// Whether each layer also reads the sequence backwards (`D = 2`).
  public var bidirectional: Bool { core.geometry.directions == 2 }
  /// Directions `D`: 2 when bidirectional, else 1.
  public var directions: Int { core.geometry.directions }

  /// Overrides the plan's split between threads; see ``LSTM/threadSplit``.
  public var threadSplit: ForwardPlan.Split? {
    get { core.threadSplit }
    set { core.threadSplit = newValue }
  }
  /// The kernels of the time loop; see ``LSTM/kernels``. Setting it repacks `W_hh`.
  public var kernels: RecurrentKernels {
    get { core.kernels }
    set { core.kernels = newValue }
  }
  /// The precision the forward streams its weights in; see ``LSTM/weightPrecision``.
  public var weightPrecision: WeightPrecision {
    get { core.weightPrecision }
    set { core.weightPrecision = newValue }
  }
  /// The thread budget of a forward (nil: ``BLAS/threadCount``); see ``LSTM/threads``.
  public var threads: Int? {
    get { core.threads }
    set { core.threads = newValue }
  }

  /// An RNN with PyTorch's hyper-parameters and defaults; allocates its parameters.
  ///
  /// - Precondition: sizes are positive.
  public init(
    inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: RNNNonlinearity = .tanh,
    bias: Bool = true, batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false,
    seed: UInt64 = 0
  ) {
    core = RecurrentCore(
      cell: .rnn(nonlinearity), inputSize: inputSize, hiddenSize: hiddenSize,
      numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
      bidirectional: bidirectional,
      seed: seed)
  }

  /// Every parameter's PyTorch name and shape, in PyTorch's order.
  public var parameterShapes: [(name: String, shape: [Int])] { core.parameterShapes }
  /// The parameters by PyTorch name; O(parameters), shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] { core.stateDict() }
  /// Replaces every parameter; validates all names and shapes first, so a failed load changes
  /// nothing. Copies the tensors it keeps.
  ///
  /// - Throws: ``LayerError`` naming the key, expected and actual shape.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try core.loadStateDict(dict)
  }

  /// Runs the RNN over `input`, PyTorch's `output, h_n = rnn(input, h_0)`; shapes, `lengths`
  /// and errors as ``GRU/callAsFunction(_:initialState:lengths:)``.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> RecurrentOutput<Scalar> {
    if dropsOut { return try droppedCall(input, initialState: initialState, lengths: lengths) }
    return try core(input, h0: initialState, lengths: lengths)
  }

  /// How a call with this input runs, without running it (see ``ForwardPlan``).
  public func plan(for input: Tensor<Scalar>, lengths: [Int]? = nil) throws -> ForwardPlan {
    try core.plan(for: input, lengths: lengths)
  }

  /// Runs the next chunk of a long sequence from `state`; see ``GRU/streaming(_:state:)``.
  public func streaming(_ chunk: Tensor<Scalar>, state: Tensor<Scalar>?) throws
    -> RecurrentOutput<Scalar>
  {
    try core.requireStreamable()
    return try self(chunk, initialState: state)
  }
}

extension RNN: StateDictLayer {}
