import Foundation
import TensorLSTM

/// The grid of issue 9: B × (I, H) at T = 40, the forward timed at 1 and 2 threads; and the
/// line protocol `tools/peers.py --grid` uses to interleave TensorLSTM with its peers.
enum GridBench {
  static let batches = [1, 2, 4, 6, 12, 24, 48, 96]
  static let sizes = [(24, 48), (96, 96), (64, 200), (384, 384), (128, 768)]
  static let steps = 40

  static var shapes: [LSTMShape] {
    sizes.flatMap { input, hidden in
      batches.map { batch in
        LSTMShape(
          name: "grid", batch: batch, steps: steps, input: input, hidden: hidden)
      }
    }
  }

  /// LSTM, GRU and RNN forwards interleaved per shape at 1 thread: the GRU/LSTM and RNN/LSTM
  /// time ratios and their geometric means.
  static func compareCells(_ shapes: [LSTMShape], repeats: Int) {
    print(CPU.summary)
    print(
      "LSTM, GRU and RNN forwards, Float, 1 thread, batch-first, median of \(repeats), interleaved")
    print(
      "      case     B     T     I     H     LSTM ms      GRU ms      RNN ms  GRU/LSTM  RNN/LSTM")
    var (gruLogs, rnnLogs) = ([Double](), [Double]())
    for shape in shapes {
      let forwards = Cell.allCases.map { CellForward($0, shape, threads: 1) }
      let runs = shape.flops > 2e9 ? Swift.max(3, repeats / 3) : repeats
      let ms = Timing.interleavedMedianMilliseconds(repeats: runs, forwards.map(\.run))
      gruLogs.append(log(ms[1] / ms[0]))
      rnnLogs.append(log(ms[2] / ms[0]))
      print(
        shape.name.padding(10) + fixed(Double(shape.batch), 4, digits: 0)
          + fixed(Double(shape.steps), 6, digits: 0) + fixed(Double(shape.input), 6, digits: 0)
          + fixed(Double(shape.hidden), 6, digits: 0) + fixed(ms[0], 12) + fixed(ms[1], 12)
          + fixed(ms[2], 12) + fixed(ms[1] / ms[0], 10, digits: 2)
          + fixed(ms[2] / ms[0], 10, digits: 2))
    }
    let mean = { (logs: [Double]) in exp(logs.reduce(0, +) / Double(logs.count)) }
    print(
      "geometric mean: GRU/LSTM \(fixed(mean(gruLogs), 0, digits: 2)), RNN/LSTM \(fixed(mean(rnnLogs), 0, digits: 2)) over \(shapes.count) shapes"
    )
  }

  /// A batch-first model and input for `shape`, with the thread budget `threads`.
  static func model(_ shape: LSTMShape, threads: Int) -> (LSTM<Float>, Tensor<Float>) {
    var model = LSTM<Float>(
      inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
      batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
    model.threads = threads
    let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
    return (model, x)
  }

  /// The median forward time at 1 and at 2 threads, interleaved, for each grid shape.
  static func run(cell: Cell, repeats: Int, json: Bool) {
    if !json {
      print(CPU.summary)
      print(
        "TensorLSTM \(cell.name) forward on the grid, Float, T \(steps), batch-first, median of \(repeats) (interleaved 1 and 2 threads)"
      )
      print("    B     I     H   1 thread ms  2 threads ms  2/1   split (2 threads)")
    }
    for var shape in shapes {
      shape.gates = cell.gates
      let one = CellForward(cell, shape, threads: 1)
      let two = CellForward(cell, shape, threads: 2)
      let runs = shape.flops > 2e9 ? Swift.max(3, repeats / 3) : repeats
      let medians = Timing.interleavedMedianMilliseconds(repeats: runs, [one.run, two.run])
      let split = (try? two.plan().split.rawValue) ?? "?"
      if json {
        print(
          #"{"batch":\#(shape.batch),"steps":\#(shape.steps),"input":\#(shape.input),"hidden":\#(shape.hidden),"ms_1":\#(medians[0]),"ms_2":\#(medians[1]),"split_2":"\#(split)"}"#
        )
      } else {
        print(
          fixed(Double(shape.batch), 5, digits: 0) + fixed(Double(shape.input), 6, digits: 0)
            + fixed(Double(shape.hidden), 6, digits: 0) + fixed(medians[0], 14)
            + fixed(medians[1], 14) + fixed(medians[1] / medians[0], 6, digits: 2) + "   "
            + split)
      }
    }
  }

  /// Answers timing requests on standard input, one a line: `B T I H threads repeats [cell]`
  /// (cell lstm, gru or rnn; lstm when absent) → one JSON line `{"ms": median}`. Models are kept per shape and budget, so a request times only
  /// the forward. `tools/peers.py --grid` drives this to interleave us with its peers per shape.
  static func serve() {
    var models: [String: CellForward] = [:]
    print(#"{"ready":true,"cpu":"\#(CPU.summary)"}"#)
    fflush(nil)  // all streams: stdout is not concurrency-safe to name
    while let line = readLine() {
      let words = line.split(separator: " ")
      let fields = words.prefix(6).compactMap { Int($0) }
      let cell = words.count > 6 ? Cell(rawValue: String(words[6])) : .lstm
      guard fields.count == 6, words.count <= 7, let cell else {
        print(#"{"error":"expected: B T I H threads repeats [lstm|gru|rnn]"}"#)
        fflush(nil)  // all streams: stdout is not concurrency-safe to name
        continue
      }
      let shape = LSTMShape(
        name: "serve", batch: fields[0], steps: fields[1], input: fields[2], hidden: fields[3])
      let key = fields[0..<5].map(String.init).joined(separator: " ") + " \(cell)"
      let forward = models[key] ?? CellForward(cell, shape, threads: fields[4])
      models[key] = forward
      let ms = Timing.medianMilliseconds(repeats: fields[5]) { forward.run() }
      print(#"{"ms":\#(ms)}"#)
      fflush(nil)  // all streams: stdout is not concurrency-safe to name
    }
  }

  /// Streaming in chunks of `chunk` steps through `LSTM.streaming`: the per-call overhead of
  /// small calls, at 1 and 2 threads, interleaved.
  static func chunked(_ shape: LSTMShape, chunk: Int, repeats: Int) {
    let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
    let pieces = stride(from: 0, to: shape.steps, by: chunk).map {
      x.sliced(axis: 1, range: $0..<Swift.min($0 + chunk, shape.steps)).contiguous()
    }
    let (one, _) = model(shape, threads: 1)
    var two = one
    two.threads = 2
    func stream(_ model: LSTM<Float>) {
      var state: LSTMState<Float>? = nil
      for piece in pieces { state = (try? model.streaming(piece, state: state))?.state }
    }
    let medians = Timing.interleavedMedianMilliseconds(
      repeats: repeats, [{ stream(one) }, { stream(two) }])
    print(CPU.summary)
    print(
      "\(shape.name) (B \(shape.batch), T \(shape.steps), I \(shape.input), H \(shape.hidden)) in chunks of \(chunk) step(s): \(pieces.count) calls"
    )
    for (threads, ms) in zip([1, 2], medians) {
      print(
        "  \(threads) thread(s): \(fixed(ms, 0)) ms per sequence, \(fixed(ms * 1000 / Double(pieces.count), 0, digits: 2)) µs per call"
      )
    }
  }
}
