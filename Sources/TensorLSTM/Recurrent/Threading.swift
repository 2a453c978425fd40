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

  /// Runs `body(0)` here and `body(1)` … on helper threads, concurrently; returns when all
  /// are done.
  static func forEach(_ count: Int, _ body: (Int) -> Void) {
    if count == 1 {
      body(0)
      return
    }
    let helpers = (1..<count).map { _ in HelperThread.take() }
    withoutActuallyEscaping(body) { body in
      for (i, helper) in helpers.enumerated() { helper.start { body(i + 1) } }
      body(0)
      for helper in helpers { helper.wait() }
    }
    for helper in helpers { HelperThread.give(helper) }
  }

  /// Runs `helper` on a helper thread while `main` runs on this one; returns when both are
  /// done.
  static func pair(_ main: () -> Void, helper: () -> Void) {
    let thread = HelperThread.take()
    withoutActuallyEscaping(helper) { helper in
      thread.start(helper)
      main()
      thread.wait()
    }
    HelperThread.give(thread)
  }
}

/// A thread the engine owns, parked between jobs, so that a forward's second worker always has
/// a thread of its own and starts without Dispatch's pool heuristics: `concurrentPerform` ran
/// both batch slices on the caller's thread in about half of the calls (B 24, H 96, 2 threads:
/// 0.9 or 1.7 ms, bimodal), and a queue per call paid a thread start. Idle threads wait on a
/// semaphore, using no CPU; the pool grows to the number of concurrent callers.
final class HelperThread: @unchecked Sendable {
  private static let idle = Mutex<[HelperThread]>([])

  /// An idle helper, or a new one.
  static func take() -> HelperThread {
    idle.withLock { $0.popLast() } ?? HelperThread()
  }

  /// Returns a helper whose job is done to the pool.
  static func give(_ helper: HelperThread) { idle.withLock { $0.append(helper) } }

  private let wake = DispatchSemaphore(value: 0)
  private let finished = DispatchSemaphore(value: 0)
  /// Written by the caller before `wake.signal()`, read by the thread after `wake.wait()`, and
  /// cleared by the thread before `finished.signal()`: the semaphores order every access.
  private var job: (() -> Void)?

  private init() {
    var thread = pthread_t()
    let context = Unmanaged.passRetained(self).toOpaque()
    let status = pthread_create(
      &thread, nil,
      { context in
        Unmanaged<HelperThread>.fromOpaque(context!).takeRetainedValue().loop()
      }, context)
    require(status == 0, "HelperThread: pthread_create failed with \(status)")
    pthread_detach(thread)
  }

  private func loop() -> Never {
    while true {
      wake.wait()
      job?()
      job = nil
      finished.signal()
    }
  }

  /// Starts `job` on this thread; pair with ``wait()`` before `job`'s captures go away.
  func start(_ job: @escaping () -> Void) {
    self.job = job
    wake.signal()
  }

  /// Returns when the started job is done (and released).
  func wait() { finished.wait() }
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
