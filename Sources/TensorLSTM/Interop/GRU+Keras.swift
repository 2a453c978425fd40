/// One Keras `GRU` layer's weights, as `layer.get_weights()` returns them.
///
/// Keras stores `kernel` `[I, 3u]`, `recurrent_kernel` `[u, 3u]` and `bias`: `[2, 3u]` (input
/// and recurrent biases) with `reset_after=True`, the Keras default, or `[3u]` with
/// `reset_after=False`; gates in the order z, r, h.
public struct KerasGRUWeights<Scalar: BLASScalar>: Sendable {
  /// `[I, 3u]`.
  public var kernel: Tensor<Scalar>
  /// `[u, 3u]`.
  public var recurrentKernel: Tensor<Scalar>
  /// `[2, 3u]` or `[3u]`, or nil for `use_bias=False`.
  public var bias: Tensor<Scalar>?

  /// The arrays of `layer.get_weights()`; O(1), shares storage.
  public init(kernel: Tensor<Scalar>, recurrentKernel: Tensor<Scalar>, bias: Tensor<Scalar>?) {
    self.kernel = kernel
    self.recurrentKernel = recurrentKernel
    self.bias = bias
  }
}

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
    guard forward.kernel.rank == 2, forward.kernel.shape[1] % 3 == 0,
      forward.kernel.shape[1] > 0, forward.kernel.shape[0] > 0
    else {
      throw LayerError.rankMismatch(
        name: "kernel", expected: "[input ≥ 1, 3·units ≥ 3]", actual: forward.kernel.shape)
    }
    let (inputSize, units) = (forward.kernel.shape[0], forward.kernel.shape[1] / 3)
    let hasBias = forward.bias != nil
    if !hasBias, let extra = backward?.bias {
      throw LayerError.unexpectedKey(
        "backward bias (the forward layer has use_bias=False)", actual: extra.shape)
    }
    self.init(
      inputSize: inputSize, hiddenSize: units, bias: hasBias, batchFirst: batchFirst,
      bidirectional: backward != nil, resetAfter: resetAfter)
    // Keras blocks z, r, h → PyTorch r, z, n.
    let order = [1, 0, 2]
    var dict: [String: Tensor<Scalar>] = [:]
    for (suffix, weights) in [("_l0", forward), ("_l0_reverse", backward)] {
      guard let weights else { continue }
      let side = suffix == "_l0" ? "" : "backward "
      try LayerError.check(side + "kernel", weights.kernel, is: [inputSize, 3 * units])
      try LayerError.check(
        side + "recurrent_kernel", weights.recurrentKernel, is: [units, 3 * units])
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
