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
  /// Sizes, flags, weights and settings, shared in form with ``GRU`` and ``RNN``.
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
  /// Units per cell state, `H`.
  public var hiddenSize: Int { core.geometry.hiddenSize }
  /// Stacked layers, `L`.
  public var numLayers: Int { core.geometry.layers }
  /// Whether the layer has `bias_ih` and `bias_hh`.
  public var bias: Bool { core.bias }
  /// Whether input and output are `[B, T, ·]` rather than `[T, B, ·]`.
  public var batchFirst: Bool { core.batchFirst }
  /// Whether each layer also reads the sequence backwards (`D = 2`).
  public var bidirectional: Bool { core.geometry.directions == 2 }
  /// Size of the projected hidden state `Hout` when > 0 (PyTorch's `proj_size`); 0 means none.
  public var projSize: Int { core.projSize }

  /// How a forward divides its work between threads, overriding the plan's choice: `nil` (the
  /// default) lets ``ForwardPlan`` decide from the shape; `.hiddenUnits`, `.batchSlices` or
  /// `.none` force that split where it is possible (the hidden split needs no `lengths`, no
  /// projection and H ≥ 64; slices need 2 × 4 sequences; both need a budget of 2 threads), and
  /// the plan's own choice otherwise. For tuning and tests.
  public var threadSplit: ForwardPlan.Split? {
    get { core.threadSplit }
    set { core.threadSplit = newValue }
  }

  /// The kernels the time loop runs on: `.automatic` (the widest fused kernels the CPU runs,
  /// for `Float`), `.avx512` or `.avx2` (forced), or `.portable`. All give the same results
  /// within `Float` rounding. Setting it repacks `W_hh` for that kernel's panel width (or drops
  /// the packed copy for `.portable`).
  public var kernels: RecurrentKernels {
    get { core.kernels }
    set { core.kernels = newValue }
  }
  /// The precision the forward streams its weights in: `.float` (the default) or `.bfloat16`
  /// (``WeightPrecision``: `weight_ih`, `weight_hh` and `weight_hr` rounded once, `W_hh` packed
  /// at half the bytes for the fused step). `stateDict()` keeps the Float weights. Setting it
  /// rounds and repacks; Float layers only. A traced forward (training) needs `.float`.
  public var weightPrecision: WeightPrecision {
    get { core.weightPrecision }
    set { core.weightPrecision = newValue }
  }

  /// The most threads one forward may use: its own workers plus OpenBLAS's, never more.
  /// `nil` (the default) follows ``BLAS/threadCount``, like PyTorch's `torch.get_num_threads()`.
  /// A budget is per model, so two callers with different budgets do not change each other's
  /// plan; see ``ForwardPlan`` for how a budget is spent.
  ///
  ///     var lstm = LSTM<Float>(inputSize: 64, hiddenSize: 256)
  ///     lstm.threads = 2
  ///
  /// - Precondition: `threads` is nil or ≥ 1.
  public var threads: Int? {
    get { core.threads }
    set { core.threads = newValue }
  }

  /// An LSTM with PyTorch's hyper-parameters and defaults; allocates its parameters.
  ///
  ///     LSTM<Float>(inputSize: 8, hiddenSize: 16, numLayers: 2, bidirectional: true, seed: 7)
  ///
  /// - Precondition: sizes are positive, `projSize` is in `0..<hiddenSize`.
  public init(
    inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true,
    batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false, projSize: Int = 0,
    seed: UInt64 = 0
  ) {
    core = RecurrentCore(
      cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers,
      bias: bias, batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional,
      projSize: projSize,
      seed: seed)
  }

  /// Directions `D`: 2 when bidirectional, else 1.
  public var directions: Int { core.geometry.directions }
  /// Size of `h` and of each output step per direction: `projSize` when > 0, else `hiddenSize`.
  public var outputHiddenSize: Int { core.geometry.outputHiddenSize }

  /// Every parameter's PyTorch name and shape, in PyTorch's order (`weight_ih_l0`,
  /// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `weight_hr_l0`, then `…_reverse`, then l1 …).
  public var parameterShapes: [(name: String, shape: [Int])] { core.parameterShapes }

  /// The parameters by PyTorch name (`weight_ih_l0`, …); O(parameters), shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] { core.stateDict() }

  /// Replaces every parameter from a PyTorch-style state dict; copies the tensors it keeps.
  ///
  ///     try lstm.loadStateDict(try SafeTensors.read(contentsOf: path))
  ///
  /// - Throws: ``LayerError/missingKey(_:expected:)``, ``LayerError/unexpectedKey(_:actual:)``
  ///   or ``LayerError/shapeMismatch(name:expected:actual:)``; checked before any parameter
  ///   changes, so a failed load leaves the model as it was.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try core.loadStateDict(dict)
  }
}
