/// A Keras `GRU` layer's weights (``KerasRecurrentWeights`` with 3 gates, z, r, h): `bias`
/// `[2, 3u]` (input and recurrent biases) with `reset_after=True`, the Keras default, or `[3u]`
/// with `reset_after=False`.
public typealias KerasGRUWeights<Scalar: BLASScalar> = KerasRecurrentWeights<Scalar>

extension GRU {
  /// A GRU with the weights of a Keras `GRU`, or of a Keras `Bidirectional(GRU)` in concat
  /// mode when `backward` is given; copies the weights.
  ///
  ///     let gru = try GRU(keras: KerasGRUWeights(kernel: k, recurrentKernel: r, bias: b),
  ///                       backward: nil, resetAfter: true)
  ///     let out = try gru(x)      // x: [B, T, I]
  ///     out.lastStep              // return_sequences=False
  ///
  /// `resetAfter` is the layer's `reset_after` (Keras' default true is PyTorch's GRU; false is
  /// ONNX's default placement). Keras' default activations (tanh, sigmoid recurrent) are
  /// PyTorch's. Gates are reordered from z, r, h to r, z, n and the kernels transposed; a
  /// `[2, 3u]` bias gives `bias_ih` and `bias_hh`, a `[3u]` one `bias_ih` (with `bias_hh`
  /// zero). The result is batch first, like Keras.
  /// - Throws: ``LayerError/shapeMismatch(name:expected:actual:)`` naming the Keras weight,
  ///   ``LayerError/missingKey(_:expected:)`` or ``LayerError/unexpectedKey(_:actual:)`` when
  ///   the directions disagree on having a bias.
  public init(
    keras forward: KerasGRUWeights<Scalar>, backward: KerasGRUWeights<Scalar>? = nil,
    resetAfter: Bool = true, batchFirst: Bool = true
  ) throws {
    let (inputSize, units) = try KerasGRUWeights.validate(forward, backward: backward, gates: 3)
    let hasBias = forward.bias != nil
    self.init(
      inputSize: inputSize, hiddenSize: units, bias: hasBias, batchFirst: batchFirst,
      bidirectional: backward != nil, resetAfter: resetAfter)
    // Keras blocks z, r, h → PyTorch r, z, n.
    let order = [1, 0, 2]
    var dict: [String: Tensor<Scalar>] = [:]
    for (suffix, weights) in [("_l0", forward), ("_l0_reverse", backward)] {
      guard let weights else { continue }
      let side = suffix == "_l0" ? "" : "backward "
      dict["weight_ih" + suffix] = GateOrder.reordered(
        weights.kernel.transposed(0, 1), gates: 3, order: order)
      dict["weight_hh" + suffix] = GateOrder.reordered(
        weights.recurrentKernel.transposed(0, 1), gates: 3, order: order)
      if hasBias {
        guard let bias = weights.bias else {
          throw LayerError.missingKey(side + "bias", expected: [2, 3 * units])
        }
        let (input, recurrent): (Tensor<Scalar>, Tensor<Scalar>)
        switch bias.shape {
        case [2, 3 * units]:
          (input, recurrent) = (bias[0], bias[1])
        case [3 * units]:
          (input, recurrent) = (bias, .zeros(shape: [3 * units]))
        default:
          throw LayerError.shapeMismatch(
            name: side + "bias", expected: resetAfter ? [2, 3 * units] : [3 * units],
            actual: bias.shape)
        }
        dict["bias_ih" + suffix] = GateOrder.reordered(input, gates: 3, order: order)
        dict["bias_hh" + suffix] = GateOrder.reordered(recurrent, gates: 3, order: order)
      }
    }
    try loadStateDict(dict)
  }
}
