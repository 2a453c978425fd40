import Foundation
import Synchronization

/// What the hidden split's second worker costs and saves on this machine, measured once per
/// process (about 2 ms) on the first plan that could split: the round trip of its per-step
/// barrier, and one fused LSTM step on one thread (B 1, H 128, `W_hh` packed).
///
///     print(SplitCalibration.current!)
///     // SplitCalibration (AVX-512F): barrier 0.41 µs per step; one-thread step 1.9 µs per
///     // 65536 multiply-adds → the hidden split pays from 35 K multiply-adds per step
///
/// The split halves a step's work and adds one barrier, so it would pay once the one-thread
/// step takes twice the barrier; it also pays per call (each worker's share of the input
/// projection, the helper's start), so ``hiddenSplitMinimumWork`` asks for 4× (a step's time
/// estimated from its multiply-adds at the probe's rate). That fits tensorlstm-bench --grid on
/// a Zen 5 KVM guest (barrier 1.9–2.4 µs per step): H 96, B 6 (221 K) ran 1.9× slower split,
/// H 200, B 2 (320 K) 0.73× the one-thread time. The constant it replaces (32 K, measured on a
/// Zen 4 host) split H 96 at B 1–6 there, 2–3× slower than one thread.
public struct SplitCalibration: Sendable, CustomStringConvertible {
  /// The instruction set of the probe step ("AVX-512F", "AVX2+FMA").
  public let instructionSet: String
  /// One step of the split's barrier for two workers that do nothing else, in seconds (best of
  /// three runs of 1000 steps).
  public let barrierSeconds: Double
  /// The probe step's one-thread time, in seconds (best of three runs of 200 steps).
  public let stepSeconds: Double
  /// The probe step's multiply-adds (B·4H·H).
  public let stepWork: Int

  /// Multiply-adds per step (B·G·H·Hout) from which the hidden split pays on this machine.
  public var hiddenSplitMinimumWork: Int {
    let perWork = stepSeconds / Double(stepWork)
    return Swift.max(ForwardPlan.hiddenSplitMinimum, Int((4 * barrierSeconds / perWork).rounded()))
  }

  /// The measurements and the threshold they give, in one line.
  public var description: String {
    let micro = { (s: Double) in String(format: "%.2f", s * 1e6) }
    return
      "SplitCalibration (\(instructionSet)): barrier \(micro(barrierSeconds)) µs per step; one-thread step \(micro(stepSeconds)) µs per \(stepWork) multiply-adds → the hidden split pays from \(hiddenSplitMinimumWork / 1000) K multiply-adds per step"
  }

  /// The calibration of this machine for the widest instruction set it runs, measured on
  /// first use; nil without vector kernels or a second core (no split to calibrate).
  public static var current: SplitCalibration? {
    if let known = cache.withLock({ $0 }) { return known }
    guard BLAS.cores >= 2, let isa = VectorISA.available.last else { return nil }
    let measured = measure(isa)
    return cache.withLock { value in
      if let value { return value }
      value = measured
      return measured
    }
  }

  private static let cache = Mutex<SplitCalibration?>(nil)

  private static func measure(_ isa: VectorISA) -> SplitCalibration {
    // The barrier: both workers arrive and wait, step after step, as the split's workers do.
    let rounds = 1000
    let barrier =
      best {
        let barrier = StepBarrier()
        let worker = {
          for k in 0..<rounds {
            barrier.arrive()
            barrier.wait(until: 2 * (k + 1))
          }
        }
        Workers.pair(worker, helper: worker)
      } / Double(rounds)
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
      best {
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
      instructionSet: isa.description, barrierSeconds: barrier, stepSeconds: step,
      stepWork: 4 * hidden * hidden)
  }

  /// The best of three timed runs after one untimed, in seconds.
  private static func best(_ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<3 {
      let start = DispatchTime.now().uptimeNanoseconds
      body()
      best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
  }
}
