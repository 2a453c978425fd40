import Benchmark
import Foundation
import TensorLSTM

/// Perf regression thresholds for the LSTM, GRU and RNN forwards.
///
/// - Malloc counts are deterministic and checked exactly. The article shape at T = 10 and at
///   T = 1000 must allocate the same number of times: the time loop allocates nothing.
/// - Wall-clock p90 is checked against the committed value within 50 %: this machine is
///   shared, and runs a few minutes apart differed by 35 % at p90.
///
/// Run: `swift package --package-path Benchmarks benchmark thresholds check`
/// Update: `swift package --package-path Benchmarks --allow-writing-to-package-directory
///   benchmark thresholds update`
let benchmarks: @Sendable () -> Void = {
  BLAS.threadCount = 1
  let mallocs = Benchmark.Configuration(
    metrics: [.mallocCountTotal], maxDuration: .seconds(2), maxIterations: 20,
    thresholds: [.mallocCountTotal: .init(absolute: [.p0: 0, .p50: 0, .p90: 0, .p100: 0])])
  for steps in [10, 1000] {
    let model = LSTM<Float>(inputSize: 128, hiddenSize: 64, batchFirst: true, seed: 1)
    let x = Tensor<Float>.randomNormal(shape: [32, steps, 128], seed: 2)
    Benchmark("mallocs_article_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try model(x)) }
    }
    // The GRU (both reset placements) and the RNN on the same engine: the same count at
    // T 10 and T 1000.
    let gru = GRU<Float>(inputSize: 128, hiddenSize: 64, batchFirst: true, seed: 1)
    let gruBefore = GRU<Float>(
      inputSize: 128, hiddenSize: 64, batchFirst: true, resetAfter: false, seed: 1)
    let rnn = RNN<Float>(inputSize: 128, hiddenSize: 64, batchFirst: true, seed: 1)
    Benchmark("mallocs_gru_article_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try gru(x)) }
    }
    Benchmark("mallocs_gru_reset_before_article_T\(steps)", configuration: mallocs) {
      benchmark in
      for _ in benchmark.scaledIterations { blackHole(try gruBefore(x)) }
    }
    Benchmark("mallocs_rnn_article_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try rnn(x)) }
    }
    // Reduced precision: int8 (the int8 step, the int8 input projection and, with projSize,
    // W_hr's int8 product every step) and bfloat16 streamed at batch 1 (W_hh over 1 MiB): the
    // same count at T 10 and T 1000.
    var int8 = LSTM<Float>(
      inputSize: 128, hiddenSize: 64, batchFirst: true, projSize: 32, seed: 1)
    int8.weightPrecision = .int8
    Benchmark("mallocs_int8_proj_article_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try int8(x)) }
    }
    var bf16 = LSTM<Float>(inputSize: 64, hiddenSize: 512, batchFirst: true, seed: 1)
    bf16.weightPrecision = .bfloat16
    let one = Tensor<Float>.randomNormal(shape: [1, steps, 64], seed: 4)
    Benchmark("mallocs_bf16_streaming_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try bf16(one)) }
    }
    // Training: forwardWithTrace + backward (LSTM, and the GRU), the same count at T 10 and
    // T 1000: nothing is allocated per step in the backward either.
    let dY = Tensor<Float>.randomNormal(shape: [32, steps, 64], seed: 3)
    Benchmark("mallocs_train_article_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try model.backward(try model.forwardWithTrace(x), outputGradient: dY))
      }
    }
    Benchmark("mallocs_train_gru_article_T\(steps)", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try gru.backward(try gru.forwardWithTrace(x), outputGradient: dY))
      }
    }
  }

  // ONNX models after their first run: the plan's steps replay into kept buffers, so a run
  // allocates only its result dictionary (and the caller's input dictionary, built here per
  // chunk as a streaming caller does): 2 for a Silero chunk, 1 for the tagger.
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  // op15 lowers an LSTM node; op18's LSTM cell is fused from Gemm/Split/elementwise steps.
  for (file, name) in [
    ("silero_vad_16k_op15", "mallocs_onnx_silero_chunk"),
    ("silero_vad_op18_ifless", "mallocs_onnx_silero_op18_chunk"),
  ] {
    let path = root.appendingPathComponent(".build/models/silero_vad/data/\(file).onnx").path
    guard let silero = try? ONNXModel(contentsOfFile: path) else { continue }
    let chunk = Tensor<Float>.randomNormal(shape: [1, 576], seed: 1)
    let sr = ONNXValue.int64([16000], shape: [])
    var state = Tensor<Float>.zeros(shape: [2, 1, 128])
    for _ in 0..<3 {
      state = try! silero.run(["input": .float(chunk), "state": .float(state), "sr": sr])[
        "stateN"]!.float!
    }
    Benchmark(name, configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations {
        let out = try silero.run(["input": .float(chunk), "state": .float(state), "sr": sr])
        state = out["stateN"]!.float!
      }
    }
  }
  let taggerPath = root.appendingPathComponent(
    "Tests/TensorLSTMTests/Fixtures/onnx_tagger_op17.onnx"
  ).path
  if let tagger = try? ONNXModel(contentsOfFile: taggerPath) {
    let ids = ONNXValue.int64((0..<400).map { Int64($0 % 7) }, shape: [8, 50])
    let inputs = ["input": ids]
    for _ in 0..<3 { _ = try! tagger.run(inputs) }
    Benchmark("mallocs_onnx_tagger", configuration: mallocs) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try tagger.run(inputs)) }
    }
  }

  let shapes: [(name: String, batch: Int, steps: Int, input: Int, hidden: Int, runs: Int)] = [
    ("article", 32, 10, 128, 64, 2000),
    ("large", 64, 100, 512, 512, 7),
    ("streaming", 1, 1000, 64, 256, 40),
  ]
  for shape in shapes {
    let model = LSTM<Float>(
      inputSize: shape.input, hiddenSize: shape.hidden, batchFirst: true, seed: 1)
    let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
    let configuration = Benchmark.Configuration(
      metrics: [.wallClock, .mallocCountTotal], warmupIterations: 2, maxDuration: .seconds(10),
      maxIterations: shape.runs,
      thresholds: [
        .wallClock: .init(relative: [.p50: 35.0, .p90: 50.0]),
        .mallocCountTotal: .init(absolute: [.p50: 0, .p90: 0]),
      ])
    Benchmark("forward_\(shape.name)", configuration: configuration) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try model(x)) }
    }
    let gru = GRU<Float>(
      inputSize: shape.input, hiddenSize: shape.hidden, batchFirst: true, seed: 1)
    Benchmark("forward_gru_\(shape.name)", configuration: configuration) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try gru(x)) }
    }
  }
}
