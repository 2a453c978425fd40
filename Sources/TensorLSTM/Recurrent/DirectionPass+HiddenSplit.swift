/// Batch 1 on two threads: the hidden units are split between two workers.
///
/// With one sequence there is no batch to split, and the per-step product reads all of `W_hh`
/// (1 MiB at H = 256), more than one core's L2. Each worker instead owns about half of the
/// units: it reads only its rows of `W_ih`, `W_hh` (in place, or its panels of the packed copy)
/// and the bias, and has its own gate rows and cell state (``Workspace/PartnerRegions`` for the
/// second worker). Only `h` is shared: a worker writes its units of `h(t)` into the output row,
/// and one barrier per step makes sure both halves are there before either reads `h(t)` for
/// step t+1. Nothing is packed or allocated per call.
///
/// Measured on the streaming shape (B 1, T 1000, I 64, H 256), 2 threads, 6 alternating runs:
/// best 11.2 ms split vs 13.9 ms with OpenBLAS's own gemv threading (medians 14.8 vs 16.0).
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
    let (first, second) = Self.hiddenSplitUnits(hidden, panel: isa?.width ?? 8)
    let barrier = StepBarrier()
    Workers.pair(
      {
        runWorker(
          units: first, gates: gates, cell: cellState, input: input, output: output,
          barrier: barrier)
      },
      helper: {
        runWorker(
          units: second, gates: partner.gates, cell: partner.cellState, input: input,
          output: output, barrier: barrier)
      })
  }

  /// One worker's share: every step for hidden units `units`, with gate rows `[chunk, G·n]`
  /// and its `c` `[n]`.
  private func runWorker(
    units: Range<Int>, gates: UnsafeMutablePointer<Scalar>, cell c: UnsafeMutablePointer<Scalar>,
    input: Rows<Scalar>, output: Rows<Scalar>, barrier: StepBarrier
  ) {
    let n = units.count
    let gateCount = geometry.gateCount
    let features = input.features
    c.update(from: cellState + units.lowerBound, count: n)
    let chunkCount = (steps + chunk - 1) / chunk
    var stepsDone = 0
    weights.weightIH.withBase { wIH in
      weights.weightHH.withBase { wHH in
        weights.combinedBias.withBase { bias in
          for chunkIndex in 0..<chunkCount {
            let ci = reverse ? chunkCount - 1 - chunkIndex : chunkIndex
            let first = ci * chunk
            let count = Swift.min(chunk, steps - first)
            let rows = StridedMatrix(
              base: UnsafePointer(input.row(time: first, batch: 0)), rows: count,
              columns: features, rowStride: count == 1 ? features : input.timeStride,
              columnStride: 1)
            // Per gate: its bias, then x · W_ihᵀ for this worker's rows of that gate, read in
            // place (rows g·H + units of W_ih).
            for g in 0..<gateCount {
              let gateRow = g * hidden + units.lowerBound
              for row in 0..<count {
                (gates + row * gateCount * n + g * n).update(from: bias + gateRow, count: n)
              }
              BLAS.gemm(
                rows,
                StridedMatrix(
                  base: wIH + gateRow * features, rows: features, columns: n, rowStride: 1,
                  columnStride: features),
                into: gates + g * n, rowStride: gateCount * n, beta: 1)
            }
            for k in 0..<count {
              let t = reverse ? first + count - 1 - k : first + k
              let isFirst = reverse ? t == steps - 1 : t == 0
              let previous: UnsafePointer<Scalar> =
                isFirst
                ? UnsafePointer(initialHidden)
                : UnsafePointer(output.row(time: reverse ? t + 1 : t - 1, batch: 0))
              // Both halves of h(t−1) must be written before either worker reads it.
              barrier.wait(until: 2 * stepsDone)
              let gateRow = gates + (t - first) * gateCount * n
              let h = output.row(time: t, batch: 0) + units.lowerBound
              if kernel == .fused, let packedRecurrent, let isa {
                FusedStep.step(
                  isa: isa,
                  packed: FusedStep.panels(
                    packedRecurrent, first: units.lowerBound, k: hidden, isa: isa),
                  units: n, k: hidden, hPrevious: previous, hPreviousStride: hidden,
                  gates: gateRow, gateStride: gateCount * n, gateBlock: n, cell: c,
                  cellStride: n, hidden: h, hiddenStride: n, batch: 1)
              } else {
                for g in 0..<gateCount {
                  BLAS.gemv(
                    transposed: false, rows: n, columns: hidden, alpha: 1,
                    matrix: wHH + (g * hidden + units.lowerBound) * hidden, leading: hidden,
                    x: previous, xStride: 1, beta: 1, y: gateRow + g * n, yStride: 1)
                }
                applyGates(gateRow, cell: c, hidden: h, count: n)
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
    (cellState + units.lowerBound).update(from: c, count: n)
  }
}
