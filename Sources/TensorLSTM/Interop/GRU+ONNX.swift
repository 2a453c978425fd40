/// The inputs and attributes of an ONNX `GRU` node (opset 7–22).
///
/// Tensors: `W` `[D, 3H, I]`, `R` `[D, 3H, H]`, `B` `[D, 6H]` (input biases then recurrent
/// biases); gates in ONNX's order z, r, h.
public struct ONNXGRUNode<Scalar: BLASScalar>: Sendable {
  /// `W`: `[D, 3H, I]`.
  public var w: Tensor<Scalar>
  /// `R`: `[D, 3H, H]`.
  public var r: Tensor<Scalar>
  /// `B`: `[D, 6H]`, or nil (zero biases).
  public var b: Tensor<Scalar>?
  /// The `direction` attribute: "forward", "reverse" or "bidirectional".
  public var direction: String
  /// The `linear_before_reset` attribute: 0 (ONNX's default) applies the reset gate to `h`
  /// before `R_h` (``GRU/resetAfter`` false); 1 applies it after, as PyTorch does.
  public var linearBeforeReset: Int
  /// The `clip` attribute; not supported (a non-nil value is rejected).
  public var clip: Double?
  /// The `activations` attribute; only the default `["Sigmoid", "Tanh"]` (per direction).
  public var activations: [String]?
  /// The `layout` attribute: 0 for `[T, B, ·]` (the default), 1 for `[B, T, ·]`.
  public var layout: Int

  /// A node from its tensors and attributes; O(1), shares storage.
  public init(
    w: Tensor<Scalar>, r: Tensor<Scalar>, b: Tensor<Scalar>? = nil, direction: String = "forward",
    linearBeforeReset: Int = 0, clip: Double? = nil, activations: [String]? = nil,
    layout: Int = 0
  ) {
    (self.w, self.r, self.b, self.direction) = (w, r, b, direction)
    (self.linearBeforeReset, self.clip, self.activations, self.layout) =
      (linearBeforeReset, clip, activations, layout)
  }
}

extension GRU {
  /// A GRU computing what an ONNX `GRU` node computes; copies the weights.
  ///
  ///     let gru = try GRU(onnx: ONNXGRUNode(w: w, r: r, b: b, direction: "bidirectional",
  ///                                         linearBeforeReset: 0))
  ///     let out = try gru(x, initialState: initialH, lengths: sequenceLens)
  ///     let y = LSTM<Float>.onnxY(out.output, directions: 2)   // [T, D, B, H], a view
  ///
  /// Gates are reordered from ONNX's z, r, h to PyTorch's r, z, n; `B` splits into `bias_ih`
  /// (`Wb`) and `bias_hh` (`Rb`). `linear_before_reset` 0 gives ``resetAfter`` false —
  /// `h̃ = tanh(W_h x + (r ⊙ h) R_hᵀ + Rb_h + Wb_h)` — and 1 gives PyTorch's form. Direction
  /// "reverse" reads each sequence from its end. With `layout` 0, `initial_h` `[D, B, H]` and
  /// `Y_h` are `initialState` and `hidden` unchanged; layout 1 states convert with
  /// ``LSTM/onnxStateTensor(_:layout:)``. The ONNX helpers of ``LSTM`` (`onnxY`,
  /// `output(fromONNXY:layout:)`) apply unchanged.
  /// - Throws: ``LayerError/unsupported(_:)`` for `clip`, non-default activations or an
  ///   undefined attribute value, ``LayerError/shapeMismatch(name:expected:actual:)`` for
  ///   misshapen tensors.
  public init(onnx node: ONNXGRUNode<Scalar>) throws {
    guard node.linearBeforeReset == 0 || node.linearBeforeReset == 1 else {
      throw LayerError.unsupported(
        "ONNX GRU: linear_before_reset = \(node.linearBeforeReset) is not defined (0 or 1)")
    }
    let directions = try ONNXRecurrent.directions(
      op: "GRU", direction: node.direction, clip: node.clip, activations: node.activations,
      defaults: ["Sigmoid", "Tanh"], layout: node.layout)
    // ONNX gate blocks z, r, h → PyTorch r, z, n.
    let (dict, hidden, inputSize) = try ONNXRecurrent.stateDict(
      w: node.w, r: node.r, b: node.b, gates: 3, directions: directions.count, order: [1, 0, 2])
    self.init(
      inputSize: inputSize, hiddenSize: hidden, batchFirst: node.layout == 1,
      bidirectional: directions.count == 2, resetAfter: node.linearBeforeReset == 1)
    _core.geometry.reverseOnly = directions.reverseOnly
    try loadStateDict(dict)
  }

  /// Whether the one direction reads each sequence from its end (an ONNX node with direction
  /// "reverse"); false for models built in Swift or from PyTorch.
  public var isReverse: Bool { _core.geometry.reverseOnly }
}

extension LSTM {
  /// Whether the one direction reads each sequence from its end (an ONNX node with direction
  /// "reverse"); false for models built in Swift or from PyTorch.
  public var isReverse: Bool { _core.geometry.reverseOnly }
}
