/// One layer-direction's parameters, contiguous, plus what the kernels derive from them once,
/// when the weights or the kernels are set: the gate rows' bias, the packed `W_hh` and, where
/// the packed GEMM runs the input projection, the packed `W_ihᵀ`.
struct DirectionWeights<Scalar: BLASScalar>: Sendable {
  /// In PyTorch's order: weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr]; the source of
  /// truth at every ``WeightPrecision``.
  var parameters: [Tensor<Scalar>]
  /// The weights the forward computes with: `parameters`' at `.float`, rounded copies at a
  /// narrower ``precision``.
  var weightIH: Tensor<Scalar> { rounded?.ih ?? parameters[0] }
  var weightHH: Tensor<Scalar> { rounded?.hh ?? parameters[1] }
  var weightHR: Tensor<Scalar>? { projected ? (rounded?.hr ?? parameters.last) : nil }
  /// Whether the last parameter is the LSTM's `weight_hr`.
  let projected: Bool
  /// The precision the forward streams the weights in.
  private(set) var precision: WeightPrecision = .float
  /// `weight_ih`, `weight_hh` and `weight_hr` rounded to ``precision``; nil at `.float`.
  private var rounded: (ih: Tensor<Scalar>, hh: Tensor<Scalar>, hr: Tensor<Scalar>?)?
  /// The recurrence the weights are for.
  var cell: RecurrentCell
  /// Whether `parameters` holds `bias_ih` and `bias_hh`.
  var hasBias: Bool
  /// The bias preloaded into every gate row, `[rowGates · H]` (``RecurrentCell/rowBias``), or
  /// zeros without biases.
  var rowBias: Tensor<Scalar>
  /// `weight_hh` packed for the fused step of ``packedISA``, when that can run (Float or
  /// Double, and an instruction set chosen).
  var packedRecurrent: Tensor<Scalar>?
  /// The instruction set `packedRecurrent` is laid out for (its panel width).
  var packedISA: VectorISA?
  /// At `.bfloat16` or `.int8`, `W_hh` packed at that precision for the fused step too (the
  /// same values as `packedRecurrent`, fewer bytes); the plan says where the step streams it
  /// (``ForwardPlan/streamedWeights``).
  var packedRecurrentNarrow: Tensor<Scalar>?
  /// What `packedRecurrentNarrow` holds: `.bfloat16`, or `.int8` for one int8 kernel.
  var narrowStep: StepWeights = .float
  /// `W_ihᵀ` packed for ``PackedGEMM`` on `packedISA`, one matrix per run of input gates
  /// (``RecurrentCell/inputRuns``: columns `gates · H`), when the packed GEMM runs the input
  /// projection (``GEMMCalibration/packsProjection(_:_:)``); empty when sgemm does.
  var packedInput: [PackedMatrix<Scalar>] = []
  /// At `.int8` with an int8 kernel: `W_ih`'s quantized rows packed for
  /// ``FusedStep/projectInt8``, one per run of input gates (as `packedInput`), so the input
  /// projection runs in int8 too; empty otherwise.
  var packedInputInt8: [Tensor<Scalar>] = []
  /// The kernel `packedInputInt8` (and `packedHRInt8`) is laid out for.
  var inputInt8Kernel: Int8Kernel?
  /// At `.int8` with an int8 kernel, the LSTM's `weight_hr` `[P, H]` packed the same way (one
  /// gate of P units), so each step's `h = (o ⊙ tanh c) · W_hrᵀ` runs in int8; nil otherwise.
  var packedHRInt8: Tensor<Scalar>?

  init(
    cell: RecurrentCell, parameters: [Tensor<Scalar>], bias: Bool, projected: Bool,
    kernels: RecurrentKernels, precision: WeightPrecision = .float
  ) {
    (self.cell, hasBias, self.projected) = (cell, bias, projected)
    self.parameters = parameters.map { $0.contiguous() }
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
    repack(for: kernels, precision: precision)
  }

