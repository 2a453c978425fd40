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
/// one input GEMM per time chunk, a fused vector step (Float, AVX2 or AVX-512) for the
/// reset-after form, no allocation per step.
public struct GRU<Scalar: BLASScalar>: Sendable {
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
  /// Whether the layer has `bias_ih` and `bias_hh`.
  public var bias: Bool { core.bias }
  /// Whether input and output are `[B, T, ·]` rather than `[T, B, ·]`.
  public var batchFirst: Bool { core.batchFirst }
  /// Whether each layer also reads the sequence backwards (`D = 2`).
  public var bidirectional: Bool { core.geometry.directions == 2 }
  /// Directions `D`: 2 when bidirectional, else 1.
  public var directions: Int { core.geometry.directions }
  /// Whether the reset gate multiplies `W_hn h + b_hn` (true: PyTorch, ONNX
  /// `linear_before_reset = 1`, Keras `reset_after=True`) or `h` before `W_hn` (false: ONNX's
  /// default, Keras `reset_after=False`).
  public var resetAfter: Bool { core.geometry.cell == .gru(resetAfter: true) }

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
    core = RecurrentCore(
      cell: .gru(resetAfter: resetAfter), inputSize: inputSize, hiddenSize: hiddenSize,
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
    return try core(input, h0: initialState, lengths: lengths)
  }

  /// How a call with this input runs, without running it (see ``ForwardPlan``).
  public func plan(for input: Tensor<Scalar>, lengths: [Int]? = nil) throws -> ForwardPlan {
    try core.plan(for: input, lengths: lengths)
  }

  /// Runs the next chunk of a long sequence from `state` (the previous chunk's `out.state`,
  /// nil first): the same outputs and final state as one call over the whole sequence.
  ///
  /// - Throws: ``LayerError/unsupported(_:)`` when bidirectional, and the forward's errors.
  public func streaming(_ chunk: Tensor<Scalar>, state: Tensor<Scalar>?) throws
    -> RecurrentOutput<Scalar>
  {
    try core.requireStreamable()
    return try self(chunk, initialState: state)
  }
}

extension GRU: StateDictLayer {}
