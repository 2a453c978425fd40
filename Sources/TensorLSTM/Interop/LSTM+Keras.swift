/// One Keras `LSTM` layer's weights, as `layer.get_weights()` returns them.
///
/// Keras stores `kernel` `[I, 4u]`, `recurrent_kernel` `[u, 4u]` and one `bias` `[4u]`, gates
/// in the order i, f, c, o (c is PyTorch's g).
public struct KerasLSTMWeights<Scalar: BLASScalar>: Sendable {
  /// `[I, 4u]`.
  public var kernel: Tensor<Scalar>
  /// `[u, 4u]`.
  public var recurrentKernel: Tensor<Scalar>
  /// `[4u]`, or nil for `use_bias=False`.
  public var bias: Tensor<Scalar>?

  /// The three arrays of `layer.get_weights()`; O(1), shares storage.
  public init(kernel: Tensor<Scalar>, recurrentKernel: Tensor<Scalar>, bias: Tensor<Scalar>?) {
    self.kernel = kernel
    self.recurrentKernel = recurrentKernel
    self.bias = bias
  }
}

extension LSTM {
  /// An LSTM with the weights of a Keras `LSTM`, or of a Keras `Bidirectional(LSTM)` in concat
  /// mode when `backward` is given; copies the weights.
  ///
  ///     let lstm = try LSTM(keras: KerasLSTMWeights(kernel: k, recurrentKernel: r, bias: b))
  ///     let out = try lstm(x)     // x: [B, T, I]
  ///     out.output                // return_sequences=True
  ///     out.lastStep              // return_sequences=False (also for Bidirectional)
  ///
  /// Keras' default activations (tanh, sigmoid recurrent) are PyTorch's. The result is batch
  /// first, like Keras. Keras and PyTorch both order gates i, f, c/g, o, so the conversion
  /// transposes the kernels and puts Keras' single bias in `bias_ih` (with `bias_hh` zero).
  /// - Throws: ``LayerError/shapeMismatch(name:expected:actual:)`` naming the Keras weight
  ///   (an empty kernel included), ``LayerError/missingKey(_:expected:)`` or
  ///   ``LayerError/unexpectedKey(_:actual:)`` when the two directions disagree on having a
  ///   bias.
  public init(
    keras forward: KerasLSTMWeights<Scalar>, backward: KerasLSTMWeights<Scalar>? = nil,
    batchFirst: Bool = true
  ) throws {
    guard forward.kernel.rank == 2, forward.kernel.shape[1] % 4 == 0,
      forward.kernel.shape[1] > 0, forward.kernel.shape[0] > 0
    else {
      throw LayerError.rankMismatch(
        name: "kernel", expected: "[input ≥ 1, 4·units ≥ 4]", actual: forward.kernel.shape)
    }
    let (inputSize, units) = (forward.kernel.shape[0], forward.kernel.shape[1] / 4)
    let hasBias = forward.bias != nil
    if !hasBias, let extra = backward?.bias {
      throw LayerError.unexpectedKey(
        "backward bias (the forward layer has use_bias=False)", actual: extra.shape)
    }
    self.init(
      inputSize: inputSize, hiddenSize: units, bias: hasBias, batchFirst: batchFirst,
      bidirectional: backward != nil)
    var dict: [String: Tensor<Scalar>] = [:]
    for (suffix, weights) in [("_l0", forward), ("_l0_reverse", backward)] {
      guard let weights else { continue }
      let side = suffix == "_l0" ? "" : "backward "
      try LayerError.check(side + "kernel", weights.kernel, is: [inputSize, 4 * units])
      try LayerError.check(
        side + "recurrent_kernel", weights.recurrentKernel, is: [units, 4 * units])
      dict["weight_ih" + suffix] = weights.kernel.transposed(0, 1).contiguous()
      dict["weight_hh" + suffix] = weights.recurrentKernel.transposed(0, 1).contiguous()
      if hasBias {
        guard let bias = weights.bias else {
          throw LayerError.missingKey(side + "bias", expected: [4 * units])
        }
        try LayerError.check(side + "bias", bias, is: [4 * units])
        dict["bias_ih" + suffix] = bias.contiguous()
        dict["bias_hh" + suffix] = .zeros(shape: [4 * units])
      }
    }
    try loadStateDict(dict)
  }
}
