/// One Keras recurrent layer's weights, as `layer.get_weights()` returns them: `kernel`
/// `[I, G·u]`, `recurrent_kernel` `[u, G·u]` and `bias` (`[G·u]`, or the GRU's `[2, 3u]` with
/// `reset_after=True`), G = 4 for `LSTM` (gates i, f, c, o; c is PyTorch's g) and 3 for `GRU`
/// (z, r, h).
public struct KerasRecurrentWeights<Scalar: BLASScalar>: Sendable {
  /// `[I, G·u]`.
  public var kernel: Tensor<Scalar>
  /// `[u, G·u]`.
  public var recurrentKernel: Tensor<Scalar>
  /// `[G·u]` (or `[2, 3u]`), or nil for `use_bias=False`.
  public var bias: Tensor<Scalar>?

  /// The arrays of `layer.get_weights()`; O(1), shares storage.
  public init(kernel: Tensor<Scalar>, recurrentKernel: Tensor<Scalar>, bias: Tensor<Scalar>?) {
    self.kernel = kernel
    self.recurrentKernel = recurrentKernel
    self.bias = bias
  }

  /// Checks what every Keras converter checks before it builds a layer: the forward kernel is
  /// `[input ≥ 1, gates·units ≥ gates]`, both directions' kernels have its shape, and the
  /// directions agree on having a bias. Returns the input size and units.
  static func validate(
    _ forward: Self, backward: Self?, gates: Int
  ) throws -> (inputSize: Int, units: Int) {
    guard forward.kernel.rank == 2, forward.kernel.shape[1] % gates == 0,
      forward.kernel.shape[1] > 0, forward.kernel.shape[0] > 0
    else {
      throw LayerError.rankMismatch(
        name: "kernel", expected: "[input ≥ 1, \(gates)·units ≥ \(gates)]",
        actual: forward.kernel.shape)
    }
    let (inputSize, units) = (forward.kernel.shape[0], forward.kernel.shape[1] / gates)
    if forward.bias == nil, let extra = backward?.bias {
      throw LayerError.unexpectedKey(
        "backward bias (the forward layer has use_bias=False)", actual: extra.shape)
    }
    for (side, weights) in [("", forward), ("backward ", backward)] {
      guard let weights else { continue }
      try LayerError.check(side + "kernel", weights.kernel, is: [inputSize, gates * units])
      try LayerError.check(
        side + "recurrent_kernel", weights.recurrentKernel, is: [units, gates * units])
    }
    return (inputSize, units)
  }
}

/// A Keras `LSTM` layer's weights (``KerasRecurrentWeights`` with 4 gates).
public typealias KerasLSTMWeights<Scalar: BLASScalar> = KerasRecurrentWeights<Scalar>

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
    let (inputSize, units) = try KerasLSTMWeights.validate(forward, backward: backward, gates: 4)
    let hasBias = forward.bias != nil
    self.init(
      inputSize: inputSize, hiddenSize: units, bias: hasBias, batchFirst: batchFirst,
      bidirectional: backward != nil)
    var dict: [String: Tensor<Scalar>] = [:]
    for (suffix, weights) in [("_l0", forward), ("_l0_reverse", backward)] {
      guard let weights else { continue }
      let side = suffix == "_l0" ? "" : "backward "
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
