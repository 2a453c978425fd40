import TensorLSTM

#if canImport(Glibc)
  import Glibc
#endif

/// Peak resident memory of one LSTM forward, against the budget weights + input + output +
/// one gate-buffer chunk.
enum PeakMemory {
  /// VmHWM (peak resident set) from /proc/self/status, in bytes.
  static func peakResidentBytes() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
      let text = String(
        decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      if text.hasPrefix("VmHWM:") {
        return (Int(text.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
      }
    }
    return 0
  }

  /// Peak memory of one training step (forwardWithTrace + backward) against the trace's
  /// documented size plus the gradients and the backward's scratch.
  static func reportTraining(_ shape: LSTMShape) throws {
    let model = LSTM<Float>(
      inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
      batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
    let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
    let dY = Tensor<Float>.randomNormal(
      shape: [shape.batch, shape.steps, shape.directions * shape.hidden], seed: 3)
    let before = peakResidentBytes()
    let trace = try model.forwardWithTrace(x)
    let g = try model.backward(trace, outputGradient: dY)
    let added = peakResidentBytes() - before
    let size = MemoryLayout<Float>.stride
    let output = trace.output.output.count * size
    let gradients = (g.parameters.values.reduce(0) { $0 + $1.count } + g.input.count) * size
    // The backward's scratch: dG [T, B, 4H] and H(t−1) [T, B, H] of one layer-direction.
    let rows = shape.steps * shape.batch
    let scratch = rows * 5 * shape.hidden * size
    let mib = { (bytes: Int) in fixed(Double(bytes) / 1_048_576, 8, digits: 1) + " MiB" }
    print(
      "peak memory of one training step, \(shape.name) (B \(shape.batch), T \(shape.steps), I \(shape.input), H \(shape.hidden))"
    )
    print("  trace (trace.byteCount)   " + mib(trace.byteCount))
    print("  output                    " + mib(output))
    print("  gradients (θ and x)       " + mib(gradients))
    print("  backward scratch          " + mib(scratch))
    // dX is made time-major, then copied into the batch-first layout of x.
    let relayout = g.input.count * size
    print("  dX's batch-first copy     " + mib(relayout))
    let budget = trace.byteCount + output + gradients + scratch + relayout
    print("  budget (all five, +10%)   " + mib(budget * 11 / 10))
    print("  peak-RSS growth           " + mib(added))
  }

  static func report(_ shape: LSTMShape) throws {
    let start = peakResidentBytes()
    let model = LSTM<Float>(
      inputSize: shape.input, hiddenSize: shape.hidden, numLayers: shape.layers,
      batchFirst: true, bidirectional: shape.bidirectional, seed: 1)
    let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
    let before = peakResidentBytes()
    let out = try model(x)
    let added = peakResidentBytes() - before
    let size = MemoryLayout<Float>.stride
    let weights = model.stateDict().values.reduce(0) { $0 + $1.count } * size
    let output = (out.output.count + out.hidden.count + out.cell.count + out.lastStep.count) * size
    let stepBytes = shape.batch * 4 * shape.hidden * size
    let chunk = Swift.min(shape.steps, Swift.max(1, (4 << 20) / stepBytes)) * stepBytes
    // The fused kernels keep a packed copy of each weight_hh (units rounded up to 8), made when
    // the weights are set: weights too, as onnxruntime's prepacked ones are.
    let packed =
      RecurrentKernels.isFusedSupported
      ? shape.layers * shape.directions * (shape.hidden + 7) / 8 * 8 * 4 * shape.hidden * size : 0
    let mib = { (bytes: Int) in fixed(Double(bytes) / 1_048_576, 8, digits: 1) + " MiB" }
    print(
      "peak memory of one forward, \(shape.name) (B \(shape.batch), T \(shape.steps), I \(shape.input), H \(shape.hidden))"
    )
    print("  weights          " + mib(weights) + " (resident before the forward)")
    print("  packed W_hh      " + mib(packed) + " (fused kernels; resident before the forward)")
    print("  input            " + mib(x.count * size) + " (resident before the forward)")
    print("  output + state   " + mib(output))
    print("  gate chunk       " + mib(chunk))
    print("  budget for the forward (output + chunk, +10%) " + mib((output + chunk) * 11 / 10))
    print("  peak-RSS growth during the forward            " + mib(added))
    let whole = weights + packed + x.count * size + output + chunk
    print("  budget for the process (all five, +10%)       " + mib(whole * 11 / 10))
    print(
      "  peak-RSS growth since start (includes making the input) "
        + mib(peakResidentBytes() - start))
  }
}
