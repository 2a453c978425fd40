import TensorLSTM
import Testing

/// The one timing check in the suite: a ratio measured in the same run, so a slow or noisy
/// machine slows both sides alike. Absolute speed lives in tensorlstm-bench.
///
/// It runs only in an optimised build without a sanitizer: instrumentation slows the BLAS
/// side's Swift and C code but not OpenBLAS, and the naive side alike, so the ratio under
/// AddressSanitizer measured 9.97× on a Zen 5 — a number about the sanitizer, not the code.
@Suite("Speed ratio")
struct SpeedRatioTests {
  /// True in a release build with no sanitizer runtime loaded.
  static var timingIsMeaningful: Bool {
    #if DEBUG
      return false
    #else
      return !sanitizerIsLoaded
    #endif
  }

  @Test(
    "the BLAS LSTM is at least 10× faster than the naive one on the article shape",
    .enabled(
      if: timingIsMeaningful, "timing under a sanitizer or in a debug build is not the code's"))
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
