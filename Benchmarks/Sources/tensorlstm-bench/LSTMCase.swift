import TensorLSTM

/// One benchmark shape of a recurrent layer, and the GEMMs its forward issues.
struct LSTMShape {
  var name: String
  var batch: Int
  var steps: Int
  var input: Int
  var hidden: Int
  var layers = 1
  var bidirectional = false
  /// Gates per unit of the cell timed (4 LSTM, 3 GRU, 1 RNN).
  var gates = 4

  static let article = LSTMShape(name: "article", batch: 32, steps: 10, input: 128, hidden: 64)
  static let large = LSTMShape(name: "large", batch: 64, steps: 100, input: 512, hidden: 512)
  static let streaming = LSTMShape(
    name: "streaming", batch: 1, steps: 1000, input: 64, hidden: 256)

  var directions: Int { bidirectional ? 2 : 1 }

  /// The GEMMs of one forward as (m, k, n, count): per layer and direction, one input
  /// projection over all T·B rows and T recurrent steps.
  var gemms: [(m: Int, k: Int, n: Int, count: Int)] {
    var result: [(Int, Int, Int, Int)] = []
    for layer in 0..<layers {
      let features = layer == 0 ? input : directions * hidden
      for _ in 0..<directions {
        result.append((steps * batch, features, gates * hidden, 1))
        result.append((batch, hidden, gates * hidden, steps))
      }
    }
    return result
  }

  /// Floating-point operations of one forward's GEMMs (the gate pass adds < 2 %).
  var flops: Double {
    gemms.reduce(0) { $0 + 2 * Double($1.m * $1.k * $1.n * $1.count) }
  }

  /// The same GEMMs as bare BLAS calls into preallocated outputs: the time the LSTM cannot beat.
  func gemmLimitMilliseconds(repeats: Int) -> Double {
    let operands = gemms.map { g in
      (
        a: Tensor<Float>.randomNormal(shape: [g.m, g.k], seed: 1),
        w: Tensor<Float>.randomNormal(shape: [g.n, g.k], seed: 2).transposed(0, 1),
        c: Tensor<Float>.zeros(shape: [g.m, g.n]), count: g.count
      )
    }
    var outputs = operands.map(\.c)
    // The BLAS's own sgemm, whatever the engine's calibration picked for its GEMMs.
    return BLAS.withGEMMKernels(.portable) {
      Timing.medianMilliseconds(repeats: repeats) {
        for (i, o) in operands.enumerated() {
          for _ in 0..<o.count { matmul(o.a, o.w, into: &outputs[i], beta: 1) }
        }
      }
    }
  }
}
