import TensorLSTM

/// `--train`: the forward with trace plus backward against the plain forward, per shape (issue
/// 12's shapes), and the trace's size; `--cell gru|rnn` times the GRU or RNN instead of the
/// LSTM (called from this package, where an unspecialised generic trace would show).
enum TrainBench {
  static let shapes: [LSTMShape] = [
    .article,
    LSTMShape(
      name: "stacked-bi", batch: 16, steps: 50, input: 128, hidden: 128, layers: 2,
      bidirectional: true),
    .large,
    LSTMShape(name: "long-B1", batch: 1, steps: 1000, input: 64, hidden: 256),
  ]

  /// Medians of forward, forward-with-trace + backward, interleaved; one line (or JSON) a shape.
  static func run(_ shapes: [LSTMShape], cell: Cell, threads: Int, repeats: Int, json: Bool) {
    if !json {
      print(CPU.summary)
      print(
        "\(cell.name) training step (forwardWithTrace + backward, dY given) vs forward, Float, \(threads) thread(s), median of \(repeats), interleaved"
      )
      print(
        "case          B     T     I     H  L  D   forward ms   trace ms  fwd+bwd ms  bwd/fwd   trace MiB"
      )
    }
    for shape in shapes {
      let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
      let dY = Tensor<Float>.randomNormal(
        shape: [shape.batch, shape.steps, shape.directions * shape.hidden], seed: 3)
      let runs = shape.flops > 1e9 ? Swift.max(3, repeats / 3) : repeats
      var traceBytes = 0
      let bodies: [() -> Void]
      switch cell {
      case .lstm:
        var model = LSTM<Float>(
          inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
          batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
        model.threads = threads
        bodies = [
          { _ = try? model(x) },
          {
            guard let trace = try? model.forwardWithTrace(x) else { return }
            traceBytes = trace.byteCount
            _ = try? model.backward(trace, outputGradient: dY)
          },
          { _ = try? model.forwardWithTrace(x) },
        ]
      case .gru, .rnn:
        var gru = GRU<Float>(
          inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
          batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
        var rnn = RNN<Float>(
          inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
          batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
        gru.threads = threads
        rnn.threads = threads
        let isGRU = cell == .gru
        bodies = [
          { _ = isGRU ? try? gru(x) : try? rnn(x) },
          {
            guard let trace = try? (isGRU ? gru.forwardWithTrace(x) : rnn.forwardWithTrace(x))
            else { return }
            traceBytes = trace.byteCount
            _ =
              try?
              (isGRU
              ? gru.backward(trace, outputGradient: dY)
              : rnn.backward(trace, outputGradient: dY))
          },
          { _ = try? (isGRU ? gru.forwardWithTrace(x) : rnn.forwardWithTrace(x)) },
        ]
      }
      let ms = Timing.interleavedMedianMilliseconds(repeats: runs, bodies)
      // The backward alone (fwd+bwd − forward with trace) relative to the plain forward.
      let ratio = (ms[1] - ms[2]) / ms[0]
      if json {
        print(
          #"{"case":"\#(shape.name)","batch":\#(shape.batch),"steps":\#(shape.steps),"input":\#(shape.input),"hidden":\#(shape.hidden),"layers":\#(shape.layers),"bidirectional":\#(shape.bidirectional),"threads":\#(threads),"forward_ms":\#(ms[0]),"trace_ms":\#(ms[2]),"train_ms":\#(ms[1]),"trace_bytes":\#(traceBytes)}"#
        )
      } else {
        print(
          shape.name.padding(11) + fixed(Double(shape.batch), 4, digits: 0)
            + fixed(Double(shape.steps), 6, digits: 0) + fixed(Double(shape.input), 6, digits: 0)
            + fixed(Double(shape.hidden), 6, digits: 0) + fixed(Double(shape.layers), 3, digits: 0)
            + fixed(Double(shape.directions), 3, digits: 0) + fixed(ms[0], 13)
            + fixed(ms[2], 11) + fixed(ms[1], 12) + fixed(ratio, 9, digits: 2)
            + fixed(Double(traceBytes) / 1_048_576, 12, digits: 1))
      }
    }
  }
}
