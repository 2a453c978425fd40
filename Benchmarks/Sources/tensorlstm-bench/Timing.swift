/// Wall-clock timing with medians: the one statistic that stays put on a shared machine.
enum Timing {
  /// The median of `repeats` timed runs of `body`, in milliseconds, after one warm-up run.
  static func medianMilliseconds(repeats: Int, _ body: () -> Void) -> Double {
    withoutActuallyEscaping(body) { interleavedMedianMilliseconds(repeats: repeats, [$0])[0] }
  }

  /// The medians of `repeats` timed runs of each body, taken in turn (a, b, a, b, …) so that
  /// the machine's drift falls on all of them alike; one warm-up run each first.
  static func interleavedMedianMilliseconds(repeats: Int, _ bodies: [() -> Void]) -> [Double] {
    for body in bodies { body() }
    let clock = ContinuousClock()
    var samples = Array(repeating: [Double](), count: bodies.count)
    for _ in 0..<Swift.max(repeats, 1) {
      for (i, body) in bodies.enumerated() {
        let elapsed = clock.measure(body)
        samples[i].append(
          Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds)
            * 1e-15)
      }
    }
    return samples.map(median)
  }

  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }

  /// `flops` floating-point operations in `milliseconds`, as GFLOP/s.
  static func gflops(_ flops: Double, milliseconds: Double) -> Double {
    flops / (milliseconds * 1e6)
  }
}
