/// One layer-direction's parameters, contiguous, plus what the kernels derive from them once,
/// when the weights or the kernels are set: the pre-summed gate bias and the packed `W_hh`.
struct DirectionWeights<Scalar: BLASScalar>: Sendable {
  /// In PyTorch's order: weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr].
  var parameters: [Tensor<Scalar>]
  var weightIH: Tensor<Scalar> { parameters[0] }
  var weightHH: Tensor<Scalar> { parameters[1] }
  var weightHR: Tensor<Scalar>?
  /// `bias_ih + bias_hh`, or zeros: `[4H]`.
  var combinedBias: Tensor<Scalar>
  /// `weight_hh` packed for the fused step of ``packedISA``, when that can run (Float, and an
  /// instruction set chosen).
  var packedRecurrent: Tensor<Scalar>?
  /// The instruction set `packedRecurrent` is laid out for (its panel width).
  var packedISA: VectorISA?

  init(parameters: [Tensor<Scalar>], bias: Bool, projected: Bool, isa: VectorISA?) {
    self.parameters = parameters.map { $0.contiguous() }
    weightHR = projected ? self.parameters.last : nil
    let gateCount = parameters[0].shape[0]
    combinedBias =
      bias
      ? Tensor(
        shape: [gateCount], scalars: zip(parameters[2].scalars, parameters[3].scalars).map(+))
      : Tensor.zeros(shape: [gateCount])
    packedRecurrent = nil
    repack(for: isa)
  }

  /// Packs `W_hh` for `isa`'s kernels (or drops the packed copy for nil); nothing when already
  /// packed for it.
  mutating func repack(for isa: VectorISA?) {
    let usable = Scalar.self == Float.self ? isa : nil
    // packedISA is nil exactly when there is no packed copy, so equal means already done.
    if usable == packedISA { return }
    packedRecurrent = FusedStep.packedRecurrent(parameters[1], isa: usable)
    packedISA = packedRecurrent == nil ? nil : usable
  }
}
