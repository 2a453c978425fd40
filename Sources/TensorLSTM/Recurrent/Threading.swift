import Dispatch
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// How a recurrent forward runs its workers: the batch slices on Dispatch's pool, the hidden
/// split's partner on a private queue, and OpenBLAS held at one thread per call while the
/// forward's own workers run (or while its budget is one thread), so the two never
/// oversubscribe the cores.
enum Workers {
  /// Runs `body` with OpenBLAS at one thread per call when the plan's workers already use the
  /// budget, or the budget is one thread; otherwise with OpenBLAS's own setting.
  ///
  /// OpenBLAS 0.3.21 has only a process-wide thread count, so while any forward holds it at one
  /// thread, other callers' BLAS calls run single-threaded too (their results are unchanged).
  static func withBudget<R>(_ plan: ForwardPlan, _ body: () throws -> R) rethrows -> R {
    if plan.workers > 1 || plan.threads == 1 {
      return try BLAS.withSingleThreadedCalls(body)
    }
    return try body()
  }

  /// Runs `body(0)`, …, `body(count − 1)` concurrently and returns when all are done.
  static func forEach(_ count: Int, _ body: (Int) -> Void) {
    if count == 1 {
      body(0)
      return
    }
    // Sound to share: each use hands workers disjoint outputs over shared, read-only inputs.
    withoutActuallyEscaping(body) { body in
      let work = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: count) { work.value($0) }
    }
  }

  /// Runs `helper` on a second thread while `main` runs on this one; returns when both are
  /// done. (`helper` escapes into the queue's block, which may outlive this call by a moment.)
  static func pair(_ main: () -> Void, helper: @escaping () -> Void) {
    // Sound to share: the two workers write disjoint units and meet at a barrier.
    let work = UncheckedSendable(helper)
    let finished = DispatchSemaphore(value: 0)
    // A private serial queue targets libdispatch's overcommit pool, which starts a thread when
    // none is free (one per call: a shared one would queue concurrent callers' partners); the
    // width-limited global queue could leave the helper waiting forever behind callers that
    // occupy every global thread while their main worker spins at a barrier.
    DispatchQueue(label: "TensorLSTM.partner").async {
      work.value()
      finished.signal()
    }
    main()
    finished.wait()
  }
}

/// A value handed to worker threads that the compiler cannot prove safe to share; each use
/// says why it is.
struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
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
