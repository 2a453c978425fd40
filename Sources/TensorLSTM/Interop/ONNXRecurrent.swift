/// What the ONNX `LSTM` and `GRU` converters check and do the same way; `ONNXModel` lowers an
/// `RNN` node with the same helpers (`ONNXRecurrentRun`), without a public converter.
enum ONNXRecurrent {
  /// Checks the attributes every recurrent node has and returns its directions: rejects (never
  /// ignores) `clip` and activations other than the defaults, an unknown direction or layout.
  static func directions(
    op: String, direction: String, clip: Double?, activations: [String]?,
    defaults: [String], layout: Int
  ) throws -> (count: Int, reverseOnly: Bool) {
    if let clip {
      throw LayerError.unsupported("ONNX \(op): clip = \(clip) is not supported")
    }
    let count: Int
    switch direction {
    case "forward", "reverse": count = 1
    case "bidirectional": count = 2
    default:
      throw LayerError.unsupported(
        "ONNX \(op): direction '\(direction)' is not defined (forward, reverse or bidirectional)")
    }
    if let activations {
      let expected = Array(Array(repeating: defaults, count: count).joined())
      guard activations.map({ $0.lowercased() }) == expected.map({ $0.lowercased() }) else {
        throw LayerError.unsupported(
          "ONNX \(op): activations \(activations) are not supported; only \(defaults.joined(separator: ", ")) once per direction (\(expected.count) names)"
        )
      }
    }
    guard layout == 0 || layout == 1 else {
      throw LayerError.unsupported(
        "ONNX \(op): layout = \(layout) is not defined (0: [T, B, ·], 1: [B, T, ·])")
    }
    return (count, direction == "reverse")
  }

  /// The state dict of a one-layer model from ONNX's `W` `[D, G·H, I]`, `R` `[D, G·H, H]` and
  /// `B` `[D, 2·G·H]` (nil: zeros), gate blocks reordered by `order`, after checking shapes.
  static func stateDict<Scalar>(
    w: Tensor<Scalar>, r: Tensor<Scalar>, b: Tensor<Scalar>?, gates: Int,
    directions: Int, order: [Int]
  ) throws -> (dict: [String: Tensor<Scalar>], hidden: Int, inputSize: Int) {
    guard w.rank == 3, w.shape[0] == directions, w.shape[1] % gates == 0, w.shape[1] > 0,
      w.shape[2] > 0
    else {
      throw LayerError.rankMismatch(
        name: "W", expected: "[\(directions), \(gates)·hidden ≥ \(gates), input ≥ 1]",
        actual: w.shape)
    }
    let (hidden, inputSize) = (w.shape[1] / gates, w.shape[2])
    try LayerError.check("R", r, is: [directions, gates * hidden, hidden])
    if let b { try LayerError.check("B", b, is: [directions, 2 * gates * hidden]) }
    var dict: [String: Tensor<Scalar>] = [:]
    let width = gates * hidden
    for d in 0..<directions {
      let suffix = d == 0 ? "_l0" : "_l0_reverse"
      dict["weight_ih" + suffix] = GateOrder.reordered(
        w.selected(axis: 0, index: d), gates: gates, order: order)
      dict["weight_hh" + suffix] = GateOrder.reordered(
        r.selected(axis: 0, index: d), gates: gates, order: order)
      let bias = b?.selected(axis: 0, index: d) ?? .zeros(shape: [2 * width])
      dict["bias_ih" + suffix] = GateOrder.reordered(
        bias.sliced(axis: 0, range: 0..<width), gates: gates, order: order)
      dict["bias_hh" + suffix] = GateOrder.reordered(
        bias.sliced(axis: 0, range: width..<(2 * width)), gates: gates, order: order)
    }
    return (dict, hidden, inputSize)
  }
}
