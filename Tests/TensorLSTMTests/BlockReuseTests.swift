import TensorLSTM
import Testing

/// Large buffers a call frees come back to the next call of the same size (a training loop
/// allocates the same trace, gradients and scratch every step): reuse must never let an
/// earlier call's data through.
@Suite("Reused blocks")
struct BlockReuseTests {
  @Test("a freed large tensor's block serves the next tensor of its size, and zeros() are zeros")
  func freedBlockIsReused() {
    // 1 MiB + 52 bytes: a size no other test allocates, so no parallel test takes the block.
    let count = (1 << 18) + 13
    var address: UInt? = nil
    do {
      let sevens = Tensor<Float>(repeating: 7, shape: [count])
      address = sevens.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    }
    let zeros = Tensor<Float>.zeros(shape: [count])
    #expect(zeros.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == address)
    #expect(zeros.scalars.allSatisfy { $0 == 0 })
  }

  /// A backward with lengths after one without, on the same shapes: the second finds the
  /// first's trace and scratch blocks full of its values (padded rows included) and must give
  /// what it gives on fresh memory — the result of the first time it ran.
  @Test(
    "a backward with lengths gives the same gradients after a backward that filled its blocks",
    arguments: ["LSTM", "GRU (reset before)", "RNN"])
  func backwardIgnoresStaleBlocks(cell: String) throws {
    let (batch, steps, input, hidden) = (6, 40, 24, 160)
    let x = Tensor<Float>.randomNormal(shape: [batch, steps, input], seed: 1)
    let dY = Tensor<Float>.randomNormal(shape: [batch, steps, hidden], seed: 2)
    let lengths = [40, 3, 17, 40, 1, 29]
    func gradients(lengths: [Int]?) throws -> [String: [Float]] {
      let parameters: [String: Tensor<Float>]
      let dX: Tensor<Float>
      switch cell {
      case "LSTM":
        let lstm = LSTM<Float>(inputSize: input, hiddenSize: hidden, batchFirst: true, seed: 3)
        let g = try lstm.backward(
          try lstm.forwardWithTrace(x, lengths: lengths), outputGradient: dY)
        (parameters, dX) = (g.parameters, g.input)
      case "RNN":
        let rnn = RNN<Float>(inputSize: input, hiddenSize: hidden, batchFirst: true, seed: 3)
        let g = try rnn.backward(try rnn.forwardWithTrace(x, lengths: lengths), outputGradient: dY)
        (parameters, dX) = (g.parameters, g.input)
      default:
        let gru = GRU<Float>(
          inputSize: input, hiddenSize: hidden, batchFirst: true, resetAfter: false, seed: 3)
        let g = try gru.backward(try gru.forwardWithTrace(x, lengths: lengths), outputGradient: dY)
        (parameters, dX) = (g.parameters, g.input)
      }
      return parameters.mapValues(\.scalars).merging(["input": dX.scalars]) { a, _ in a }
    }
    let first = try gradients(lengths: lengths)
    _ = try gradients(lengths: nil)
    let again = try gradients(lengths: lengths)
    for (name, values) in first {
      let other = again[name] ?? []
      let difference = zip(other, values).map { abs($0 - $1) }.max() ?? 0
      #expect(
        other.count == values.count && difference == 0, "\(cell) \(name): max |Δ| \(difference)")
    }
  }
}
