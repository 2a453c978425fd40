import Dispatch
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// How a recurrent forward runs its workers: the caller's thread plus engine-owned
/// ``HelperThread``s (batch slices, or the two halves of the gate-column split), inside one
/// BLAS thread scope for the whole call (``BLAS/withThreads(_:_:)``): OpenBLAS at one thread
/// while the forward's own workers run, at the plan's budget otherwise — exactly, whatever
/// other threads do meanwhile.
enum Workers {
  /// Runs `body` in the BLAS thread scope of `plan` (``ForwardPlan/blasThreads``), with the
  /// layer's GEMMs on `kernels` (``BLAS/withGEMMKernels(_:_:)``: `.portable` keeps sgemm).
  static func withBudget<R>(
    _ plan: ForwardPlan, kernels: RecurrentKernels, _ body: () throws -> R
  ) rethrows -> R {
    try BLAS.withThreads(plan.blasThreads) { try BLAS.withGEMMKernels(kernels, body) }
  }

  /// Runs `body(0)` here and `body(1)` … on helper threads, concurrently; returns when all
  /// are done.
  static func forEach(_ count: Int, _ body: (Int) -> Void) {
    if count == 1 {
      body(0)
      return
    }
    let helpers = (1..<count).map { _ in HelperThread.take() }
    // Helpers run in the caller's BLAS scope (they must not wait for it to end), with its
    // GEMM kernels.
    let scope = BLAS.currentScope
    let gemmKernels = BLAS.gemmKernelsOverride
    withoutActuallyEscaping(body) { body in
      for (i, helper) in helpers.enumerated() {
        helper.start {
          BLAS.inheritingScope(scope) {
            if let gemmKernels {
              BLAS.withGEMMKernels(gemmKernels) { body(i + 1) }
            } else {
              body(i + 1)
            }
          }
        }
      }
      body(0)
      for helper in helpers { helper.wait() }
    }
    for helper in helpers { HelperThread.give(helper) }
  }

  /// The thread budget of a training pass (traced forward or backward) of a layer whose
  /// `threads` is `threads`: that, or ``BLAS/threadCount``, within the cores.
  static func trainingBudget(_ threads: Int?) -> Int {
    Swift.min(threads ?? BLAS.threadCount, BLAS.cores)
  }

  /// Runs `body(direction)` for each of a layer's `directions` in a training pass: the two
  /// directions of a bidirectional layer at once when the budget is 2 or more (they are
  /// independent; each runs on one thread, its GEMMs too, on scratch of its own), otherwise
  /// one after the other at the whole budget.
  static func forEachDirection(_ directions: Int, budget: Int, _ body: (Int) -> Void) {
    if runsDirectionsAtOnce(directions, budget: budget) {
      BLAS.withThreads(1) { forEach(2, body) }
    } else {
      BLAS.withThreads(budget) {
        for direction in 0..<directions { body(direction) }
      }
    }
  }

  /// Runs a training pass of a layer whose ``LSTM/kernels`` is `kernels`: a forced set runs
  /// the pass's GEMMs too; `.automatic` leaves them to the caller's
  /// ``BLAS/withGEMMKernels(_:_:)``, if any, else to the calibration.
  static func withTrainingKernels<R>(_ kernels: RecurrentKernels, _ body: () throws -> R) rethrows
    -> R
  {
    kernels == .automatic ? try body() : try BLAS.withGEMMKernels(kernels, body)
  }

  /// One layer of a backward: `throughTime(direction)` for each direction (both at once when
  /// the budget allows, ``forEachDirection(_:budget:_:)``), then `products(direction)` — the
  /// GEMMs over all steps, which add into the layer's shared dL/dx — one direction after the
  /// other at the whole budget.
  static func backwardLayer(
    _ directions: Int, budget: Int, throughTime: (Int) -> Void, products: (Int) -> Void
  ) {
    if runsDirectionsAtOnce(directions, budget: budget) {
      forEachDirection(directions, budget: budget, throughTime)
      BLAS.withThreads(budget) {
        for direction in 0..<directions { products(direction) }
      }
    } else {
      BLAS.withThreads(budget) {
        for direction in 0..<directions {
          throughTime(direction)
          products(direction)
        }
      }
    }
  }

  /// Whether ``forEachDirection(_:budget:_:)`` runs `directions` at once (and so needs a set of
  /// scratch regions per direction).
  static func runsDirectionsAtOnce(_ directions: Int, budget: Int) -> Bool {
    directions == 2 && budget >= 2
  }

  /// Runs `helper` on a helper thread while `main` runs on this one; returns when both are
  /// done.
  static func pair(_ main: () -> Void, helper: () -> Void) {
    forEach(2) { $0 == 0 ? main() : helper() }
  }
}

/// A thread the engine owns, so that a forward's second worker always has a thread of its own
/// and starts without Dispatch's pool heuristics: `concurrentPerform` ran both batch slices on
/// the caller's thread in about half of the calls (B 24, H 96, 2 threads: 0.9 or 1.7 ms,
/// bimodal), and a queue per call paid a thread start.
///
/// After a job the thread spins for a while (~0.1 ms) before it parks on a semaphore, and the
/// caller spins while it waits, as onnxruntime's and OpenMP's pools do: waking a parked
/// thread costs tens to hundreds of µs on this VM, more than a short forward (B 1, T 40,
/// H 200: 0.50 ms split with parking vs 0.31 unsplit). The pool grows to the number of
/// concurrent callers; idle threads use no CPU once parked.
final class HelperThread: @unchecked Sendable {
  private static let idle = Mutex<[HelperThread]>([])

  /// An idle helper, or a new one.
  static func take() -> HelperThread {
    idle.withLock { $0.popLast() } ?? HelperThread()
  }

  /// Returns a helper whose job is done to the pool.
  static func give(_ helper: HelperThread) { idle.withLock { $0.append(helper) } }

  private enum State: Int {
    case parked = 0
    case spinning = 1
    case posted = 2
  }
  /// parked → posted (the caller signals `wake`), spinning → posted (the thread sees it), and
  /// the thread's own spinning ↔ parked.
  private let state = Atomic<Int>(State.spinning.rawValue)
  /// Jobs finished, for the caller's wait.
  private let finished = Atomic<Int>(0)
  private var started = 0
  private let wake = DispatchSemaphore(value: 0)
  /// Written by the caller before it posts, read by the thread after it sees the post, cleared
  /// by the thread before it counts the job finished: the atomics order every access.
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

  /// Spins about 0.1 ms for a post, then parks; runs each posted job.
  private func loop() -> Never {
    while true {
      var spins = 0
      while state.load(ordering: .acquiring) != State.posted.rawValue {
        spins += 1
        if spins > 20_000 {
          let (parked, _) = state.compareExchange(
            expected: State.spinning.rawValue, desired: State.parked.rawValue,
            ordering: .acquiringAndReleasing)
          if parked { wake.wait() }
          spins = 0
        }
      }
      job?()
      job = nil
      state.store(State.spinning.rawValue, ordering: .releasing)
      finished.add(1, ordering: .releasing)
    }
  }

  /// Starts `job` on this thread; pair with ``wait()`` before `job`'s captures go away.
  func start(_ job: @escaping () -> Void) {
    self.job = job
    started += 1
    let previous = state.exchange(State.posted.rawValue, ordering: .acquiringAndReleasing)
    if previous == State.parked.rawValue { wake.signal() }
  }

  /// Returns when the started job is done (and released): spins, then yields the core.
  func wait() {
    var spins = 0
    while finished.load(ordering: .acquiring) < started {
      spins += 1
      if spins > 2_000 { sched_yield() }
    }
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
