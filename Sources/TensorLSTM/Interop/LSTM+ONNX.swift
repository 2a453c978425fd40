/// The inputs and attributes of an ONNX `LSTM` node (opset 7–22).
///
/// Tensors: `W` `[D, 4H, I]`, `R` `[D, 4H, H]`, `B` `[D, 8H]` (input biases then recurrent
/// biases), optional peepholes `P` `[D, 3H]`; gates in ONNX's order i, o, f, c.
public struct ONNXLSTMNode<Scalar: BLASScalar>: Sendable {
  /// `W`: `[D, 4H, I]`.
  public var w: Tensor<Scalar>
  /// `R`: `[D, 4H, H]`.
  public var r: Tensor<Scalar>
  /// `B`: `[D, 8H]`, or nil (zero biases).
  public var b: Tensor<Scalar>?
  /// `P`: peephole weights `[D, 3H]`; not supported (a non-nil value is rejected).
  public var p: Tensor<Scalar>?
  /// The `direction` attribute: "forward", "reverse" (one direction, read from each
  /// sequence's end) or "bidirectional".
  public var direction: String
  /// The `clip` attribute; not supported (a non-nil value is rejected).
  public var clip: Double?
  /// The `activations` attribute; only the default `["Sigmoid", "Tanh", "Tanh"]` (per
  /// direction) is supported.
  public var activations: [String]?
  /// The `input_forget` attribute; only 0 is supported.
  public var inputForget: Int
  /// The `layout` attribute: 0 for `[T, B, ·]` (the default), 1 for `[B, T, ·]`.
  public var layout: Int

  /// A node from its tensors and attributes; O(1), shares storage.
  public init(
    w: Tensor<Scalar>, r: Tensor<Scalar>, b: Tensor<Scalar>? = nil, p: Tensor<Scalar>? = nil,
    direction: String = "forward", clip: Double? = nil, activations: [String]? = nil,
    inputForget: Int = 0, layout: Int = 0
  ) {
    self.w = w
    self.r = r
    self.b = b
    self.p = p
    self.direction = direction
    self.clip = clip
    self.activations = activations
    self.inputForget = inputForget
    self.layout = layout
  }
}

extension LSTM {
  /// An LSTM computing what an ONNX `LSTM` node computes; copies the weights.
  ///
  ///     let lstm = try LSTM(onnx: ONNXLSTMNode(w: w, r: r, b: b, direction: "bidirectional"))
  ///     let out = try lstm(x, initialState: LSTMState(hidden: initialH, cell: initialC),
  ///                        lengths: sequenceLens)
  ///     let y = LSTM<Float>.onnxY(out.output, directions: 2)   // [T, D, B, H], a view
  ///
  /// Gates are reordered from ONNX's i, o, f, c to i, f, g, o; `B` splits into `bias_ih` and
  /// `bias_hh`. With `layout` 0, `initial_h`/`initial_c` `[D, B, H]` and `Y_h`/`Y_c` are this
  /// type's `hidden`/`cell` unchanged; with `layout` 1 they are `[B, D, H]`: convert with
  /// ``state(fromONNXInitialH:initialC:layout:)`` and ``onnxStateTensor(_:layout:)`` (views).
  /// `sequence_lens` is `lengths`.
  /// - Throws: ``LayerError/unsupported(_:)`` for peepholes, `clip`, non-default activations,
  ///   or `input_forget` — never silently ignored — and
  ///   ``LayerError/shapeMismatch(name:expected:actual:)`` for misshapen tensors.
  public init(onnx node: ONNXLSTMNode<Scalar>) throws {
    if node.p != nil {
      throw LayerError.unsupported("ONNX LSTM: peephole weights (P) are not supported")
    }
    if node.inputForget != 0 {
      throw LayerError.unsupported(
        "ONNX LSTM: input_forget = \(node.inputForget) is not supported (only 0)")
    }
    let directions = try ONNXRecurrent.directions(
      op: "LSTM", direction: node.direction, clip: node.clip, activations: node.activations,
      defaults: ["Sigmoid", "Tanh", "Tanh"], layout: node.layout)
    // ONNX gate blocks i, o, f, c → PyTorch i, f, g(c), o.
    let (dict, hidden, inputSize) = try ONNXRecurrent.stateDict(
      w: node.w, r: node.r, b: node.b, gates: 4, directions: directions.count,
      order: [0, 2, 3, 1])
    self.init(
      inputSize: inputSize, hiddenSize: hidden, batchFirst: node.layout == 1,
      bidirectional: directions.count == 2)
    _core.geometry.reverseOnly = directions.reverseOnly
    try loadStateDict(dict)
  }

