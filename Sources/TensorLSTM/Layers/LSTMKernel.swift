/// One layer-direction of the LSTM over all time steps, on preallocated buffers.
///
/// Nothing here allocates: buffers come from the caller, BLAS calls take pointers, and the
/// gate pass keeps its temporaries on the stack.
struct LSTMKernel<Scalar: BLASScalar> {
  var cell: LSTMCell<Scalar>
  var steps: Int
  var batch: Int
  var hidden: Int
  var hOut: Int
  var reverse: Bool
  /// Time steps per gate-buffer chunk.
  var chunk: Int
  /// Valid steps per sequence, or nil when all are `steps` long.
  var lengths: UnsafePointer<Int>?
  /// `[chunk, B, 4H]`, rows `gateRowStride(hidden:)` apart.
  var gates: UnsafeMutablePointer<Scalar>
  /// `[B, H]`, holding c(0) on entry and c_n on return.
  var cellState: UnsafeMutablePointer<Scalar>
  /// `[B, H]` scratch for the unprojected h when `projSize > 0`.
  var projectionScratch: UnsafeMutablePointer<Scalar>
  /// `[B, Hout]`, h(0).
  var initialHidden: UnsafeMutablePointer<Scalar>
  /// `[chunk, B, I]` scratch for gathering the input rows of a chunk into one GEMM operand when
  /// they are not one strided run (batch-first input, or a slice of the batch); nil when they
  /// always are.
  var inputScratch: UnsafeMutablePointer<Scalar>?
  /// `cell.packedRecurrent` when the fused AVX2 kernels run (kept alive by `cell`).
  var packedRecurrent: UnsafePointer<Scalar>?

