import Dispatch
import TensorLSTM
import Testing

/// With BLAS.threadCount > 1 the forward splits the batch across workers; the results must be
/// the oracle's, whatever the flags, and the thread setting must come back unchanged.
@Suite("LSTM: batch split across workers", .serialized)
struct ParallelForwardTests {
  @Test("every flag, uneven slices", arguments: 0..<16)
  func matchesOracle(seed: Int) throws {
    let saved = withTwoThreads()
    defer { BLAS.threadCount = saved }
    var random = TestRandom(seed: UInt64(seed) + 900)
    let bidirectional = seed % 2 == 1
    let proj = seed % 4 >= 2 ? 2 : 0
    let batchFirst = seed % 8 >= 4
    let model = LSTM<Float>(
      inputSize: 5, hiddenSize: 6, numLayers: 1 + seed % 3, batchFirst: batchFirst,
      bidirectional: bidirectional, projSize: proj, seed: UInt64(seed))
    let (batch, steps) = (9, 7)
    let x: Tensor<Float> = random.tensor(batchFirst ? [batch, steps, 5] : [steps, batch, 5])
    let rows = model.numLayers * model.directions
    let state =
      seed % 3 == 0
      ? LSTMState<Float>(
        hidden: random.tensor([rows, batch, model.outputHiddenSize]),
        cell: random.tensor([rows, batch, 6])) : nil
    let lengths = seed % 5 < 2 ? (0..<batch).map { _ in random.int(1...steps) } : nil
    let fast = try model(x, initialState: state, lengths: lengths)
    let slow = try Naive.lstm(model, x, initialState: state, lengths: lengths)
    expectClose(fast.output, slow.output, absolute: 1e-5, relative: 1e-5, "output")
    expectClose(fast.hidden, slow.hidden, absolute: 1e-5, relative: 1e-5, "hidden")
    expectClose(fast.cell, slow.cell, absolute: 1e-5, relative: 1e-5, "cell")
    expectClose(fast.lastStep, slow.lastStep, absolute: 1e-5, relative: 1e-5, "lastStep")
    #expect(BLAS.threadCount == 2, "the forward restores OpenBLAS's thread count")
  }
}

/// Batch 1 with two threads splits the hidden units between two workers.
@Suite("LSTM: hidden units split across workers at batch 1", .serialized)
struct HiddenSplitTests {
  @Test("unidirectional and bidirectional, stacked, with initial state", arguments: 0..<6)
  func matchesOracle(seed: Int) throws {
    let saved = withTwoThreads()
    defer { BLAS.threadCount = saved }
    var random = TestRandom(seed: UInt64(seed) + 1300)
    let hidden = [128, 136, 200][seed % 3]
    var model = LSTM<Float>(
      inputSize: 7, hiddenSize: hidden, numLayers: 1 + seed % 2, batchFirst: seed % 2 == 0,
      bidirectional: seed >= 3, seed: UInt64(seed))
    // Both kernels: the workers use the fused step, or gemv and the Swift gate pass.
    model.kernels = seed % 2 == 0 ? .automatic : .portable
    let steps = 9 + seed
    let x: Tensor<Float> = random.tensor(seed % 2 == 0 ? [1, steps, 7] : [steps, 1, 7])
    let rows = model.numLayers * model.directions
    let state = LSTMState<Float>(
      hidden: random.tensor([rows, 1, hidden]), cell: random.tensor([rows, 1, hidden]))
    let fast = try model(x, initialState: state)
    let slow = try Naive.lstm(model, x, initialState: state)
    expectClose(fast.output, slow.output, absolute: 1e-5, relative: 1e-5, "output")
    expectClose(fast.hidden, slow.hidden, absolute: 1e-5, relative: 1e-5, "hidden")
    expectClose(fast.cell, slow.cell, absolute: 1e-5, relative: 1e-5, "cell")
    // Unbatched input takes the same path.
    let single = try model(x.squeezed(axis: seed % 2 == 0 ? 0 : 1))
    let singleSlow = try Naive.lstm(model, x.squeezed(axis: seed % 2 == 0 ? 0 : 1))
    expectClose(single.output, singleSlow.output, absolute: 1e-5, relative: 1e-5, "unbatched")
  }
}

@Suite("LSTM: hidden split from saturated thread pools", .serialized)
struct HiddenSplitStarvationTests {
  @Test("batch-1 forwards called from every global-queue thread at once still finish")
  func noStarvation() throws {
    let saved = withTwoThreads()
    defer { BLAS.threadCount = saved }
    let model = LSTM<Float>(inputSize: 4, hiddenSize: 128, seed: 3)
    let x = Tensor<Float>.randomNormal(shape: [50, 1, 4], seed: 4)
    let expected = try model(x).output.scalars
    let results = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: 6)
    results.initialize(repeating: [])
    defer {
      _ = results.deinitialize()
      results.deallocate()
    }
    let shared = SendableBox(results)
    DispatchQueue.concurrentPerform(iterations: 6) { i in
      shared.value[i] = (try? model(x).output.scalars) ?? []
    }
    for i in 0..<6 { #expect(results[i] == expected, "call \(i)") }
  }
}

/// Lets the test hand a buffer to worker threads that write disjoint elements.
struct SendableBox<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

/// Sets BLAS.threadCount to 2 (the forward's parallelism budget) and returns the old value.
func withTwoThreads() -> Int {
  let saved = BLAS.threadCount
  BLAS.threadCount = 2
  return saved
}