  /// This type's `output` as ONNX's `Y`; O(1), a view. Layout 0: time-major `[T, B, D·H]` →
  /// `[T, D, B, H]`; layout 1: batch-first `[B, T, D·H]` → `[B, T, D, H]`.
  ///
  /// - Precondition: `output` has rank 3, `directions` divides its last axis, `layout` is 0 or 1.
  public static func onnxY(_ output: Tensor<Scalar>, directions: Int, layout: Int = 0)
    -> Tensor<Scalar>
  {
    require(
      output.rank == 3 && directions > 0 && output.shape[2] % directions == 0
        && (layout == 0 || layout == 1),
      "onnxY: expected [T, B, D·H] (layout 0) or [B, T, D·H] (layout 1) with D = \(directions), got \(output.shape) with layout \(layout)"
    )
    let split = output.unflattened(axis: 2, shape: [directions, -1])
    return layout == 0 ? split.permuted([0, 2, 1, 3]) : split
  }

  /// ONNX's `Y` as this type's `output`; copies for layout 0 (`[T, D, B, H]` → `[T, B, D·H]`,
  /// no view exists), a view for layout 1 (`[B, T, D, H]` → `[B, T, D·H]`).
  ///
  /// - Precondition: `y` has rank 4 and `layout` is 0 or 1.
  public static func output(fromONNXY y: Tensor<Scalar>, layout: Int = 0) -> Tensor<Scalar> {
    require(
      y.rank == 4 && (layout == 0 || layout == 1),
      "output(fromONNXY:): expected [T, D, B, H] (layout 0) or [B, T, D, H] (layout 1), got \(y.shape) with layout \(layout)"
    )
    if layout == 1 { return y.flattened(startAxis: 2) }
    return y.permuted([0, 2, 1, 3]).reshaped([y.shape[0], y.shape[2], y.shape[1] * y.shape[3]])
  }

  /// ONNX's `initial_h` and `initial_c` as an ``LSTMState``: `[D, B, H]` as they are (layout
  /// 0), or `[B, D, H]` permuted to `[D, B, H]` (layout 1); O(1), views.
  ///
  /// - Precondition: both have rank 3 and `layout` is 0 or 1.
  public static func state(
    fromONNXInitialH initialH: Tensor<Scalar>, initialC: Tensor<Scalar>, layout: Int = 0
  ) -> LSTMState<Scalar> {
    LSTMState(
      hidden: onnxStateTensor(initialH, layout: layout),
      cell: onnxStateTensor(initialC, layout: layout))
  }

  /// A `[D, B, H]` state tensor (`hidden`, `cell`) as ONNX's `Y_h`/`Y_c` for `layout`, or an
  /// ONNX state back: the identity for layout 0, the swap of the first two axes for layout 1
  /// (`[D, B, H]` ↔ `[B, D, H]`); O(1), a view.
  ///
  /// - Precondition: `state` has rank 3 and `layout` is 0 or 1.
  public static func onnxStateTensor(_ state: Tensor<Scalar>, layout: Int = 0) -> Tensor<Scalar> {
    require(
      state.rank == 3 && (layout == 0 || layout == 1),
      "onnxStateTensor: expected a rank-3 state with layout 0 or 1, got \(state.shape) with layout \(layout)"
    )
    return layout == 0 ? state : state.permuted([1, 0, 2])
  }
}
