/// Two threads by gate columns: the hidden units are split between two workers, for any batch.
///
/// Each worker owns about half of the units, and with them their rows of every gate (and every
/// slot of the gate rows, ``RecurrentCell``): it reads only its rows of `W_ih` and `W_hh` (in place, or its panels of the packed copy) and the bias,
/// and has its own gate rows, cell state and gathered input (``Workspace/PartnerRegions`` for
/// the second worker). So each core streams its own half of `W_hh` per step and does half the
/// multiply-adds, where a batch split has every core stream all of it. Only `h` is shared: a
/// worker writes its units of `h(t)` into the output rows, and one barrier per step makes sure
/// both halves are there before either reads `h(t)` for step t+1. Nothing is packed or
/// allocated per call.
extension DirectionPass {
  /// The two workers' units: the first a multiple of `panel` (a whole number of packed
  /// panels).
  static func hiddenSplitUnits(_ hidden: Int, panel: Int) -> (Range<Int>, Range<Int>) {
    let split = Swift.min(hidden, (hidden / 2 + panel - 1) / panel * panel)
    return (0..<split, split..<hidden)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func runHiddenSplit(
    input: Rows<Scalar>, output: Rows<Scalar>, partner: Workspace<Scalar>.PartnerRegions
  ) {
    require(
      record == nil || kernel == .fused,
      "DirectionPass: a traced hidden split needs the fused step (its plan must not split)")
    let (first, second) = Self.hiddenSplitUnits(hidden, panel: isa?.width ?? 8)
    let barrier = StepBarrier()
    Workers.pair(
      {
        runWorker(
          units: first, gates: gates, cell: partner.cellStates.first, gathering: gatheredInput,
          input: input, output: output, barrier: barrier)
      },
      helper: {
        runWorker(
          units: second, gates: partner.gates, cell: partner.cellStates.second,
          gathering: gatheredInput == nil ? nil : partner.gatheredInput, input: input,
          output: output, barrier: barrier)
      })
  }

  /// One worker's share: every step for hidden units `units`, with gate rows
  /// `[chunk, B, rowGates·n]` and its `c` `[B, n]` — or, in a trace, its units of the record's
  /// rows and cells.
  private func runWorker(
    units: Range<Int>, gates: UnsafeMutablePointer<Scalar>, cell c: UnsafeMutablePointer<Scalar>,
    gathering scratch: UnsafeMutablePointer<Scalar>?, input: Rows<Scalar>, output: Rows<Scalar>,
    barrier: StepBarrier
  ) {
    let n = units.count
    // The gate rows: this worker's own, or its units of the trace's (slots H apart).
    let (gateBase, rowWidth, slot) =
      record?.gates.map { ($0 + units.lowerBound, geometry.rowWidth, hidden) }
      ?? (gates, cell.rowGates * n, n)
    let recordsCells = record?.cells != nil
    let carriesCell = cell.hasCellState && !recordsCells
    for b in 0..<batch where carriesCell {
      (c + b * n).update(from: cellState + b * hidden + units.lowerBound, count: n)
    }
    let chunkCount = (steps + chunk - 1) / chunk
    var stepsDone = 0
    weights.weightIH.withBase { wIH in
      weights.weightHH.withBase { wHH in
        weights.rowBias.withBase { bias in
          for chunkIndex in 0..<chunkCount {
            let ci = reverse ? chunkCount - 1 - chunkIndex : chunkIndex
            let first = ci * chunk
            let count = Swift.min(chunk, steps - first)
            // This worker's rows of every gate of W_ih, read in place (a trace's are there).
            if !recordsGates {
              projectInputs(
                input, first: first, count: count, rows: (gateBase, rowWidth, slot),
                units: units, weightIH: wIH, bias: bias, gathering: scratch)
            }
            for k in 0..<count {
              let t = reverse ? first + count - 1 - k : first + k
              let isFirst = reverse ? t == steps - 1 : t == 0
              let (previous, previousStride) =
                isFirst
                ? (UnsafePointer(initialHidden), hidden)
                : (
                  UnsafePointer(output.row(time: reverse ? t + 1 : t - 1, batch: 0)),
                  output.batchStride
                )
              // Both halves of h(t−1) must be written before either worker reads it.
              barrier.wait(until: 2 * stepsDone)
              let gateRows =
                gateBase + (t - first) * (recordsGates ? rowsPerStep : batch) * rowWidth
              let h = output.row(time: t, batch: 0) + units.lowerBound
              let hOld = previous + units.lowerBound
              let (stepCell, cellStride) =
                recordsCells ? (stepCell(t, units: units) + units.lowerBound, hidden) : (c, n)
              if kernel == .fused, let packedRecurrent, let isa {
                FusedStep.step(
                  cell: cell, isa: isa,
                  packed: FusedStep.panels(
                    packedRecurrent, cell: cell, first: units.lowerBound, k: hidden, isa: isa,
                    weights: stepWeights),
                  units: n, k: hidden, hPrevious: previous, hPreviousStride: previousStride,
                  hOld: hOld, gates: gateRows, gateStride: rowWidth, gateBlock: slot,
                  cell: stepCell, cellStride: cellStride, hidden: h,
                  hiddenStride: output.batchStride, batch: batch, trace: recordsGates,
                  weights: stepWeights)
              } else {
                let hPrevious = StridedMatrix(
                  base: previous, rows: batch, columns: hidden, rowStride: previousStride,
                  columnStride: 1)
                for g in 0..<cell.recurrentGates {
                  BLAS.gemm(
                    hPrevious,
                    StridedMatrix(
                      base: wHH + (g * hidden + units.lowerBound) * hidden, rows: hidden,
                      columns: n, rowStride: 1, columnStride: hidden),
                    into: gateRows + g * n, rowStride: rowWidth, beta: 1)
                }
                for b in 0..<batch {
                  applyGates(
                    gateRows + b * rowWidth, cell: c + b * n, hOld: hOld + b * previousStride,
                    hidden: h + b * output.batchStride, count: n)
                }
              }
              barrier.arrive()
              stepsDone += 1
            }
          }
        }
      }
    }
    // Both workers must be past their last read of h before the caller moves on.
    barrier.wait(until: 2 * stepsDone)
    for b in 0..<batch where carriesCell {
      (cellState + b * hidden + units.lowerBound).update(from: c + b * n, count: n)
    }
  }
}
