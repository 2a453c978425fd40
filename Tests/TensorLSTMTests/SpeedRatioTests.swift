import TensorLSTM
import Testing

/// The one timing check in the suite: a ratio measured in the same run, so a slow or noisy
/// machine slows both sides alike. Absolute speed lives in tensorlstm-bench.
@Suite("Speed ratio")
struct SpeedRatioTests {
  @Test("the BLAS LSTM is at least 10× faster than the naive one on the article shape")
  func articleRatio() throws {
    let model = LSTM<Float>(inputSize: 128, hiddenSize: 64, batchFirst: true, seed: 1)
    let x = Tensor<Float>.randomNormal(shape: [32, 10, 128], seed: 2)
    let clock = ContinuousClock()
    func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Duration {
      var fastest = Duration.seconds(1_000)
      for _ in 0..<runs { fastest = min(fastest, try clock.measure(body)) }
      return fastest
    }
    // Interleave and keep each side's best, which noise can only make worse, not better.
    var blas = Duration.seconds(1_000)
    var naive = Duration.seconds(1_000)
    for _ in 0..<3 {
      blas = min(blas, try best(5) { _ = try model(x) })
      naive = min(naive, try best(1) { _ = try Naive.lstm(model, x) })
    }
    let ratio = naive / blas
    #expect(ratio >= 10, "naive \(naive) vs BLAS \(blas): only \(ratio)×")
  }
}
