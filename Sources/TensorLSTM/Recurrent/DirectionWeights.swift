/// One layer-direction's parameters, contiguous, plus what the kernels derive from them once,
/// when the weights or the kernels are set: the gate rows' bias and the packed `W_hh`.
struct DirectionWeights<Scalar: BLASScalar>: Sendable {
  /// In PyTorch's order: weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr].
  var parameters: [Tensor<Scalar>]
  var weightIH: Tensor<Scalar> { parameters[0] }
  var weightHH: Tensor<Scalar> { parameters[1] }
  var weightHR: Tensor<Scalar>?
  /// The recurrence the weights are for.
  var cell: RecurrentCell
  /// Whether `parameters` holds `bias_ih` and `bias_hh`.
  var hasBias: Bool
  /// The bias preloaded into every gate row, `[rowGates · H]` (``RecurrentCell/rowBias``), or
  /// zeros without biases.
  var rowBias: Tensor<Scalar>
  /// `weight_hh` packed for the fused step of ``packedISA``, when that can run (Float, and an
  /// instruction set chosen).
  var packedRecurrent: Tensor<Scalar>?
  /// The instruction set `packedRecurrent` is laid out for (its panel width).
  var packedISA: VectorISA?

  init(
    cell: RecurrentCell, parameters: [Tensor<Scalar>], bias: Bool, projected: Bool,
    isa: VectorISA?
  ) {
    (self.cell, hasBias) = (cell, bias)
    self.parameters = parameters.map { $0.contiguous() }
    weightHR = projected ? self.parameters.last : nil
    let hidden = parameters[0].shape[0] / cell.gateCount
    let width = cell.rowGates * hidden
    rowBias =
      bias
      ? Tensor(
        shape: [width],
        scalars: cell.rowBias(
          input: parameters[2].scalars, recurrent: parameters[3].scalars, hidden: hidden))
      : Tensor.zeros(shape: [width])
    packedRecurrent = nil
    repack(for: isa)
  }

  /// Packs `W_hh` for `isa`'s kernels (or drops the packed copy for nil); nothing when already
  /// packed for it.
  mutating func repack(for isa: VectorISA?) {
    let usable = Scalar.self == Float.self ? isa : nil
    // packedISA is nil exactly when there is no packed copy, so equal means already done.
    if usable == packedISA { return }
    packedRecurrent = FusedStep.packedRecurrent(parameters[1], cell: cell, isa: usable)
    packedISA = packedRecurrent == nil ? nil : usable
  }
}
