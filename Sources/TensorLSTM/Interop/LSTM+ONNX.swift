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
  /// The `direction` attribute: "forward", "bidirectional" (supported) or "reverse" (rejected).
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
  /// `bias_hh`. `initial_h`/`initial_c` `[D, B, H]` and `Y_h`/`Y_c` are this type's
  /// `hidden`/`cell` unchanged; `sequence_lens` is `lengths`.
  /// - Throws: ``LayerError/unsupported(_:)`` for peepholes, `clip`, non-default activations,
  ///   `input_forget`, or direction "reverse" — never silently ignored — and
  ///   ``LayerError/shapeMismatch(name:expected:actual:)`` for misshapen tensors.
  public init(onnx node: ONNXLSTMNode<Scalar>) throws {
    if node.p != nil {
      throw LayerError.unsupported("ONNX LSTM: peephole weights (P) are not supported")
    }
    if let clip = node.clip {
      throw LayerError.unsupported("ONNX LSTM: clip = \(clip) is not supported")
    }
    if let activations = node.activations,
      !stride(from: 0, to: activations.count, by: 3).allSatisfy({
        activations[$0..<Swift.min($0 + 3, activations.count)].map { $0.lowercased() }
          == ["sigmoid", "tanh", "tanh"]
      })
    {
      throw LayerError.unsupported(
        "ONNX LSTM: activations \(activations) are not supported; only Sigmoid, Tanh, Tanh")
    }
    if node.inputForget != 0 {
      throw LayerError.unsupported("ONNX LSTM: input_forget = 1 is not supported")
    }
    guard node.direction == "forward" || node.direction == "bidirectional" else {
      throw LayerError.unsupported(
        "ONNX LSTM: direction '\(node.direction)' is not supported (forward or bidirectional)")
    }
    let directions = node.direction == "bidirectional" ? 2 : 1
    guard node.w.rank == 3, node.w.shape[0] == directions, node.w.shape[1] % 4 == 0,
      node.w.shape[1] > 0
    else {
      throw LayerError.rankMismatch(
        name: "W", expected: "[\(directions), 4·hidden, input]", actual: node.w.shape)
    }
    let (hidden, inputSize) = (node.w.shape[1] / 4, node.w.shape[2])
    try Self.expect("R", node.r, [directions, 4 * hidden, hidden])
    if let b = node.b { try Self.expect("B", b, [directions, 8 * hidden]) }
    self.init(
      inputSize: inputSize, hiddenSize: hidden, batchFirst: node.layout == 1,
      bidirectional: directions == 2)
    // ONNX gate blocks i, o, f, c → PyTorch i, f, g(c), o.
    let order = [0, 2, 3, 1]
    func reordered(_ t: Tensor<Scalar>) -> Tensor<Scalar> {
      let blocks = t.unflattened(axis: 0, shape: [4, hidden])
      var values: [Scalar] = []
      for gate in order { values += blocks.selected(axis: 0, index: gate).scalars }
      return Tensor(shape: t.shape, scalars: values)
    }
    var dict: [String: Tensor<Scalar>] = [:]
    for d in 0..<directions {
      let suffix = d == 0 ? "_l0" : "_l0_reverse"
      dict["weight_ih" + suffix] = reordered(node.w.selected(axis: 0, index: d))
      dict["weight_hh" + suffix] = reordered(node.r.selected(axis: 0, index: d))
      let b = node.b?.selected(axis: 0, index: d) ?? .zeros(shape: [8 * hidden])
      dict["bias_ih" + suffix] = reordered(b.sliced(axis: 0, range: 0..<(4 * hidden)))
      dict["bias_hh" + suffix] = reordered(b.sliced(axis: 0, range: (4 * hidden)..<(8 * hidden)))
    }
    try loadStateDict(dict)
  }

  /// This type's time-major `output` `[T, B, D·H]` as ONNX's `Y` `[T, D, B, H]`; O(1), a view.
  ///
  /// - Precondition: `output` is `[T, B, D·H]` and `directions` divides its last axis.
  public static func onnxY(_ output: Tensor<Scalar>, directions: Int) -> Tensor<Scalar> {
    require(
      output.rank == 3 && directions > 0 && output.shape[2] % directions == 0,
      "onnxY: expected [T, B, D·H] with D = \(directions), got \(output.shape)")
    return output.unflattened(axis: 2, shape: [directions, -1]).permuted([0, 2, 1, 3])
  }

  /// ONNX's `Y` `[T, D, B, H]` as this type's time-major output `[T, B, D·H]`; copies (no view
  /// exists).
  ///
  /// - Precondition: `y` has rank 4.
  public static func output(fromONNXY y: Tensor<Scalar>) -> Tensor<Scalar> {
    require(y.rank == 4, "output(fromONNXY:): expected [T, D, B, H], got \(y.shape)")
    return y.permuted([0, 2, 1, 3]).reshaped([y.shape[0], y.shape[2], y.shape[1] * y.shape[3]])
  }
}
