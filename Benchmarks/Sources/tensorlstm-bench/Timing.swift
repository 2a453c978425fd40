/// Wall-clock timing with medians: the one statistic that stays put on a shared machine.
enum Timing {
  /// The median of `repeats` timed runs of `body`, in milliseconds, after one warm-up run.
  static func medianMilliseconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    let clock = ContinuousClock()
    var samples: [Double] = []
    samples.reserveCapacity(repeats)
    for _ in 0..<Swift.max(repeats, 1) {
      let elapsed = clock.measure(body)
      samples.append(
        Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15)
    }
    samples.sort()
    let middle = samples.count / 2
    return samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
  }

  /// `flops` floating-point operations in `milliseconds`, as GFLOP/s.
  static func gflops(_ flops: Double, milliseconds: Double) -> Double {
    flops / (milliseconds * 1e6)
  }
}
