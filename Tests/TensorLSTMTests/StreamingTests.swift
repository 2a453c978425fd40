import TensorLSTM
import Testing

@Suite("Streaming: chunks with carried state equal one call")
struct StreamingTests {
  @Test(
    "unidirectional, every layer count, proj and batch layout", arguments: 0..<12)
  func chunksEqualOneShot(seed: Int) throws {
    var random = TestRandom(seed: UInt64(seed) + 500)
    let batchFirst = seed % 2 == 0
    let layers = 1 + seed % 3
    let proj = seed % 4 >= 2 ? 2 : 0
    let model = LSTM<Float>(
      inputSize: 5, hiddenSize: 6, numLayers: layers, batchFirst: batchFirst, projSize: proj,
      seed: UInt64(seed))
    let (batch, steps) = (seed % 3 == 0 ? 1 : 3, 13)
    let x: Tensor<Float> = random.tensor(batchFirst ? [batch, steps, 5] : [steps, batch, 5])
    let whole = try model(x)
    var state: LSTMState<Float>? = nil
    var outputs: [Tensor<Float>] = []
    var start = 0
    while start < steps {
      let length = min(random.int(1...5), steps - start)
      let chunk = x.sliced(axis: batchFirst ? 1 : 0, range: start..<(start + length))
      let out = try model.streaming(chunk, state: state)
      outputs.append(out.output)
      state = out.state
      start += length
    }
    let timeAxis = batchFirst ? 1 : 0
    for (k, piece) in outputs.enumerated() {
      let offset = outputs[..<k].reduce(0) { $0 + $1.shape[timeAxis] }
      let expected = whole.output.sliced(
        axis: timeAxis, range: offset..<(offset + piece.shape[timeAxis]))
      expectClose(piece, expected.contiguous(), absolute: 1e-6, relative: 1e-6, "chunk \(k)")
    }
    expectClose(state!.hidden, whole.hidden, absolute: 1e-6, relative: 1e-6)
    expectClose(state!.cell, whole.cell, absolute: 1e-6, relative: 1e-6)
  }

  @Test("a bidirectional LSTM refuses to stream with an error that says why")
  func bidirectionalRefuses() {
    let model = LSTM<Float>(inputSize: 2, hiddenSize: 3, bidirectional: true)
    #expect {
      _ = try model.streaming(Tensor<Float>.zeros(shape: [4, 1, 2]), state: nil)
    } throws: { error in
      "\(error)".contains("bidirectional LSTM cannot stream")
    }
  }
}
