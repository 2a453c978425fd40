/// One layer-direction's parameters, contiguous, plus the pre-summed gate bias.
struct DirectionWeights<Scalar: BLASScalar>: Sendable {
  /// In PyTorch's order: weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr].
  var parameters: [Tensor<Scalar>]
  var weightIH: Tensor<Scalar> { parameters[0] }
  var weightHH: Tensor<Scalar> { parameters[1] }
  var weightHR: Tensor<Scalar>?
  /// `bias_ih + bias_hh`, or zeros: `[4H]`.
  var combinedBias: Tensor<Scalar>
  /// `weight_hh` packed for the fused step, when that can run (Float on AVX2+FMA).
  var packedRecurrent: Tensor<Scalar>?

  init(parameters: [Tensor<Scalar>], bias: Bool, projected: Bool) {
    self.parameters = parameters.map { $0.contiguous() }
    weightHR = projected ? self.parameters.last : nil
    let gateCount = parameters[0].shape[0]
    combinedBias =
      bias
      ? Tensor(
        shape: [gateCount], scalars: zip(parameters[2].scalars, parameters[3].scalars).map(+))
      : Tensor.zeros(shape: [gateCount])
    packedRecurrent = FusedStep.packedRecurrent(self.parameters[1])
  }
}
