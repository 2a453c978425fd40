import ArgumentParser
import TensorLSTM

/// `tensorlstm-bench`: the LSTM's (or GRU's, RNN's) BLAS path against its naive reference path
/// and against the bare-sgemm limit, plus the view ops.
@main
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tensorlstm-bench",
    abstract: "Times TensorLSTM's LSTM (BLAS path vs naive path vs bare sgemm) and view ops.",
    discussion: """
      With no shape flags it runs the default suite: the article (32, 10, 128, 64), large
      (64, 100, 512, 512) and streaming (1, 1000, 64, 256) shapes, then the view ops. Any of
      --batch/--steps/--input/--hidden runs one custom shape instead.
      """)

  @Option(help: "Batch size B (custom shape).") var batch: Int?
  @Option(help: "Time steps T (custom shape).") var steps: Int?
  @Option(help: "Input features I (custom shape).") var input: Int?
  @Option(help: "Hidden units H (custom shape).") var hidden: Int?
  @Option(help: "Stacked layers.") var layers = 1
  @Flag(help: "Bidirectional LSTM.") var bidirectional = false
  @Option(help: "OpenBLAS threads.") var threads = 1
  @Option(help: "Timed runs per case; the median is reported.") var repeats = 15
  @Flag(help: "Skip the naive path (slow on large shapes).") var skipNaive = false
  @Flag(help: "One JSON object per line per case instead of a table.") var json = false
  @Flag(help: "Measure the peak memory one forward adds (the large shape, or the custom one).")
  var peakMemory = false
  @Flag(
    help: "Time the article shape on subnormal (2⁻¹³⁰-scaled, ~7e-40) input against normal input.")
  var subnormalCheck = false
  @Flag(help: "Print each shape's forward plan (split, workers, chunk, step kernels) and exit.")
  var plan = false
  @Flag(
    help:
      "Time the grid B ∈ {1,2,4,6,12,24,48,96} × (I, H) ∈ {(24,48),(96,96),(64,200),(384,384),(128,768)}, T 40, at 1 and 2 threads."
  )
  var grid = false
  @Option(
    help:
      "Stream the streaming shape (or the custom one) in chunks of this many steps; report the per-call time."
  )
  var chunk: Int?
  @Flag(
    help: "Answer 'B T I H threads repeats' lines on stdin with a median time (tools/peers.py).")
  var serve = false
  @Flag(help: "Time the Double forward against the Float one (interleaved) on each shape.")
  var double = false
  @Option(help: "The recurrent layer to time: lstm, gru (PyTorch's, reset after) or rnn (tanh).")
  var cell: Cell = .lstm
  @Flag(
    help:
      "Time LSTM, GRU and RNN interleaved on the default shapes and the grid (1 thread); print GRU/LSTM and RNN/LSTM."
  )
  var compareCells = false
  @Flag(
    help:
      "Time the LSTM training step (forwardWithTrace + backward) against the forward on issue 12's shapes (or the custom one)."
  )
  var train = false
  @Flag(
    help:
      "Time composed models: Sequential vs the layers by hand (article), Embedding forward + backward, a char-LM training step."
  )
  var models = false
  @Option(
    help:
      "Time an ONNX model run by ONNXModel: a Silero VAD file per streamed chunk and per 60 s of audio, any other per forward (symbolic axes from --batch and --steps)."
  )
  var onnx: String?

  @Flag(
    help:
      "Measure what the engine calibrates on this CPU (the input projection's GEMM: packed vs sgemm), print the choice and the times behind it, and exit."
  )
  var calibrate = false

  @Option(
    help:
      "Time the forward with reduced-precision weights (bf16, int8) against Float, interleaved, on B 1 and 16, T 1000, I 64, H 256/512/1024 (or the custom shape); --cell picks the layer."
  )
  var precision: PrecisionChoice?

  mutating func run() throws {
    BLAS.threadCount = threads
    if calibrate {
      print(CPU.summary)
      let calibrations = GEMMCalibration.everyInstructionSet
      if calibrations.isEmpty {
        print("GEMMCalibration: no vector instruction set on this CPU; sgemm runs every GEMM")
      }
      for calibration in calibrations { print(calibration) }
      print(
        SplitCalibration.current.map(String.init(describing:))
          ?? "SplitCalibration: one core or no vector kernels; the plan never splits by units")
      return
    }
    if let precision {
      PrecisionBench.run(
        precision, cell: cell,
        shapes: customShapes(defaults: PrecisionBench.customDefault)
          ?? PrecisionBench.shapes, threads: threads, repeats: repeats, json: json)
      return
    }
    var shapes =
      customShapes(defaults: .article) ?? [LSTMShape.article, .large, .streaming]
    for i in shapes.indices {
      shapes[i].layers = layers
      shapes[i].bidirectional = bidirectional
      shapes[i].gates = cell.gates
    }
    if let onnx {
      try ONNXBench.run(
        path: onnx, batch: batch, steps: steps, threads: threads, repeats: repeats, json: json)
      return
    }
    if models {
      ModelBench.run(threads: threads, repeats: repeats, small: custom)
      return
    }
    if train && peakMemory {
      try PeakMemory.reportTraining(custom ? shapes[0] : .large)
      return
    }
    if train {
      TrainBench.run(
        custom ? shapes : TrainBench.shapes, cell: cell, threads: threads, repeats: repeats,
        json: json)
      return
    }
    if compareCells {
      GridBench.compareCells(custom ? shapes : shapes + GridBench.shapes, repeats: repeats)
      return
    }
    if subnormalCheck {
      let shape = custom ? shapes[0] : .article
      let model = LSTM<Float>(
        inputSize: shape.input, hiddenSize: shape.hidden, batchFirst: true, seed: 1)
      let normal = Tensor<Float>.randomNormal(
        shape: [shape.batch, shape.steps, shape.input], seed: 2)
      let tiny = Tensor<Float>(shape: normal.shape, scalars: normal.scalars.map { $0 * 0x1p-130 })
      let a = Timing.medianMilliseconds(repeats: repeats) { _ = try? model(normal) }
      let b = Timing.medianMilliseconds(repeats: repeats) { _ = try? model(tiny) }
      print(
        "\(shape.name): normal input \(fixed(a, 0)) ms, subnormal input \(fixed(b, 0)) ms, ratio \(fixed(b / a, 0, digits: 2))"
      )
      return
    }
    if serve {
      GridBench.serve()
      return
    }
    if grid {
      GridBench.run(cell: cell, repeats: repeats, json: json)
      return
    }
    if let chunk {
      GridBench.chunked(custom ? shapes[0] : .streaming, chunk: chunk, repeats: repeats)
      return
    }
    if double {
      print(CPU.summary)
      print("Double vs Float LSTM forward, \(threads) thread(s), median of \(repeats), interleaved")
      for shape in shapes {
        let float = LSTM<Float>(
          inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
          batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
        var doubleModel = LSTM<Double>(
          inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
          batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
        try doubleModel.loadStateDict(
          float.stateDict().mapValues { t in
            Tensor<Double>(shape: t.shape, scalars: t.scalars.map(Double.init))
          })
        let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
        let xd = Tensor<Double>(shape: x.shape, scalars: x.scalars.map(Double.init))
        let runs = shape.flops > 1e9 ? Swift.max(3, repeats / 3) : repeats
        var portable = doubleModel
        portable.kernels = .portable
        let medians = Timing.interleavedMedianMilliseconds(
          repeats: runs,
          [{ _ = try? float(x) }, { _ = try? doubleModel(xd) }, { _ = try? portable(xd) }])
        print(
          "\(shape.name.padding(10)) Float \(fixed(medians[0], 9)) ms   Double \(fixed(medians[1], 9)) ms   Double/Float \(fixed(medians[1] / medians[0], 5, digits: 2))   (Double .portable \(fixed(medians[2], 9)) ms: fused \(fixed(medians[2] / medians[1], 5, digits: 2))× faster)"
        )
      }
      return
    }
    if plan {
      print(CPU.summary)
      for shape in shapes {
        print(
          "\(shape.name) (B \(shape.batch), T \(shape.steps), I \(shape.input), H \(shape.hidden)):"
        )
        print(try CellForward(cell, shape, threads: threads).plan())
      }
      return
    }
    if peakMemory {
      try PeakMemory.report(custom ? shapes[0] : .large)
      return
    }
    if !json {
      print(CPU.summary)
      print(
        "TensorLSTM \(cell.name) forward, Float, \(threads) thread(s), median of \(repeats)")
      print(Report.header)
    }
    for shape in shapes {
      progress("\(shape.name): BLAS path")
      let result = try measure(shape)
      print(json ? result.json : result.row)
    }
    if !custom {
      if !json { print("\nView ops on a [64, 128, 128] Float tensor (1M elements), median ns") }
      for line in ViewBench.run(repeats: 101) { print(json ? line.json : line.row) }
    }
  }

  func measure(_ shape: LSTMShape) throws -> Report {
    let forward = CellForward(cell, shape, threads: nil)
    // Large shapes take longer per run; fewer repeats keep the default suite to minutes.
    let runs = shape.flops > 1e9 ? Swift.max(3, repeats / 3) : repeats
    // The default kernels and the portable ones, alternating, so that their ratio is fair.
    let medians = Timing.interleavedMedianMilliseconds(
      repeats: runs, [forward.run, forward.runPortable])
    progress("\(shape.name): bare sgemm limit")
    let limit = shape.gemmLimitMilliseconds(repeats: runs)
    var naive: Double?
    if !skipNaive {
      progress("\(shape.name): naive path")
      naive = Timing.medianMilliseconds(repeats: shape.flops > 1e8 ? 1 : 3) { forward.runNaive() }
    }
    return Report(
      shape: shape, cell: cell, threads: threads, blasMilliseconds: medians[0],
      portableMilliseconds: medians[1],
      naiveMilliseconds: naive, sgemmMilliseconds: limit)
  }

  /// Whether a shape flag is given.
  var custom: Bool { [batch, steps, input, hidden].contains { $0 != nil } }

  /// The one shape the flags give (`--batch/--steps/--input/--hidden`, the rest from
  /// `defaults`), or nil when none is given.
  func customShapes(defaults d: LSTMShape) -> [LSTMShape]? {
    guard custom else { return nil }
    return [
      LSTMShape(
        name: "custom", batch: batch ?? d.batch, steps: steps ?? d.steps, input: input ?? d.input,
        hidden: hidden ?? d.hidden)
    ]
  }

  func progress(_ message: String) {
    if !json { printError("… \(message)") }
  }
}

/// One case's numbers, as a table row or a JSON line.
struct Report {
  var shape: LSTMShape
  var cell: Cell
  var threads: Int
  /// The default kernels (`.automatic`: the fused AVX2 step where the CPU has it).
  var blasMilliseconds: Double
  /// `RecurrentKernels.portable`: BLAS GEMM per step and the baseline-SIMD Swift gate pass.
  var portableMilliseconds: Double
  var naiveMilliseconds: Double?
  var sgemmMilliseconds: Double

  var gflops: Double { Timing.gflops(shape.flops, milliseconds: blasMilliseconds) }
  /// The share of the bare-sgemm speed the whole forward reaches (1 = all time is GEMM).
  var sgemmFraction: Double { sgemmMilliseconds / blasMilliseconds }

  static let header =
    "case        B     T     I     H   naive ms     BLAS ms  speedup  GFLOP/s  sgemm ms  sgemm frac  portable ms"

  var row: String {
    shape.name.padding(9) + fixed(Double(shape.batch), 4, digits: 0)
      + fixed(Double(shape.steps), 6, digits: 0) + fixed(Double(shape.input), 6, digits: 0)
      + fixed(Double(shape.hidden), 6, digits: 0)
      + (naiveMilliseconds.map { fixed($0, 11) } ?? "          -")
      + fixed(blasMilliseconds, 12)
      + (naiveMilliseconds.map { fixed($0 / blasMilliseconds, 8, digits: 1) + "×" } ?? "        -")
      + fixed(gflops, 9, digits: 1) + fixed(sgemmMilliseconds, 10)
      + fixed(sgemmFraction, 12, digits: 2) + fixed(portableMilliseconds, 13)
  }

  var json: String {
    let naive = naiveMilliseconds.map { "\($0)" } ?? "null"
    return """
      {"case":"\(shape.name)","cell":"\(cell.rawValue)","batch":\(shape.batch),"steps":\(shape.steps),"input":\(shape.input),"hidden":\(shape.hidden),"layers":\(shape.layers),"bidirectional":\(shape.bidirectional),"threads":\(threads),"blas_ms":\(blasMilliseconds),"naive_ms":\(naive),"gflops":\(gflops),"sgemm_ms":\(sgemmMilliseconds),"sgemm_fraction":\(sgemmFraction),"portable_ms":\(portableMilliseconds)}
      """
  }
}

/// `value` right-aligned in `width` characters with `digits` decimals.
func fixed(_ value: Double, _ width: Int, digits: Int = 3) -> String {
  var scaled = (value * pow10(digits)).rounded() / pow10(digits)
  if !scaled.isFinite { scaled = 0 }
  var text = digits == 0 ? "\(Int(scaled))" : "\(scaled)"
  if digits > 0, let dot = text.firstIndex(of: ".") {
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
