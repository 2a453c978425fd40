/// One layer-direction of the LSTM over all time steps, on a slice's workspace regions.
///
/// Nothing here allocates: buffers come from the ``Workspace``, BLAS calls take pointers, and
/// the gate pass keeps its temporaries on the stack.
struct DirectionPass<Scalar: BLASScalar> {
  var weights: DirectionWeights<Scalar>
  var geometry: RecurrentGeometry
  var steps: Int
  /// Sequences of this slice.
  var batch: Int
  var reverse: Bool
  /// Time steps per gate-buffer chunk.
  var chunk: Int
  /// Valid steps per sequence, or nil when all are `steps` long.
  var lengths: UnsafePointer<Int>?
  var kernel: ForwardPlan.StepKernel
  /// The slice's gate rows, `c`, unprojected `h` and h(0).
  var regions: Workspace<Scalar>.SliceRegions
  /// `[chunk, B, I]` scratch for gathering the input rows of a chunk into one GEMM operand when
  /// they are not one strided run; nil when they are.
  var gatheredInput: UnsafeMutablePointer<Scalar>?
  /// `weights.packedRecurrent` when the fused kernels run (kept alive by `weights`).
  var packedRecurrent: UnsafePointer<Scalar>?
  /// The instruction set of the vector kernels (fused step and gate pass), nil for portable.
  var isa: VectorISA?

  var hidden: Int { geometry.hiddenSize }
  var hOut: Int { geometry.outputHiddenSize }
  var gates: UnsafeMutablePointer<Scalar> { regions.gates }
  var cellState: UnsafeMutablePointer<Scalar> { regions.cellState }
  var initialHidden: UnsafeMutablePointer<Scalar> { regions.initialHidden }

