import ArgumentParser
import TensorLSTM

/// `--precision`: the weight precision a run compares against Float.
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
  case bf16
  case int8

  var weightPrecision: WeightPrecision { self == .bf16 ? .bfloat16 : .int8 }
}

/// The reduced-precision forward against the Float one, interleaved, on the latency-bound
/// shapes of issue 19 (B 1 and 16, T 1000, I 64, H 256/512/1024) or the custom shape.
enum PrecisionBench {
  static let shapes: [LSTMShape] = [256, 512, 1024].flatMap { hidden in
    [1, 16].map { batch in
      LSTMShape(name: "B\(batch) H\(hidden)", batch: batch, steps: 1000, input: 64, hidden: hidden)
    }
  }

  /// The custom shape's defaults: issue 19's B 1, T 1000, I 64, H 512.
  static let customDefault = LSTMShape(
    name: "custom", batch: 1, steps: 1000, input: 64, hidden: 512)

  static func run(
    _ precision: PrecisionChoice, cell: Cell, shapes: [LSTMShape], threads: Int, repeats: Int,
    json: Bool = false
  ) {
    if !json {
      print(CPU.summary)
      print(
        "\(cell.name) forward, \(precision.rawValue) weights vs Float, \(threads) thread(s), median of \(repeats), interleaved"
      )
      print("case            B     T     I     H    float ms  \(precision.rawValue) ms   speedup")
    }
    for shape in shapes {
      let x = Tensor<Float>.randomNormal(
        shape: [shape.batch, shape.steps, shape.input], seed: 2)
      let (float, reduced) = models(cell, shape, precision.weightPrecision, threads: threads, x)
      let medians = Timing.interleavedMedianMilliseconds(repeats: repeats, [float, reduced])
      if json {
        print(
          #"{"case": "\#(shape.name)", "cell": "\#(cell.name)", "precision": "\#(precision.rawValue)", "float_ms": \#(medians[0]), "reduced_ms": \#(medians[1])}"#
        )
        continue
      }
      print(
        shape.name.padding(toLength: 12, withPad: " ", startingAt: 0)
          + [shape.batch, shape.steps, shape.input, shape.hidden].map {
            fixed(Double($0), 6, digits: 0)
          }.joined()
          + fixed(medians[0], 12) + fixed(medians[1], 10)
          + fixed(medians[0] / medians[1], 9, digits: 2)
          + "×")
    }
  }

  /// The Float forward and the same model at `precision`, as closures.
  static func models(
    _ cell: Cell, _ shape: LSTMShape, _ precision: WeightPrecision, threads: Int,
    _ x: Tensor<Float>
  ) -> (() -> Void, () -> Void) {
    let (i, h) = (shape.input, shape.hidden)
    func pair(_ model: some RecurrentLayer<Float>) -> (() -> Void, () -> Void) {
      var model = model
      model.threads = threads
      var reduced = model
      reduced.weightPrecision = precision
      return (
        { _ = try? model.forward(x, lengths: nil) }, { _ = try? reduced.forward(x, lengths: nil) }
      )
    }
    switch cell {
    case .lstm: return pair(LSTM<Float>(inputSize: i, hiddenSize: h, batchFirst: true, seed: 1))
    case .gru: return pair(GRU<Float>(inputSize: i, hiddenSize: h, batchFirst: true, seed: 1))
    case .rnn: return pair(RNN<Float>(inputSize: i, hiddenSize: h, batchFirst: true, seed: 1))
    }
  }
}