  init(
    cell parameters: LSTMCell<Scalar>, steps: Int, batch: Int, hidden: Int, hOut: Int,
    reverse: Bool, chunk: Int, lengths: UnsafePointer<Int>?, gates: UnsafeMutablePointer<Scalar>,
    cell: UnsafeMutablePointer<Scalar>, projectionScratch: UnsafeMutablePointer<Scalar>,
    initialHidden: UnsafeMutablePointer<Scalar>, inputScratch: UnsafeMutablePointer<Scalar>?,
    kernels: LSTMKernels
  ) {
    self.cell = parameters
    (self.steps, self.batch, self.hidden, self.hOut) = (steps, batch, hidden, hOut)
    (self.reverse, self.chunk, self.lengths) = (reverse, chunk, lengths)
    (self.gates, self.cellState, self.projectionScratch, self.initialHidden) =
      (gates, cell, projectionScratch, initialHidden)
    self.inputScratch = inputScratch
    packedRecurrent =
      kernels == .automatic
      ? parameters.packedRecurrent.map { UnsafePointer($0.storage.base + $0.layout.offset) } : nil
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func run(input: Rows<Scalar>, output: Rows<Scalar>) {
    if usesHiddenSplit(threads: BLAS.threadCount) {
      runHiddenSplit(input: input, output: output)
      return
    }
    let gateWidth = 4 * hidden
    cell.weightIH.withBase { weightIH in
      cell.weightHH.withBase { weightHH in
        cell.combinedBias.withBase { bias in
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
            let rowStride = Self.gateRowStride(hidden: hidden)
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

  /// The distance between gate rows: 4H floats, plus one cache line when 4H is a multiple of
  /// 256 floats (1 KiB), so that the rows a step touches do not all map to the same L1 sets
  /// (issue 4's technique 6). Measured: no change on the shapes here (batch 32, H 256: 1.03×
  /// the portable forward with and without it); it costs 64 bytes a row.
  static func gateRowStride(hidden: Int) -> Int {
    4 * hidden % 256 == 0 ? 4 * hidden + 16 : 4 * hidden
  }

  /// Gate rows for steps `first..<first+count` ← bias + x · W_ihᵀ, in one GEMM: the input rows
  /// in time-major order are read in place when they are one strided run (time-major input,
  /// or one sequence), otherwise gathered into `inputScratch` first.
  func projectInputs(
    _ input: Rows<Scalar>, first: Int, count: Int, rowStride gateRowStride: Int,
    weights: StridedMatrix<Scalar>, bias: UnsafePointer<Scalar>
  ) {
    let gateWidth = 4 * hidden
    for row in 0..<(count * batch) {
      (gates + row * gateRowStride).update(from: bias, count: gateWidth)
    }
    let inputRowStride: Int? =
      batch == 1
      ? input.timeStride
      : (input.timeStride == batch * input.batchStride ? input.batchStride : nil)
    if let inputRowStride {
      let matrix = StridedMatrix(
        base: UnsafePointer(input.row(time: first, batch: 0)), rows: count * batch,
        columns: input.features, rowStride: inputRowStride, columnStride: 1)
      BLAS.gemm(matrix, weights, into: gates, rowStride: gateRowStride, beta: 1)
    } else if let inputScratch {
      // Gather the rows in the gates' (time-major) order: one GEMM instead of `count`, each of
      // which would repack all of W_ih (large shape, batch-first, 1 thread: 1.19× → 1.03× the
      // bare-sgemm time).
      let features = input.features
      for k in 0..<count {
        for b in 0..<batch {
          (inputScratch + (k * batch + b) * features).update(
            from: input.row(time: first + k, batch: b), count: features)
        }
      }
      let matrix = StridedMatrix(
        base: UnsafePointer(inputScratch), rows: count * batch, columns: features,
        rowStride: features, columnStride: 1)
      BLAS.gemm(matrix, weights, into: gates, rowStride: gateRowStride, beta: 1)
    } else {
      preconditionFailure("LSTMKernel: strided input rows without a gather buffer")
    }
  }

  func isValid(_ t: Int, _ b: Int) -> Bool { lengths.map { t < $0[b] } ?? true }

  /// The gate pass for one row: the AVX2 kernel when the fused kernels run, else Swift's.
  func applyGates(
    _ gates: UnsafeMutablePointer<Scalar>, cell: UnsafeMutablePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int? = nil
  ) {
    if packedRecurrent != nil {
      FusedLSTM.gates(UnsafePointer(gates), cell: cell, hidden: h, count: count ?? hidden)
    } else {
      LSTMGates.apply(gates: gates, cell: cell, hidden: h, count: count ?? hidden)
    }
  }

  /// One time step, h into the output: the fused AVX2 step (recurrent product and gate math in
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
    let projected = cell.weightHR != nil
    let (h, hStride) =
      projected ? (projectionScratch, hidden) : (output.row(time: t, batch: 0), output.batchStride)
    if let packedRecurrent, lengths == nil, batch <= FusedLSTM.maximumBatch {
      FusedLSTM.step(
        packed: packedRecurrent, units: hidden, k: hOut, hPrevious: hPrevious,
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
    if let weightHR = cell.weightHR {
      weightHR.withBase { weights in
        // h = h_full · W_hrᵀ, [B, H] · [H, Hout], written into the output rows.
        let hFull = StridedMatrix(
          base: UnsafePointer(projectionScratch), rows: batch, columns: hidden, rowStride: hidden,
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

/// The fused LSTM cell update for one row: i, f, o = σ(·), g = tanh(·), c = f·c + i·g,
/// h = o·tanh(c).
///
/// A plain loop over the row's pointers is vectorised by LLVM, but behind runtime alias checks
/// that fail here, so its scalar copy ran (callgrind: ~99 instructions per element). Writing
/// each block of 64 results to a stack temporary, which provably aliases nothing, lets the
/// vector loop run; two short copies then move the block to `cell` and `h`.
enum LSTMGates {
  static let block = 64

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func apply<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, cell: UnsafeMutablePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    // 2 × 64 scalars ≤ 1 KiB: within the stack-allocation limit, so no heap allocation.
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: 2 * block) { temporary in
      let newCell = temporary.baseAddress!
      let newHidden = newCell + block
      var start = 0
      while start < count {
        let n = Swift.min(block, count - start)
        let (i, f) = (gates + start, gates + count + start)
        let (g, o, c) = (gates + 2 * count + start, gates + 3 * count + start, cell + start)
        for j in 0..<n {
          let cj =
            Activations.sigmoid(f[j]) * c[j] + Activations.sigmoid(i[j]) * Activations.tanh(g[j])
          newCell[j] = cj
          newHidden[j] = Activations.sigmoid(o[j]) * Activations.tanh(cj)
        }
        c.update(from: newCell, count: n)
        (h + start).update(from: newHidden, count: n)
        start += n
      }
    }
  }
}
