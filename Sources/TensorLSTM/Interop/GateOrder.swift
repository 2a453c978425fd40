/// Gate orders differ between frameworks (PyTorch LSTM i, f, g, o; ONNX i, o, f, c; PyTorch
/// GRU r, z, n; ONNX and Keras z, r, h); the converters put the blocks in PyTorch's order.
enum GateOrder {
  /// The gate blocks of `t` (`[G·H, …]` or `[G·H]`) in the order `order` (ONNX's block
  /// `order[k]` becomes block k); copies.
  static func reordered<Scalar>(_ t: Tensor<Scalar>, gates: Int, order: [Int]) -> Tensor<Scalar> {
    let blocks = t.unflattened(axis: 0, shape: [gates, t.shape[0] / gates])
    var values: [Scalar] = []
    for gate in order { values += blocks.selected(axis: 0, index: gate).scalars }
    return Tensor(shape: t.shape, scalars: values)
  }
}
