import Foundation
import TensorLSTM

/// `--onnx FILE`: an ONNX model run by ``ONNXModel``, timed from this separate package as users
/// call it. A Silero-style model (inputs `input`, `state`, `sr`) is timed per 512-sample chunk
/// with its state carried (the streaming call) and over a 60 s file (1875 chunks); any other
/// model per forward, with its symbolic dimensions set to `--batch` (the first) and `--steps`
/// (the others).
enum ONNXBench {
  static func run(path: String, batch: Int?, steps: Int?, threads: Int, repeats: Int, json: Bool)
    throws
  {
    BLAS.threadCount = threads
    let model = try ONNXModel(contentsOfFile: path)
    let names = Set(model.inputs.map(\.name))
    if names == ["input", "state", "sr"] {
      let chunk = Tensor<Float>.randomNormal(shape: [1, 576], seed: 1) * 0.1
      let sr = ONNXValue.int64([16000], shape: [])
      var state = Tensor<Float>.zeros(shape: [2, 1, 128])
      let call = Timing.medianMilliseconds(repeats: repeats * 20) {
        guard
          let out = try? model.run(["input": .float(chunk), "state": .float(state), "sr": sr])
        else { fatalError("the Silero model failed") }
        state = out["stateN"]!.float!
      }
      let file = Timing.medianMilliseconds(repeats: Swift.max(repeats / 5, 1)) {
        var state = Tensor<Float>.zeros(shape: [2, 1, 128])
        for _ in 0..<1875 {
          state = (try? model.run(["input": .float(chunk), "state": .float(state), "sr": sr]))![
            "stateN"]!.float!
        }
      }
      report(json, ["chunk_ms": call, "file60s_ms": file], threads: threads) {
        "Silero chunk (1 × 576 with state), \(threads) thread(s): \(call * 1000) µs per call; 60 s of audio (1875 chunks): \(file) ms"
      }
      return
    }
    var inputs: [String: ONNXValue] = [:]
    for (k, info) in model.inputs.enumerated() {
      var firstSymbol = true
      let shape = info.shape.map { d -> Int in
        if let d { return d }
        defer { firstSymbol = false }
        return firstSymbol ? (batch ?? 1) : (steps ?? 10)
      }
      let count = shape.reduce(1, *)
      switch info.elementType {
      case .int64: inputs[info.name] = .int64((0..<count).map { Int64($0 % 7) }, shape: shape)
      case .bool: inputs[info.name] = .bool(Array(repeating: false, count: count), shape: shape)
      default: inputs[info.name] = .float(.randomNormal(shape: shape, seed: UInt64(k + 1)))
      }
    }
    let forward = Timing.medianMilliseconds(repeats: repeats) { _ = try? model.run(inputs) }
    report(json, ["forward_ms": forward], threads: threads) {
      "\(path): inputs \(inputs.mapValues(\.shape)), \(threads) thread(s): \(forward) ms per forward"
    }
  }

  static func report(
    _ json: Bool, _ values: [String: Double], threads: Int, _ text: () -> String
  ) {
    if json {
      let fields = values.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
      print(
        "{\"cpu\": \"\(CPU.summary)\", \"threads\": \(threads), \(fields.joined(separator: ", "))}")
    } else {
      print(CPU.summary)
      print(text())
    }
  }
}
