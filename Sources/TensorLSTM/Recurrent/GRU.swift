/// A multi-layer GRU with PyTorch's `nn.GRU` constructor, parameter names, shapes and results.
///
///     var gru = GRU<Float>(inputSize: 32, hiddenSize: 64, numLayers: 2, batchFirst: true)
///     try gru.loadStateDict(dict)      // weight_ih_l0 [3H, I], weight_hh_l0 [3H, H], …
///     let out = try gru(x)             // x: [B, T, 32]
///     out.output                       // [B, T, 64]
///     out.lastStep                     // [B, 64]
///
/// Gates are ordered r, z, n as in PyTorch:
///
///     r = σ(W_ir x + b_ir + W_hr h + b_hr)
///     z = σ(W_iz x + b_iz + W_hz h + b_hz)
///     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))       resetAfter (PyTorch, the default)
///     n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)       !resetAfter (ONNX's default)
///     h' = (1 − z) ⊙ n + z ⊙ h
///
/// The second form is ONNX's `linear_before_reset = 0` and Keras' `reset_after=False`; it is a
/// different function, computed exactly (two GEMMs per step, see ``ForwardPlan``). Parameters
/// start from U(−1/√H, 1/√H) with a seedable generator. The time loop is the LSTM's engine:
/// one input GEMM per time chunk, a fused vector step (Float or Double, AVX2 or AVX-512) for the
/// reset-after form, no allocation per step.
public struct GRU<Scalar: BLASScalar>: Sendable {
  /// The engine state behind the shared members (``RecurrentLayer``); not for direct use.
  public var _core: RecurrentCore<Scalar>
  /// Training mode (PyTorch's `train()`, the default) or evaluation mode (`eval()`): only
  /// `dropout` between layers depends on it.
  public var training = true

  /// A layer around `_core` (one layer of a stacked model, for dropout between layers).
  init(core: RecurrentCore<Scalar>) { _core = core }

  /// Whether the reset gate multiplies `W_hn h + b_hn` (true: PyTorch, ONNX
  /// `linear_before_reset = 1`, Keras `reset_after=True`) or `h` before `W_hn` (false: ONNX's
  /// default, Keras `reset_after=False`).
  public var resetAfter: Bool { _core.geometry.cell == .gru(resetAfter: true) }

  /// A GRU with PyTorch's hyper-parameters and defaults; allocates its parameters.
  ///
  ///     GRU<Float>(inputSize: 8, hiddenSize: 16, numLayers: 2, bidirectional: true, seed: 7)
  ///
  /// - Precondition: sizes are positive.
  public init(
    inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true,
    batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false,
    resetAfter: Bool = true,
    seed: UInt64 = 0
  ) {
    _core = RecurrentCore(
      cell: .gru(resetAfter: resetAfter), inputSize: inputSize, hiddenSize: hiddenSize,
      numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
      bidirectional: bidirectional,
      seed: seed)
  }

  /// Runs the GRU over `input`, PyTorch's `output, h_n = gru(input, h_0)`.
  ///
  ///     let out = try gru(x, initialState: h0, lengths: [10, 7, 3])
  ///
  /// Layout in letters: input `[B, T, I]` with batchFirst, else `[T, B, I]`, or unbatched
  /// `[T, I]`; `initialState` and `hidden` `[D·L, B, H]` (no B axis unbatched); output
  /// `[B, T, D·H]` / `[T, B, D·H]` / `[T, D·H]`. `lengths` has ``LSTM``'s pack_padded
  /// semantics. Cost: allocates the result and one workspace; the time loop allocates nothing.
  /// - Throws: ``LayerError`` naming expected and actual shapes; nothing is computed then.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> RecurrentOutput<Scalar> {
    if dropsOut { return try droppedCall(input, initialState: initialState, lengths: lengths) }
    return try _core(input, h0: initialState, lengths: lengths)
  }

  /// Runs the next chunk of a long sequence from `state` (the previous chunk's `out.state`,
  /// nil first): the same outputs and final state as one call over the whole sequence.
  ///
  /// - Throws: ``LayerError/unsupported(_:)`` when bidirectional, and the forward's errors.
  public func streaming(_ chunk: Tensor<Scalar>, state: Tensor<Scalar>?) throws
    -> RecurrentOutput<Scalar>
  {
    try _core.requireStreamable()
    return try self(chunk, initialState: state)
  }
}
