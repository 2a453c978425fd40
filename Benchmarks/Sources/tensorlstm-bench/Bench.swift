import ArgumentParser
import TensorLSTM

/// `tensorlstm-bench`: the library's BLAS path against the naive reference path.
@main
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tensorlstm-bench",
    abstract: "Times TensorLSTM's BLAS path against its naive reference path.")

  @Option(help: "Batch size B.") var batch = 32
  @Option(help: "Time steps T.") var steps = 10
  @Option(help: "Input features I.") var input = 128
  @Option(help: "Hidden units H.") var hidden = 64
  @Option(help: "OpenBLAS threads.") var threads = 1
  @Option(help: "Timed runs per case (the median is reported).") var repeats = 20

  mutating func run() throws {
    BLAS.threadCount = threads
    let gateRows = 4 * hidden
    let cases: [(name: String, m: Int, k: Int, n: Int)] = [
      ("input projection", batch * steps, input, gateRows),
      ("recurrent step", batch, hidden, gateRows),
    ]
    print("matmul, Float, \(threads) thread(s), median of \(repeats)")
    print("case                 shape                     naive ms    BLAS ms  GFLOP/s  speedup")
    for c in cases {
      let a = Tensor<Float>.randomNormal(shape: [c.m, c.k], seed: 1)
      // Weights are stored [4H, in] as in PyTorch and read transposed, as the LSTM does.
      let w = Tensor<Float>.randomNormal(shape: [c.n, c.k], seed: 2).transposed(0, 1)
      let naive = Timing.medianMilliseconds(repeats: Swift.max(repeats / 5, 1)) {
        _ = Naive.matmul(a, w)
      }
      let blas = Timing.medianMilliseconds(repeats: repeats) { _ = matmul(a, w) }
      let flops = 2.0 * Double(c.m * c.k * c.n)
      let shape = "\(c.m)×\(c.k)·\(c.k)×\(c.n)"
      print(
        c.name.padding(20) + " " + shape.padding(24) + fixed(naive, 11) + fixed(blas, 11)
          + fixed(Timing.gflops(flops, milliseconds: blas), 9, digits: 1)
          + fixed(naive / blas, 9, digits: 1) + "×")
    }
  }
}

/// `value` right-aligned in `width` characters with `digits` decimals.
func fixed(_ value: Double, _ width: Int, digits: Int = 3) -> String {
  var scaled = (value * pow10(digits)).rounded() / pow10(digits)
  if !scaled.isFinite { scaled = 0 }
  var text = "\(scaled)"
  if let dot = text.firstIndex(of: ".") {
    let decimals = text.distance(from: dot, to: text.endIndex) - 1
    text += String(repeating: "0", count: Swift.max(digits - decimals, 0))
  }
  return String(repeating: " ", count: Swift.max(width - text.count, 0)) + text
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }

extension String {
  /// Left-aligned in `width` characters.
  func padding(_ width: Int) -> String {
    self + String(repeating: " ", count: Swift.max(width - count, 0))
  }
}
