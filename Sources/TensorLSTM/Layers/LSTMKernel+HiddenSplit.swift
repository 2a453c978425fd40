import Dispatch
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Batch 1 on two threads: the hidden units are split between two workers.
///
/// With one sequence there is no batch to split, and the per-step gemv reads all of `W_hh`
/// (1 MiB at H = 256), more than one core's L2. Each worker instead owns half of the units: its
/// own packed rows of `W_ih`, `W_hh` and the bias (half of `W_hh` fits its core's L2), its own
/// gate buffer and cell state. Only `h` is shared: a worker writes its half of `h(t)` into the
/// output row, and one barrier per step makes sure both halves are there before either reads
/// `h(t)` for step t+1.
///
/// Measured on the streaming shape (B 1, T 1000, I 64, H 256), 2 threads, 6 alternating runs:
/// best 11.2 ms split vs 13.9 ms with OpenBLAS's own gemv threading (medians 14.8 vs 16.0).
/// The gain is modest because half of this `W_hh` is exactly one core's 512 KiB L2, so with `h`
/// and the gate rows it still does not quite fit.
extension LSTMKernel {
  /// Units below which splitting is not worth a thread and a barrier per step.
  static var hiddenSplitMinimum: Int { 128 }

  /// Whether this layer-direction runs with the hidden units split across two workers.
  func usesHiddenSplit(threads: Int) -> Bool {
    batch == 1 && threads >= 2 && lengths == nil && cell.weightHR == nil
      && hidden >= Self.hiddenSplitMinimum
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func runHiddenSplit(input: Rows<Scalar>, output: Rows<Scalar>) {
    let split = (hidden / 2 + 7) / 8 * 8
    let ranges = [0..<split, split..<hidden]
    let features = input.features
    // Per worker, allocated once: packed W_ih rows [4n, I], W_hh rows [4n, H], bias [4n],
    // gates [chunk, 4n], c [n].
    let sizes = ranges.map { r in
      4 * r.count * features + 4 * r.count * hidden + 4 * r.count + chunk * 4 * r.count + r.count
    }
    let workspace = UnsafeMutablePointer<Scalar>.allocate(capacity: sizes.reduce(0, +))
    defer { workspace.deallocate() }
    let barrier = StepBarrier()
    let context = UncheckedSendable((self, input, output, workspace, sizes, ranges, barrier))
    let finished = DispatchSemaphore(value: 0)
    // A private queue targets libdispatch's overcommit pool, which starts a thread when none is
    // free; the width-limited global queue could leave worker 1 waiting forever behind callers
    // that occupy every global thread while their worker 0 spins at the barrier.
    let helper = DispatchQueue(label: "TensorLSTM.hidden-split")
    BLAS.withSingleThreadedCalls {
      helper.async {
        let (kernel, input, output, workspace, sizes, ranges, barrier) = context.value
        kernel.runWorker(
          units: ranges[1], workspace: workspace + sizes[0], input: input, output: output,
          barrier: barrier)
        finished.signal()
      }
      runWorker(
        units: ranges[0], workspace: workspace, input: input, output: output, barrier: barrier)
      finished.wait()
    }
  }

  /// One worker's share: every step for hidden units `units`.
  func runWorker(
    units: Range<Int>, workspace: UnsafeMutablePointer<Scalar>, input: Rows<Scalar>,
    output: Rows<Scalar>, barrier: StepBarrier
  ) {
    let n = units.count
    let features = input.features
    let inputWeights = workspace
    let recurrentWeights = inputWeights + 4 * n * features
    let bias = recurrentWeights + 4 * n * hidden
    let gates = bias + 4 * n
    let c = gates + chunk * 4 * n
    // Pack this worker's rows of each gate block: gate g, unit u is row g·H + u.
    cell.weightIH.withBase { wIH in
      cell.weightHH.withBase { wHH in
        cell.combinedBias.withBase { b in
          for g in 0..<4 {
            for (k, u) in units.enumerated() {
              let row = g * n + k
              (inputWeights + row * features).update(
                from: wIH + (g * hidden + u) * features, count: features)
              // The fused step reads its panels of the cell's packed W_hh instead.
              if packedRecurrent == nil {
                (recurrentWeights + row * hidden).update(
                  from: wHH + (g * hidden + u) * hidden, count: hidden)
              }
              bias[row] = b[g * hidden + u]
            }
          }
        }
      }
    }
    c.update(from: cellState + units.lowerBound, count: n)
    let inputMatrix = StridedMatrix(
      base: UnsafePointer(inputWeights), rows: features, columns: 4 * n, rowStride: 1,
      columnStride: features)
    let chunkCount = (steps + chunk - 1) / chunk
    var stepsDone = 0
    for chunkIndex in 0..<chunkCount {
      let ci = reverse ? chunkCount - 1 - chunkIndex : chunkIndex
      let first = ci * chunk
      let count = Swift.min(chunk, steps - first)
      for row in 0..<count { (gates + row * 4 * n).update(from: bias, count: 4 * n) }
      let rows = StridedMatrix(
        base: UnsafePointer(input.row(time: first, batch: 0)), rows: count, columns: features,
        rowStride: count == 1 ? features : input.timeStride, columnStride: 1)
      BLAS.gemm(rows, inputMatrix, into: gates, rowStride: 4 * n, beta: 1)
      for k in 0..<count {
        let t = reverse ? first + count - 1 - k : first + k
        let isFirst = reverse ? t == steps - 1 : t == 0
        let previous: UnsafePointer<Scalar> =
          isFirst
          ? UnsafePointer(initialHidden)
          : UnsafePointer(output.row(time: reverse ? t + 1 : t - 1, batch: 0))
        // Both halves of h(t−1) must be written before either worker reads it.
        barrier.wait(until: 2 * stepsDone)
        let gateRow = gates + (t - first) * 4 * n
        let h = output.row(time: t, batch: 0) + units.lowerBound
        if let packedRecurrent {
          FusedLSTM.step(
            packed: FusedLSTM.panels(packedRecurrent, first: units.lowerBound, k: hidden),
            units: n, k: hidden, hPrevious: previous, hPreviousStride: hidden, gates: gateRow,
            gateStride: 4 * n, gateBlock: n, cell: c, cellStride: n, hidden: h, hiddenStride: n,
            batch: 1)
        } else {
          BLAS.gemv(
            transposed: false, rows: 4 * n, columns: hidden, alpha: 1,
            matrix: UnsafePointer(recurrentWeights), leading: hidden, x: previous, xStride: 1,
            beta: 1, y: gateRow, yStride: 1)
          applyGates(gateRow, cell: c, hidden: h, count: n)
        }
        barrier.arrive()
        stepsDone += 1
      }
    }
    // Both workers must be past their last read of h before the caller moves on.
    barrier.wait(until: 2 * stepsDone)
    (cellState + units.lowerBound).update(from: c, count: n)
  }
}

/// A reusable two-worker step barrier: a monotonic count of arrivals. Spins briefly, then
/// yields, so a descheduled partner does not burn the other core.
final class StepBarrier: Sendable {
  private let arrivals = Atomic<Int>(0)

  func arrive() { arrivals.add(1, ordering: .releasing) }

  func wait(until target: Int) {
    var spins = 0
    while arrivals.load(ordering: .acquiring) < target {
      spins += 1
      if spins > 2_000 { sched_yield() }
    }
  }
}
