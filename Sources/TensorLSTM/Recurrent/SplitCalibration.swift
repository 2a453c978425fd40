import Foundation

/// What the hidden split's second worker costs and saves on this machine, measured once per
/// process (about 10 ms) on the first plan that could split: the round trip of its per-step
/// barrier, the start of a parked helper thread, and one fused LSTM step on one thread (B 1,
/// H 128, `W_hh` packed).
///
///     print(SplitCalibration.current!)
///     // SplitCalibration (AVX-512F): barrier 1.85 µs per step, helper start 95 µs per call;
///     // one-thread step 1.58 µs per 65536 multiply-adds → at T 40 the hidden split pays from
///     // 433 K multiply-adds per step, at T 1000 from 166 K
///
/// The split halves each step's work and adds a barrier per step and a helper start per call,
/// so over T steps it pays when T·(t/2 − barrier) > start, t being the one-thread step (its
/// multiply-adds at the probe's rate). ``pays(work:steps:)`` asks for a margin: t ≥ 3 ×
/// barrier + 2 × start / T. On a Zen 5 KVM guest (barrier 1.8–2.4 µs, helper start ~11 µs)
/// that keeps H 96, B 1–6, T 40 (37–221 K, 1.9–3× slower split under the Zen 4 constant, 32 K)
/// on one thread and splits B 1, H 256, T 1000 (262 K, 2.7× faster split); tensorlstm-bench
/// --grid runs are noisy there (±20 % between identical plans), so shapes near the threshold
/// (H 200, B 1–6) win in some runs and lose in others.
public struct SplitCalibration: Sendable, CustomStringConvertible {
  /// The instruction set of the probe step ("AVX-512F", "AVX2+FMA").
  public let instructionSet: String
  /// One step of the split's barrier for two workers that do nothing else, in seconds (best of
  /// three runs of 1000 steps).
  public let barrierSeconds: Double
  /// Starting a helper thread that has parked (the split's per-call cost), in seconds (best of
  /// three).
  public let startSeconds: Double
  /// The probe step's one-thread time, in seconds (best of three runs of 200 steps).
  public let stepSeconds: Double
  /// The probe step's multiply-adds (B·4H·H).
  public let stepWork: Int

  /// Whether splitting the hidden units pays for a call of `steps` steps with `work`
  /// multiply-adds per step (B·G·H·Hout).
  public func pays(work: Int, steps: Int) -> Bool { work >= minimumWork(steps: steps) }

  /// The per-step multiply-adds from which the hidden split pays over `steps` steps, within
  /// 64 and ``maximumThreshold``.
  public func minimumWork(steps: Int) -> Int {
    let time = 3 * barrierSeconds + 2 * startSeconds / Double(Swift.max(steps, 1))
    let work = Int((time * Double(stepWork) / stepSeconds).rounded())
    return Swift.min(Swift.max(ForwardPlan.hiddenSplitMinimum, work), Self.maximumThreshold)
  }

  /// The most per-step work the threshold asks for: B 1, H 256 (whose split ran 2.7× faster
  /// than one thread on the host with the slowest barrier measured), so that a measurement
  /// disturbed by other work (a busy machine, tests in parallel) cannot turn the split off
  /// where it pays most.
  public static let maximumThreshold = 4 * 256 * 256

  /// The measurements and the thresholds they give at T 40 and T 1000, in one line.
  public var description: String {
    let micro = { (s: Double) in String(format: "%.2f", s * 1e6) }
    return
      "SplitCalibration (\(instructionSet)): barrier \(micro(barrierSeconds)) µs per step, helper start \(micro(startSeconds)) µs per call; one-thread step \(micro(stepSeconds)) µs per \(stepWork) multiply-adds → at T 40 the hidden split pays from \(minimumWork(steps: 40) / 1000) K multiply-adds per step, at T 1000 from \(minimumWork(steps: 1000) / 1000) K"
  }

  /// The calibration of this machine for the widest instruction set it runs, measured on
  /// first use (once: a concurrent first caller waits for it), then a constant that plans read
  /// without a lock; nil without vector kernels or a second core (no split to calibrate).
  public static let current: SplitCalibration? = {
    guard BLAS.cores >= 2, let isa = VectorISA.available.last else { return nil }
    return measure(isa)
  }()

  private static func measure(_ isa: VectorISA) -> SplitCalibration {
    // The barrier: both workers arrive and wait, step after step, as the split's workers do.
    let rounds = 1000
    let barrier =
      bestSeconds {
        let barrier = StepBarrier()
        let worker = {
          for k in 0..<rounds {
            barrier.arrive()
            barrier.wait(until: 2 * (k + 1))
          }
        }
        Workers.pair(worker, helper: worker)
      } / Double(rounds)
    // A parked helper's start: idle long enough to park (it spins ~0.1 ms), then a call.
    var start = Double.infinity
    for _ in 0..<3 {
      usleep(1000)
      let begin = DispatchTime.now().uptimeNanoseconds
      Workers.pair({}, helper: {})
      start = Swift.min(start, Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9)
    }
    // One thread's fused LSTM step, B 1, H 128.
    let (hidden, steps) = (128, 200)
    let weights = Tensor<Float>.randomUniform(
      shape: [4 * hidden, hidden], in: -0.1...0.1, seed: 0x5917)
    let packed = FusedStep.packedRecurrent(weights, cell: .lstm, isa: isa)!
    let buffers = UnsafeMutablePointer<Float>.allocate(capacity: 7 * hidden)
    buffers.initialize(repeating: 0.1, count: 7 * hidden)
    defer { buffers.deallocate() }
    let (h, gates) = (buffers, buffers + hidden)
    let (cell, output) = (buffers + 5 * hidden, buffers + 6 * hidden)
    let step = packed.withBase { packed in
      bestSeconds {
        for _ in 0..<steps {
          FusedStep.step(
            cell: .lstm, isa: isa, packed: packed, units: hidden, k: hidden, hPrevious: h,
            hPreviousStride: hidden, hOld: h, gates: gates, gateStride: 4 * hidden,
            gateBlock: hidden, cell: cell, cellStride: hidden, hidden: output,
            hiddenStride: hidden, batch: 1)
        }
      } / Double(steps)
    }
    return SplitCalibration(
      instructionSet: isa.description, barrierSeconds: barrier, startSeconds: start,
      stepSeconds: step, stepWork: 4 * hidden * hidden)
  }
}