  /// Rounds the weights to `precision` and packs `W_hh` (and `W_ihᵀ` where the packed GEMM
  /// projects) for `kernels`' instruction set, or drops the packed copies for the portable path;
  /// nothing when already done so.
  mutating func repack(for kernels: RecurrentKernels, precision: WeightPrecision) {
    let usable = Scalar.self == Float.self || Scalar.self == Double.self ? kernels.vectorISA : nil
    let int8Kernel = usable == nil ? nil : kernels.int8Kernel
    // At int8 the int8 projection replaces the packed Float one.
    let packsInput =
      usable != nil && GEMMCalibration.packsProjection(kernels, Scalar.self)
      && !(precision == .int8 && int8Kernel != nil)
    let narrow: StepWeights =
      switch precision {
      case .float: .float
      case .bfloat16: .bfloat16
      case .int8: int8Kernel.map { .int8($0) } ?? .float
      }
    // packedISA is nil exactly when there is no packed copy, so equal means already done.
    if usable == packedISA && packsInput == !packedInput.isEmpty && precision == self.precision
      && (precision == .float) == (rounded == nil)
      && (packedRecurrent == nil || narrow == narrowStep)
      && (precision == .int8 ? int8Kernel : nil) == inputInt8Kernel
    {
      return
    }
    self.precision = precision
    var quantizedHH: Int8Weights? = nil
    var quantizedIH: Int8Weights? = nil
    var quantizedHR: Int8Weights? = nil
    switch precision {
    case .float: rounded = nil
    case .bfloat16:
      rounded = (
        FusedStep.bfloat16Rounded(parameters[0]), FusedStep.bfloat16Rounded(parameters[1]),
        projected ? FusedStep.bfloat16Rounded(parameters[parameters.count - 1]) : nil
      )
    case .int8:
      let (ih, hh) = (
        FusedStep.int8Quantized(parameters[0]), FusedStep.int8Quantized(parameters[1])
      )
      let hr = projected ? FusedStep.int8Quantized(parameters[parameters.count - 1]) : nil
      (quantizedIH, quantizedHH, quantizedHR) = (ih.0, hh.0, hr?.0)
      rounded = (ih.dequantized, hh.dequantized, hr?.dequantized)
    }
    packedRecurrent = FusedStep.packedRecurrent(weightHH, cell: cell, isa: usable)
    packedISA = packedRecurrent == nil ? nil : usable
    switch narrow {
    case .float: packedRecurrentNarrow = nil
    case .bfloat16:
      packedRecurrentNarrow = FusedStep.packedRecurrent(
        weightHH, cell: cell, isa: usable, precision: .bfloat16)
    case .int8(let kernel):
      packedRecurrentNarrow = quantizedHH.flatMap {
        FusedStep.packedInt8($0, cell: cell, kernel: kernel)
      }
    }
    narrowStep = packedRecurrentNarrow == nil ? .float : narrow
    // The runs of input gates, each packed as one matrix (int8 or Float).
    let runs = cell.inputRuns
    let inputRuns = [runs.first] + (runs.second.map { [$0] } ?? [])
    let hidden = parameters[0].shape[0] / cell.gateCount
    inputInt8Kernel = quantizedIH == nil ? nil : int8Kernel
    packedHRInt8 = quantizedHR.flatMap { hr in
      inputInt8Kernel.map { FusedStep.packedInt8(hr, gates: 0..<1, units: hr.rows, kernel: $0) }
    }
    packedInputInt8 = []
    if let quantizedIH, let kernel = inputInt8Kernel {
      packedInputInt8 = inputRuns.map {
        FusedStep.packedInt8(quantizedIH, gates: $0.gates, units: hidden, kernel: kernel)
      }
    }
    packedInput = []
    guard packsInput, let isa = packedISA else { return }
    let features = parameters[0].shape[1]
    weightIH.withBase { w in
      for run in inputRuns {
        let base = UnsafePointer(w + run.gates.lowerBound * hidden * features)
        packedInput.append(
          PackedMatrix(
            StridedMatrix(
              base: base, rows: features, columns: run.gates.count * hidden, rowStride: 1,
              columnStride: features), isa: isa))
      }
    }
  }
}
