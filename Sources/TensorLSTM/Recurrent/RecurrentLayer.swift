/// What ``LSTM``, ``GRU`` and ``RNN`` share: sizes, flags, the settings of the time loop, the
/// state dict and the plan, written once here for the three (MLX's `Module` pattern). Each
/// type adds its own call, streaming, traced forward and backward, and its cell's options
/// (`projSize`, `resetAfter`, `nonlinearity`).
///
///     func describe<R: RecurrentLayer>(_ layer: R) -> String {
///       "\(layer.numLayers) × \(layer.hiddenSize), \(layer.directions) direction(s)"
///     }
///     var gru = GRU<Float>(inputSize: 8, hiddenSize: 16)
///     gru.threads = 2; gru.kernels = .avx2            // the same members on every cell
public protocol RecurrentLayer<Scalar>: Layer {
  /// The engine state the shared members read and write; not for direct use.
  var _core: RecurrentCore<Scalar> { get set }
}

extension RecurrentLayer {
  /// PyTorch's `dropout`: the probability of zeroing each output element of every layer but
  /// the last, in training mode (0: none). Masks come from a generator seeded by `seed`.
  public var dropout: Double { _core.dropout }
  /// Features per input step, `I`.
  public var inputSize: Int { _core.geometry.inputSize }
  /// Units of the hidden state (and of the LSTM's cell state), `H`.
  public var hiddenSize: Int { _core.geometry.hiddenSize }
  /// Stacked layers, `L`.
  public var numLayers: Int { _core.geometry.layers }
  /// Whether the layer has `bias_ih` and `bias_hh`.
  public var bias: Bool { _core.bias }
  /// Whether input and output are `[B, T, ·]` rather than `[T, B, ·]`.
  public var batchFirst: Bool { _core.batchFirst }
  /// Whether each layer also reads the sequence backwards (`D = 2`).
  public var bidirectional: Bool { _core.geometry.directions == 2 }
  /// Directions `D`: 2 when bidirectional, else 1.
  public var directions: Int { _core.geometry.directions }

  /// How a forward divides its work between threads, overriding the plan's choice: `nil` (the
  /// default) lets ``ForwardPlan`` decide from the shape; `.hiddenUnits`, `.batchSlices` or
  /// `.none` force that split where it is possible (the hidden split needs no `lengths`, no
  /// projection and H ≥ 64; slices need 2 × 4 sequences; both need a budget of 2 threads), and
  /// the plan's own choice otherwise. For tuning and tests.
  public var threadSplit: ForwardPlan.Split? {
    get { _core.threadSplit }
    set { _core.threadSplit = newValue }
  }

  /// The kernels the time loop runs on: `.automatic` (the widest fused kernels the CPU runs,
  /// for `Float`), `.avx512VNNI`, `.avx512` or `.avx2` (forced; the first two differ only at
  /// `.int8`), or `.portable`. All give the same results
  /// within `Float` rounding. Setting it repacks `W_hh` for that kernel's panel width (or drops
  /// the packed copy for `.portable`).
  public var kernels: RecurrentKernels {
    get { _core.kernels }
    set { _core.kernels = newValue }
  }

  /// The precision the forward streams its weights in: `.float` (the default), `.bfloat16` or
  /// `.int8` (``WeightPrecision``: `weight_ih`, `weight_hh` and `weight_hr` rounded or
  /// quantized once, `W_hh` packed at half or a quarter of the bytes for the fused step).
  /// `stateDict()` keeps the Float weights. Setting it rounds and repacks; Float layers only. A
  /// traced forward (training) needs `.float`.
  ///
  ///     lstm.weightPrecision = .int8      // batch-1 latency: W_hh streamed as int8
  public var weightPrecision: WeightPrecision {
    get { _core.weightPrecision }
    set { _core.weightPrecision = newValue }
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
    get { _core.threads }
    set { _core.threads = newValue }
  }

  /// Every parameter's PyTorch name and shape, in PyTorch's order (`weight_ih_l0`,
  /// `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, the LSTM's `weight_hr_l0`, then `…_reverse`,
  /// then l1 …).
  public var parameterShapes: [(name: String, shape: [Int])] { _core.parameterShapes }

  /// The parameters by PyTorch name (`weight_ih_l0`, …); O(parameters), shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] { _core.stateDict() }

  /// Replaces every parameter from a PyTorch-style state dict; copies the tensors it keeps.
  ///
  ///     try lstm.loadStateDict(try SafeTensors.read(contentsOf: path))
  ///
  /// - Throws: ``LayerError/missingKey(_:expected:)``, ``LayerError/unexpectedKey(_:actual:)``
  ///   or ``LayerError/shapeMismatch(name:expected:actual:)``; checked before any parameter
  ///   changes, so a failed load leaves the model as it was.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try _core.loadStateDict(dict)
  }

  /// How a call with this input runs, without running it: the split, workers, chunk, gathers
  /// and step kernels (see ``ForwardPlan``). O(1); throws what the call would throw.
  ///
  ///     print(try lstm.plan(for: x))
  public func plan(for input: Tensor<Scalar>, lengths: [Int]? = nil) throws -> ForwardPlan {
    try _core.plan(for: input, lengths: lengths)
  }
}

extension LSTM: RecurrentLayer {}
extension GRU: RecurrentLayer {}
extension RNN: RecurrentLayer {}
