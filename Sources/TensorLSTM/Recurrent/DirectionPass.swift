/// One layer-direction of a recurrent layer (LSTM, GRU or RNN) over all time steps, on a
/// slice's workspace regions.
///
/// Nothing here allocates: buffers come from the ``Workspace``, BLAS calls take pointers, and
/// the gate pass keeps its temporaries on the stack.
///
/// A traced forward runs the same pass with a ``TraceRecord``: the gate rows of every step go
/// to the record (one chunk), the gate passes leave the activations there, and the LSTM's `c`
/// of every step is kept, so that training's forward is this time loop too.
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
  /// What the panels `packedRecurrent` points to hold.
  var stepWeights: StepWeights
  /// What a traced forward keeps of this layer-direction; nil for a plain forward.
  var record: TraceRecord<Scalar>?
  /// The distance between gate rows: the geometry's padded stride, or the row width where the
  /// rows are a trace's (its backward reads them unpadded).
  var gateRowStride: Int

  var hidden: Int { geometry.hiddenSize }
  var hOut: Int { geometry.outputHiddenSize }
  /// The gate rows: the trace's, of every step, when recording; else the workspace's chunk.
  var gates: UnsafeMutablePointer<Scalar> { record?.gates ?? regions.gates }
  /// Whether the gate rows are a trace's, left holding the activations.
  var recordsGates: Bool { record?.gates != nil }
  /// Rows of one step in the gate rows and the record: the whole batch's in a trace (a slice
  /// steps over the others' rows), else this pass's.
  var rowsPerStep: Int { record?.rowsPerStep ?? batch }
  var cellState: UnsafeMutablePointer<Scalar> { regions.cellState }
  var initialHidden: UnsafeMutablePointer<Scalar> { regions.initialHidden }

  init(
    weights: DirectionWeights<Scalar>, plan: ForwardPlan, geometry: RecurrentGeometry,
    layer: Int, reverse: Bool, batch: Int, lengths: UnsafePointer<Int>?,
    regions: Workspace<Scalar>.SliceRegions, record: TraceRecord<Scalar>? = nil
  ) {
    self.weights = weights
    self.geometry = geometry
    (self.steps, self.batch, self.reverse, self.chunk) = (plan.steps, batch, reverse, plan.chunk)
    self.lengths = lengths
    kernel = plan.stepKernels[layer]
    self.regions = regions
    self.record = record
    gateRowStride = record?.gates == nil ? geometry.gateRowStride : geometry.rowWidth
    // A trace keeps the gate rows of every step: one chunk.
    if record?.gates != nil { chunk = steps }
    gatheredInput = layer == 0 ? regions.gatheredInput : nil
    isa = kernel == .portable ? nil : weights.packedISA
    let narrow = plan.streamedWeights != .float ? weights.packedRecurrentNarrow : nil
    stepWeights = narrow == nil ? .float : weights.narrowStep
    packedRecurrent =
      isa == nil
      ? nil
      : (narrow ?? weights.packedRecurrent).map {
        UnsafePointer($0.storage.base + $0.layout.offset)
      }
  }

  var cell: RecurrentCell { geometry.cell }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func run(input: Rows<Scalar>, output: Rows<Scalar>) {
    weights.weightIH.withBase { weightIH in
      weights.weightHH.withBase { weightHH in
        weights.rowBias.withBase { bias in
          // W_hhᵀ [Hout, G·H]: the stored [G·H, Hout] matrix read transposed.
          let recurrentWeights = StridedMatrix(
            base: weightHH, rows: hOut, columns: geometry.gateWidth, rowStride: 1,
            columnStride: hOut)
          let chunkCount = (steps + chunk - 1) / chunk
          for chunkIndex in 0..<chunkCount {
            let c = reverse ? chunkCount - 1 - chunkIndex : chunkIndex
            let first = c * chunk
            let count = Swift.min(chunk, steps - first)
            // Time-major gate rows: (step first + k, sequence b) at (k·B + b)·rowStride.
            let rowStride = gateRowStride
            // A trace's rows were projected for every slice at once (projectRecord).
            if !recordsGates {
              projectInputs(
                input, first: first, count: count, rows: (gates, rowStride, hidden),
                units: 0..<hidden, weightIH: weightIH, bias: bias, gathering: gatheredInput)
            }
            for k in 0..<count {
              let t = reverse ? first + count - 1 - k : first + k
              step(
                t, gateRows: gates + (t - first) * rowsPerStep * rowStride,
                gateRowStride: rowStride,
                recurrentWeights: recurrentWeights, output: output)
            }
          }
        }
      }
    }
  }

  /// Gate rows for steps `first..<first+count`, units `units` of every slot ← the row bias,
  /// plus x · W_ihᵀ of the cell's input gates (``RecurrentCell/inputRuns``), one GEMM per run
  /// over the chunk's input rows (``inputRows(_:first:count:gathering:)``), `W_ih`'s rows read
  /// in place. `rows` gives the buffer: its start, the distance between rows, and between
  /// slots (H for a whole row, the worker's unit count for the hidden split).
  func projectInputs(
    _ input: Rows<Scalar>, first: Int, count: Int,
    rows gateRows: (base: UnsafeMutablePointer<Scalar>, stride: Int, slot: Int),
    units: Range<Int>, weightIH: UnsafePointer<Scalar>, bias: UnsafePointer<Scalar>,
    gathering scratch: UnsafeMutablePointer<Scalar>?
  ) {
    let (n, features) = (units.count, input.features)
    let x = inputRows(input, first: first, count: count, gathering: scratch)
    if let kernel = weights.inputInt8Kernel, units.lowerBound % kernel.width == 0 {
      projectInt8(x, rows: gateRows, units: units, bias: bias, kernel: kernel)
      return
    }
    if x.rows > 1, let packed = weights.packedInput.first,
      n == hidden || (hidden % packed.panelWidth == 0 && units.lowerBound % packed.panelWidth == 0)
    {
      projectPacked(x, rows: gateRows, units: units, bias: bias)
      return
    }
    if n == hidden {
      // All units: the row bias is one run per row.
      for row in 0..<(count * batch) {
        (gateRows.base + row * gateRows.stride).update(from: bias, count: cell.rowGates * n)
      }
    } else {
      for slot in 0..<cell.rowGates {
        let source = bias + slot * hidden + units.lowerBound
        for row in 0..<(count * batch) {
          (gateRows.base + row * gateRows.stride + slot * gateRows.slot).update(
            from: source, count: n)
        }
      }
    }
    let runs = cell.inputRuns
    project(runs.first)
    if let second = runs.second { project(second) }
    func project(_ run: RecurrentCell.InputRun) {
      // A run of whole gates is one GEMM when this pass owns all units (slots H apart, as in
      // W_ih); a worker's share takes one GEMM per gate.
      let perGate = n != hidden
      let gates = perGate ? run.gates : run.gates.lowerBound..<(run.gates.lowerBound + 1)
      for g in gates {
        let columns = perGate ? n : run.gates.count * hidden
        let weights = weightIH + (g * hidden + units.lowerBound) * features
        let into = gateRows.base + (run.slot + g - run.gates.lowerBound) * gateRows.slot
        if x.rows == 1, x.columnStride == 1 || features == 1, let isa, Scalar.self == Float.self {
          // One input row (batch-1 streaming): the skinny kernel reads W_ih's rows in place
          // at the CPU's width, where the BLAS's gemv may run narrower kernels (OpenBLAS
          // 0.3.21 picks 128-bit ones on some CPUs that have 512-bit vectors).
          FusedStep.skinnyGemm(
            weights, lda: features, x.base, ldb: features, into: into, ldc: 1, rows: columns,
            cols: 1, k: features, isa: isa)
          continue
        }
        BLAS.gemm(
          x,
          StridedMatrix(
            base: weightIH + (g * hidden + units.lowerBound) * features, rows: features,
            columns: columns, rowStride: 1, columnStride: features),
          into: gateRows.base + (run.slot + g - run.gates.lowerBound) * gateRows.slot,
          rowStride: gateRows.stride, beta: 1)
      }
    }
  }

  /// `units` of `x`'s gate rows on the packed GEMM (``DirectionWeights/packedInput``): each
  /// run of input gates is one product for all units, or one per gate of a worker's share —
  /// its columns of the packed `W_ihᵀ` when they are whole panels — whose tiles add the row
  /// bias as they are stored, so the rows are written once; slots no input gate reaches (the
  /// GRU's `n_h`) get their bias copied.
  func projectPacked(
    _ x: StridedMatrix<Scalar>,
    rows gateRows: (base: UnsafeMutablePointer<Scalar>, stride: Int, slot: Int),
    units: Range<Int>, bias: UnsafePointer<Scalar>
  ) {
    let (u0, n) = (units.lowerBound, units.count)
    copyUnreachedBias(rows: x.rows, into: gateRows, units: units, bias: bias)
    let runs = cell.inputRuns
    project(runs.first, weights.packedInput[0])
    if let second = runs.second { project(second, weights.packedInput[1]) }
    func project(_ run: RecurrentCell.InputRun, _ packed: PackedMatrix<Scalar>) {
      if n == hidden {
        PackedGEMM.multiply(
          x, packed, into: gateRows.base + run.slot * gateRows.slot, rowStride: gateRows.stride,
          bias: bias + run.slot * hidden, accumulate: false)
        return
      }
      for gate in 0..<run.gates.count {
        let column = gate * hidden + u0
        PackedGEMM.multiply(
          x, packed, columns: column..<(column + n),
          into: gateRows.base + (run.slot + gate) * gateRows.slot, rowStride: gateRows.stride,
          bias: bias + run.slot * hidden + column, accumulate: false)
      }
    }
  }

  /// Slots no input gate reaches (the GRU's `n_h`) of `rows` gate rows ← their bias at `units`.
  func copyUnreachedBias(
    rows: Int, into gateRows: (base: UnsafeMutablePointer<Scalar>, stride: Int, slot: Int),
    units: Range<Int>, bias: UnsafePointer<Scalar>
  ) {
    for slot in 0..<cell.rowGates where !cell.inputReaches(slot: slot) {
      for row in 0..<rows {
        (gateRows.base + row * gateRows.stride + slot * gateRows.slot).update(
          from: bias + slot * hidden + units.lowerBound, count: units.count)
      }
    }
  }

  /// `units` of `x`'s gate rows in int8 (``WeightPrecision/int8``): each run of input gates is
  /// one ``FusedStep/projectInt8`` over the quantized `W_ih` rows
  /// (``DirectionWeights/packedInputInt8``), `x` quantized per row, the bias added as the rows
  /// are stored; slots no input gate reaches get their bias copied.
  func projectInt8(
    _ x: StridedMatrix<Scalar>,
    rows gateRows: (base: UnsafeMutablePointer<Scalar>, stride: Int, slot: Int),
    units: Range<Int>, bias: UnsafePointer<Scalar>, kernel: Int8Kernel
  ) {
    copyUnreachedBias(rows: x.rows, into: gateRows, units: units, bias: bias)
    let runs = cell.inputRuns
    project(runs.first, weights.packedInputInt8[0])
    if let second = runs.second { project(second, weights.packedInputInt8[1]) }
    func project(_ run: RecurrentCell.InputRun, _ packed: Tensor<Scalar>) {
      packed.withBase { p in
        FusedStep.projectInt8(
          kernel: kernel, packed: p, gates: run.gates.count, firstUnit: units.lowerBound,
          units: units.count, x, bias: bias + run.slot * hidden + units.lowerBound,
          biasBlock: hidden, into: gateRows.base + run.slot * gateRows.slot,
          rowStride: gateRows.stride, block: gateRows.slot)
      }
    }
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

  /// The cell update for one row whose slots are `count` apart (`hidden` by default): the vector
  /// kernel of ``isa`` when set, else Swift's. `hOld` is h(t−1) at these units (the GRU reads
  /// it).
  func applyGates(
    _ gates: UnsafeMutablePointer<Scalar>, cell c: UnsafeMutablePointer<Scalar>,
    hOld: UnsafePointer<Scalar>, hidden h: UnsafeMutablePointer<Scalar>, count: Int? = nil
  ) {
    let count = count ?? hidden
    if recordsGates {
      // A trace keeps the activations in the row: the Swift passes that store them.
      switch cell {
      case .lstm: LSTMGatePass.trace(gates: gates, cell: c, hidden: h, count: count)
      case .gru: GRUGatePass.trace(gates: gates, hOld: hOld, hidden: h, count: count)
      case .rnn: preconditionFailure("DirectionPass: an RNN's trace keeps no gate rows")
      }
      return
    }
    if let isa {
      FusedStep.gates(
        cell: cell, isa: isa, UnsafePointer(gates), cell: c, hOld: hOld, hidden: h, count: count)
      return
    }
    switch cell {
    case .lstm: LSTMGatePass.apply(gates: gates, cell: c, hidden: h, count: count)
    case .gru: GRUGatePass.apply(gates: gates, hOld: hOld, hidden: h, count: count)
    case .rnn(let nonlinearity):
      RNNGatePass.apply(nonlinearity, gates: gates, hidden: h, count: count)
    }
  }

  /// One time step, h into the output: the fused vector step (recurrent product and cell
  /// update in one pass) when it runs, else a recurrent GEMM into the gate rows and the gate
  /// pass (two GEMMs and two passes for the reset-before GRU).
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
    // h(t−1) of sequence b for the cell update (the GRU's h_old): h(0) where its reverse pass
    // starts, as the padding row is zeroed again below.
    func hOld(_ b: Int) -> UnsafePointer<Scalar> {
      if let lengths, reverse, !isFirst, lengths[b] == t + 1 {
        return UnsafePointer(initialHidden + b * hOut)
      }
      return hPrevious + b * hPreviousStride
    }
    let projected = geometry.projected
    let (h, hStride) =
      projected ? (regions.projection, hidden) : (output.row(time: t, batch: 0), output.batchStride)
    let c = stepCell(t, units: 0..<hidden)
    if kernel == .fused, let packedRecurrent, let isa {
      FusedStep.step(
        cell: cell, isa: isa, packed: packedRecurrent, units: hidden, k: hOut,
        hPrevious: hPrevious, hPreviousStride: hPreviousStride, hOld: hPrevious,
        gates: gateRows, gateStride: gateRowStride, gateBlock: hidden, cell: c,
        cellStride: hidden, hidden: h, hiddenStride: hStride, batch: batch, trace: recordsGates,
        weights: stepWeights)
    } else {
      // h(t−1) · W_hhᵀ of the recurrent gates (all but the reset-before GRU's n) into their
      // slots.
      BLAS.gemm(
        StridedMatrix(
          base: hPrevious, rows: batch, columns: hOut, rowStride: hPreviousStride, columnStride: 1),
        recurrentWeights.columns(0..<(cell.recurrentGates * hidden)), into: gateRows,
        rowStride: gateRowStride, beta: 1)
      if let lengths, reverse, !isFirst {
        for b in 0..<batch where lengths[b] == t + 1 {
          output.row(time: previous, batch: b).update(repeating: 0, count: hOut)
        }
      }
      if kernel == .resetBeforeGEMMs {
        resetBeforeStep(
          t, gateRows: gateRows, gateRowStride: gateRowStride,
          recurrentWeights: recurrentWeights, hOld: hOld, h: h, hStride: hStride)
      } else {
        for b in 0..<batch {
          if isValid(t, b) {
            applyGates(
              gateRows + b * gateRowStride, cell: c + b * hidden, hOld: hOld(b),
              hidden: h + b * hStride)
          } else if !projected {
            (h + b * hStride).update(repeating: 0, count: hOut)
          }
        }
      }
    }
    if let weightHR = weights.weightHR {
      // h = h_full · W_hrᵀ, [B, H] · [H, Hout], written into the output rows.
      let hFull = StridedMatrix(
        base: UnsafePointer(regions.projection), rows: batch, columns: hidden, rowStride: hidden,
        columnStride: 1)
      if let packed = weights.packedHRInt8, let int8 = weights.inputInt8Kernel {
        // In int8: h_full quantized per row, as the step quantizes h(t−1).
        packed.withBase { p in
          FusedStep.projectInt8(
            kernel: int8, packed: p, gates: 1, firstUnit: 0, units: hOut, hFull, bias: nil,
            biasBlock: 0, into: output.row(time: t, batch: 0), rowStride: output.batchStride,
            block: 0)
        }
      } else {
        weightHR.withBase { weights in
          let weightsT = StridedMatrix(
            base: weights, rows: hidden, columns: hOut, rowStride: 1, columnStride: hidden)
          BLAS.gemm(
            hFull, weightsT, into: output.row(time: t, batch: 0), rowStride: output.batchStride)
        }
      }
      for b in 0..<batch where !isValid(t, b) {
        output.row(time: t, batch: b).update(repeating: 0, count: hOut)
      }
    }
  }

  /// The reset-before GRU after r and z have their recurrent part: `r ⊙ h_old` into the
  /// workspace (a trace's record), its product with `W_hnᵀ` into n (one GEMM for the batch),
  /// then h; the row is left holding σ(r), σ(z), tanh(n).
  private func resetBeforeStep(
    _ t: Int, gateRows: UnsafeMutablePointer<Scalar>, gateRowStride: Int,
    recurrentWeights: StridedMatrix<Scalar>, hOld: (Int) -> UnsafePointer<Scalar>,
    h: UnsafeMutablePointer<Scalar>, hStride: Int
  ) {
    let resetHidden =
      record?.resetHidden.map { $0 + t * rowsPerStep * hidden } ?? regions.resetHidden
    for b in 0..<batch {
      if isValid(t, b) {
        GRUGatePass.resetHidden(
          gates: gateRows + b * gateRowStride, hOld: hOld(b), into: resetHidden + b * hidden,
          count: hidden)
      } else {
        (resetHidden + b * hidden).update(repeating: 0, count: hidden)
      }
    }
    BLAS.gemm(
      StridedMatrix(
        base: UnsafePointer(resetHidden), rows: batch, columns: hidden, rowStride: hidden,
        columnStride: 1),
      recurrentWeights.columns((2 * hidden)..<(3 * hidden)), into: gateRows + 2 * hidden,
      rowStride: gateRowStride, beta: 1)
    for b in 0..<batch {
      if isValid(t, b) {
        GRUGatePass.update(
          gates: gateRows + b * gateRowStride, hOld: hOld(b), hidden: h + b * hStride,
          count: hidden)
      } else {
        (h + b * hStride).update(repeating: 0, count: hOut)
      }
    }
  }
}
