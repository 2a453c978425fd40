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
  /// The engine state behind the shared members (``RecurrentLayer``); not for direct use.
  public var _core: RecurrentCore<Scalar>
  /// Training mode (PyTorch's `train()`, the default) or evaluation mode (`eval()`): only
  /// `dropout` between layers depends on it.
  public var training = true

  /// A layer around `_core` (one layer of a stacked model, for dropout between layers).
  init(core: RecurrentCore<Scalar>) { _core = core }

  /// The activation, PyTorch's `nonlinearity`.
  public var nonlinearity: RNNNonlinearity {
    if case .rnn(let nonlinearity) = _core.geometry.cell { return nonlinearity }
    preconditionFailure("RNN: its _core holds \(_core.geometry.cell)")
  }

  /// An RNN with PyTorch's hyper-parameters and defaults; allocates its parameters.
  ///
  /// - Precondition: sizes are positive.
  public init(
    inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: RNNNonlinearity = .tanh,
    bias: Bool = true, batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false,
    seed: UInt64 = 0
  ) {
    _core = RecurrentCore(
      cell: .rnn(nonlinearity), inputSize: inputSize, hiddenSize: hiddenSize,
      numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
      bidirectional: bidirectional,
      seed: seed)
  }

  /// Runs the RNN over `input`, PyTorch's `output, h_n = rnn(input, h_0)`; shapes, `lengths`
  /// and errors as ``GRU/callAsFunction(_:initialState:lengths:)``.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> RecurrentOutput<Scalar> {
    if dropsOut { return try droppedCall(input, initialState: initialState, lengths: lengths) }
    return try _core(input, h0: initialState, lengths: lengths)
  }

  /// Runs the next chunk of a long sequence from `state`; see ``GRU/streaming(_:state:)``.
  public func streaming(_ chunk: Tensor<Scalar>, state: Tensor<Scalar>?) throws
    -> RecurrentOutput<Scalar>
  {
    try _core.requireStreamable()
    return try self(chunk, initialState: state)
  }
}