  init(
    weights: DirectionWeights<Scalar>, plan: ForwardPlan, geometry: RecurrentGeometry,
    layer: Int, reverse: Bool, batch: Int, lengths: UnsafePointer<Int>?,
    regions: Workspace<Scalar>.SliceRegions
  ) {
    self.weights = weights
    self.geometry = geometry
    (self.steps, self.batch, self.reverse, self.chunk) = (plan.steps, batch, reverse, plan.chunk)
    self.lengths = lengths
    kernel = plan.stepKernels[layer]
    self.regions = regions
    gatheredInput = layer == 0 ? regions.gatheredInput : nil
    isa = kernel == .portable ? nil : weights.packedISA
    packedRecurrent =
      isa == nil
      ? nil : weights.packedRecurrent.map { UnsafePointer($0.storage.base + $0.layout.offset) }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func run(input: Rows<Scalar>, output: Rows<Scalar>) {
    let gateWidth = geometry.gateWidth
    weights.weightIH.withBase { weightIH in
      weights.weightHH.withBase { weightHH in
        weights.combinedBias.withBase { bias in
          // W_ihᵀ [I, 4H] and W_hhᵀ [Hout, 4H]: the stored [4H, ·] matrices read transposed.
          let inputWeights = StridedMatrix(
            base: weightIH, rows: input.features, columns: gateWidth, rowStride: 1,
            columnStride: input.features)
          let recurrentWeights = StridedMatrix(
            base: weightHH, rows: hOut, columns: gateWidth, rowStride: 1, columnStride: hOut)
          let chunkCount = (steps + chunk - 1) / chunk
          for chunkIndex in 0..<chunkCount {
            let c = reverse ? chunkCount - 1 - chunkIndex : chunkIndex
            let first = c * chunk
            let count = Swift.min(chunk, steps - first)
            // Time-major gate rows: (step first + k, sequence b) at (k·B + b)·rowStride.
            let rowStride = geometry.gateRowStride
            projectInputs(
              input, first: first, count: count, rowStride: rowStride, weights: inputWeights,
              bias: bias)
            for k in 0..<count {
              let t = reverse ? first + count - 1 - k : first + k
              step(
                t, gateRows: gates + (t - first) * batch * rowStride, gateRowStride: rowStride,
                recurrentWeights: recurrentWeights, output: output)
            }
          }
        }
      }
    }
  }

  /// Gate rows for steps `first..<first+count` ← bias + x · W_ihᵀ, in one GEMM over the
  /// chunk's input rows (``inputRows(_:first:count:gathering:)``).
  func projectInputs(
    _ input: Rows<Scalar>, first: Int, count: Int, rowStride gateRowStride: Int,
    weights: StridedMatrix<Scalar>, bias: UnsafePointer<Scalar>
  ) {
    let gateWidth = geometry.gateWidth
    for row in 0..<(count * batch) {
      (gates + row * gateRowStride).update(from: bias, count: gateWidth)
    }
    let rows = inputRows(input, first: first, count: count, gathering: gatheredInput)
    BLAS.gemm(rows, weights, into: gates, rowStride: gateRowStride, beta: 1)
  }

  /// The input rows of steps `first..<first+count`, all sequences, in time-major order, as one
  /// GEMM operand: read in place when they are one strided run (time-major input, or one
  /// sequence), otherwise gathered into `scratch` first. Gathering makes one GEMM of what would
  /// be `count`, each repacking all of W_ih (large shape, batch-first, 1 thread: 1.19× → 1.03×
  /// the bare-sgemm time).
  func inputRows(
    _ input: Rows<Scalar>, first: Int, count: Int, gathering scratch: UnsafeMutablePointer<Scalar>?
  ) -> StridedMatrix<Scalar> {
    let features = input.features
    let runStride: Int? =
      count * batch == 1
      ? features
      : batch == 1
        ? input.timeStride
        : (input.timeStride == batch * input.batchStride ? input.batchStride : nil)
    if let runStride {
      return StridedMatrix(
        base: UnsafePointer(input.row(time: first, batch: 0)), rows: count * batch,
        columns: features, rowStride: runStride, columnStride: 1)
    }
    guard let scratch else {
      preconditionFailure(
        "DirectionPass: strided input rows without a gather buffer; the plan must gather them")
    }
    for k in 0..<count {
      for b in 0..<batch {
        (scratch + (k * batch + b) * features).update(
          from: input.row(time: first + k, batch: b), count: features)
      }
    }
    return StridedMatrix(
      base: UnsafePointer(scratch), rows: count * batch, columns: features, rowStride: features,
      columnStride: 1)
  }

  func isValid(_ t: Int, _ b: Int) -> Bool { lengths.map { t < $0[b] } ?? true }

  /// The gate pass for one row: the vector kernel of ``isa`` when set, else Swift's.
  func applyGates(
    _ gates: UnsafeMutablePointer<Scalar>, cell: UnsafeMutablePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int? = nil
  ) {
    if let isa {
      FusedStep.gates(isa: isa, UnsafePointer(gates), cell: cell, hidden: h, count: count ?? hidden)
    } else {
      LSTMGatePass.apply(gates: gates, cell: cell, hidden: h, count: count ?? hidden)
    }
  }

  /// One time step, h into the output: the fused vector step (recurrent product and gate math in
  /// one pass) when it runs, else a recurrent GEMM into the gate rows and the gate pass.
  func step(
    _ t: Int, gateRows: UnsafeMutablePointer<Scalar>, gateRowStride: Int,
    recurrentWeights: StridedMatrix<Scalar>, output: Rows<Scalar>
  ) {
    let isFirst = reverse ? t == steps - 1 : t == 0
    let previous = reverse ? t + 1 : t - 1
    if let lengths, reverse, !isFirst {
      // A sequence whose reverse pass starts here reads h(0), not the zero padding after it.
      for b in 0..<batch where lengths[b] == t + 1 {
        output.row(time: previous, batch: b).update(from: initialHidden + b * hOut, count: hOut)
      }
    }
    let (hPrevious, hPreviousStride) =
      isFirst
      ? (UnsafePointer(initialHidden), hOut)
      : (UnsafePointer(output.row(time: previous, batch: 0)), output.batchStride)
    let projected = geometry.projected
    let (h, hStride) =
      projected ? (regions.projection, hidden) : (output.row(time: t, batch: 0), output.batchStride)
    if kernel == .fused, let packedRecurrent, let isa {
      FusedStep.step(
        isa: isa, packed: packedRecurrent, units: hidden, k: hOut, hPrevious: hPrevious,
        hPreviousStride: hPreviousStride, gates: gateRows, gateStride: gateRowStride,
        gateBlock: hidden, cell: cellState, cellStride: hidden, hidden: h, hiddenStride: hStride,
        batch: batch)
    } else {
      BLAS.gemm(
        StridedMatrix(
          base: hPrevious, rows: batch, columns: hOut, rowStride: hPreviousStride, columnStride: 1),
        recurrentWeights, into: gateRows, rowStride: gateRowStride, beta: 1)
      if let lengths, reverse, !isFirst {
        for b in 0..<batch where lengths[b] == t + 1 {
          output.row(time: previous, batch: b).update(repeating: 0, count: hOut)
        }
      }
      for b in 0..<batch {
        if isValid(t, b) {
          applyGates(
            gateRows + b * gateRowStride, cell: cellState + b * hidden, hidden: h + b * hStride)
        } else if !projected {
          (h + b * hStride).update(repeating: 0, count: hOut)
        }
      }
    }
    if let weightHR = weights.weightHR {
      weightHR.withBase { weights in
        // h = h_full · W_hrᵀ, [B, H] · [H, Hout], written into the output rows.
        let hFull = StridedMatrix(
          base: UnsafePointer(regions.projection), rows: batch, columns: hidden, rowStride: hidden,
          columnStride: 1)
        let weightsT = StridedMatrix(
          base: weights, rows: hidden, columns: hOut, rowStride: 1, columnStride: hidden)
        BLAS.gemm(
          hFull, weightsT, into: output.row(time: t, batch: 0), rowStride: output.batchStride)
      }
      for b in 0..<batch where !isValid(t, b) {
        output.row(time: t, batch: b).update(repeating: 0, count: hOut)
      }
    }
  }
}
