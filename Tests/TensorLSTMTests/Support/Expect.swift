import TensorLSTM
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Checks the shape first, then every value within `absolute + relative · |expected|`.
func expectClose<Scalar: BLASScalar>(
  _ actual: Tensor<Scalar>, _ expected: Tensor<Scalar>, absolute: Double = 1e-5,
  relative: Double = 1e-5, _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    actual.shape == expected.shape, "shape \(actual.shape) ≠ \(expected.shape) \(context)",
    sourceLocation: sourceLocation)
  guard actual.shape == expected.shape else { return }
  expectClose(
    actual.scalars.map(Double.init), expected.scalars.map(Double.init), absolute: absolute,
    relative: relative, context, sourceLocation: sourceLocation)
}

/// The same check for plain arrays (already in row-major order).
func expectClose(
  _ actual: [Double], _ expected: [Double], absolute: Double = 1e-5, relative: Double = 1e-5,
  _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    actual.count == expected.count, "count \(actual.count) ≠ \(expected.count) \(context)",
    sourceLocation: sourceLocation)
  var worst = (index: -1, excess: 0.0)
  for (i, (a, e)) in zip(actual, expected).enumerated() {
    if a.isNaN && e.isNaN { continue }
    if a == e { continue }
    let excess = abs(a - e) - (absolute + relative * abs(e))
    if !(excess <= 0) && (worst.index < 0 || excess > worst.excess || excess.isNaN) {
      worst = (i, excess.isNaN ? .infinity : excess)
    }
  }
  if worst.index >= 0 {
    Issue.record(
      "element \(worst.index): \(actual[worst.index]) vs expected \(expected[worst.index]) \(context)",
      sourceLocation: sourceLocation)
  }
}

/// A deterministic random source for test data.
struct TestRandom {
  var generator: SeededGenerator
  init(seed: UInt64) { generator = SeededGenerator(seed: seed) }
  mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
  mutating func bool() -> Bool { Bool.random(using: &generator) }
  mutating func tensor<S: BLASScalar>(_ shape: [Int], _: S.Type = S.self) -> Tensor<S> {
    Tensor<S>.randomUniform(shape: shape, in: -1...1, using: &generator)
  }
}

/// What a stopped exit-test child process printed on stderr.
func stderrText(_ result: ExitTest.Result?) -> String {
  String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
}

/// Whether an AddressSanitizer, ThreadSanitizer or MemorySanitizer runtime is loaded: timing
/// and memory-limit tests measure the sanitizer then, not the code.
let sanitizerIsLoaded = ["__asan_init", "__tsan_init", "__msan_init"].contains { (name: String) in
  dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) != nil
}
