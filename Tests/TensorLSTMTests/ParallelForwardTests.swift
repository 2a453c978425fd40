import Dispatch
import Foundation
import TensorLSTM
import Testing

/// Every test that runs forwards on more than one thread, in one serialized parent suite: the
/// budgets are per model (`model.threads`), but OpenBLAS's thread count is process-wide, and
/// the test of the global setting must not interleave with the others.
@Suite("Threads", .serialized)
struct ThreadTests {}

/// With a budget of 2 threads the forward splits the batch across workers; the results must be
/// the oracle's, whatever the flags, and OpenBLAS's thread setting must come back unchanged.
extension ThreadTests {
  @Suite("LSTM: batch split across workers")
  struct BatchSplitTests {
    @Test("every flag, uneven slices", arguments: 0..<16)
    func matchesOracle(seed: Int) throws {
      var random = TestRandom(seed: UInt64(seed) + 900)
      let bidirectional = seed % 2 == 1
      let proj = seed % 4 >= 2 ? 2 : 0
      let batchFirst = seed % 8 >= 4
      var model = LSTM<Float>(
        inputSize: 5, hiddenSize: 6, numLayers: 1 + seed % 3, batchFirst: batchFirst,
        bidirectional: bidirectional, projSize: proj, seed: UInt64(seed))
      model.threads = 2
      model.threadSplit = .batchSlices  // a shape this small would not pay for it
      let (batch, steps) = (9, 7)
      let x: Tensor<Float> = random.tensor(batchFirst ? [batch, steps, 5] : [steps, batch, 5])
      let rows = model.numLayers * model.directions
      let state =
        seed % 3 == 0
        ? LSTMState<Float>(
          hidden: random.tensor([rows, batch, model.outputHiddenSize]),
          cell: random.tensor([rows, batch, 6])) : nil
      let lengths = seed % 5 < 2 ? (0..<batch).map { _ in random.int(1...steps) } : nil
      #expect(try model.plan(for: x, lengths: lengths).split == .batchSlices)
      let before = BLAS.threadCount
      let fast = try model(x, initialState: state, lengths: lengths)
      let slow = try Naive.lstm(model, x, initialState: state, lengths: lengths)
      expectClose(fast.output, slow.output, absolute: 1e-5, relative: 1e-5, "output")
      expectClose(fast.hidden, slow.hidden, absolute: 1e-5, relative: 1e-5, "hidden")
      expectClose(fast.cell, slow.cell, absolute: 1e-5, relative: 1e-5, "cell")
      expectClose(fast.lastStep, slow.lastStep, absolute: 1e-5, relative: 1e-5, "lastStep")
      #expect(BLAS.threadCount == before, "the forward restores OpenBLAS's thread count")
    }

    @Test("a model without its own budget follows BLAS.threadCount")
    func followsGlobalSetting() throws {
      let saved = BLAS.threadCount
      defer { BLAS.threadCount = saved }
      var model = LSTM<Float>(inputSize: 5, hiddenSize: 6, seed: 1)
      model.threadSplit = .batchSlices  // a shape this small would not pay for it
      let x = Tensor<Float>.randomNormal(shape: [7, 9, 5], seed: 2)
      BLAS.threadCount = 2
      #expect(try model.plan(for: x).split == .batchSlices)
      let fast = try model(x)
      #expect(BLAS.threadCount == 2, "the forward restores OpenBLAS's thread count")
      BLAS.threadCount = 1
      #expect(try model.plan(for: x).split == ForwardPlan.Split.none)
      expectClose(
        fast.output, try model(x).output, absolute: 1e-6, relative: 1e-6, "1 vs 2 threads")
    }
  }
}

/// Batch 1 with two threads splits the hidden units between two workers.
extension ThreadTests {
  @Suite("LSTM: hidden units split across workers at batch 1")
  struct HiddenSplitTests {
    @Test("unidirectional and bidirectional, stacked, with initial state", arguments: 0..<6)
    func matchesOracle(seed: Int) throws {
      var random = TestRandom(seed: UInt64(seed) + 1300)
      let hidden = [128, 136, 200][seed % 3]
      var model = LSTM<Float>(
        inputSize: 7, hiddenSize: hidden, numLayers: 1 + seed % 2, batchFirst: seed % 2 == 0,
        bidirectional: seed >= 3, seed: UInt64(seed))
      // Both kernels: the workers use the fused step, or gemv and the Swift gate pass.
      model.kernels = seed % 2 == 0 ? .automatic : .portable
      model.threads = 2
      model.threadSplit = .hiddenUnits
      let steps = 16 + seed  // ≥ ForwardPlan.hiddenSplitMinimumSteps
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
      #expect(try model.plan(for: x).split == .hiddenUnits)
    }

    @Test("the automatic plan splits only where a second worker pays (grid measurements)")
    func automaticPlan() throws {
      func split(_ batch: Int, _ steps: Int, _ input: Int, _ hidden: Int, threads: Int = 2)
        throws -> ForwardPlan.Split
      {
        var model = LSTM<Float>(inputSize: input, hiddenSize: hidden, batchFirst: true)
        model.threads = threads
        return try model.plan(for: Tensor<Float>.zeros(shape: [batch, steps, input])).split
      }
      #expect(try split(1, 40, 24, 48) == ForwardPlan.Split.none, "a step too short for a barrier")
      #expect(try split(1, 1, 64, 256) == ForwardPlan.Split.none, "one step per call")
      #expect(try split(8, 2, 24, 48) == ForwardPlan.Split.none, "a call too short")
      // One sequence: the hidden split from the per-step work this machine's calibration
      // measured (the constant where it has none).
      let calibration = SplitCalibration.current
      let threshold = calibration?.minimumWork(steps: 40) ?? 32_000
      for hidden in [96, 160, 256, 384] {
        let work = 4 * hidden * hidden
        #expect(
          try split(1, 40, 96, hidden) == (work >= threshold ? .hiddenUnits : .none),
          "B 1, H \(hidden): \(work) multiply-adds per step, threshold \(threshold)")
      }
      #expect(try split(12, 40, 24, 48) == .batchSlices)
      #expect(try split(32, 10, 128, 64) == .batchSlices, "the article")
      #expect(try split(1, 40, 384, 384) == .hiddenUnits)
      #expect(try split(4, 40, 128, 768) == .hiddenUnits)
      #expect(try split(96, 40, 128, 768) == .hiddenUnits, "W_hh beyond L2: split its columns")
      #expect(try split(48, 40, 96, 96) == .batchSlices, "W_hh in L2: slice the batch")
      #expect(try split(48, 40, 96, 96, threads: 1) == ForwardPlan.Split.none)
    }

    @Test("the split calibration measures this machine and the plan names it")
    func splitCalibration() throws {
      guard let calibration = SplitCalibration.current else {
        #expect(BLAS.cores < 2 || !RecurrentKernels.supported.contains(.avx2))
        return
      }
      #expect(calibration.barrierSeconds > 0 && calibration.barrierSeconds < 1e-3)
      #expect(calibration.stepSeconds > 0 && calibration.stepWork == 4 * 128 * 128)
      #expect(calibration.startSeconds > 0 && calibration.startSeconds < 0.1)
      // 3 barriers and two helper starts spread over T, at the probe's rate: a long call
      // splits from less work per step than a short one.
      for steps in [40, 1000] {
        let seconds = 3 * calibration.barrierSeconds + 2 * calibration.startSeconds / Double(steps)
        let expected = min(
          max(
            64, Int((seconds * Double(calibration.stepWork) / calibration.stepSeconds).rounded())),
          SplitCalibration.maximumThreshold)
        #expect(calibration.minimumWork(steps: steps) == expected)
        #expect(calibration.pays(work: expected + 1, steps: steps))
        #expect(!calibration.pays(work: expected - 1, steps: steps) || expected <= 64)
      }
      #expect(calibration.minimumWork(steps: 1000) <= calibration.minimumWork(steps: 40))
      #expect(
        SplitCalibration.current?.barrierSeconds == calibration.barrierSeconds, "measured once")
      var model = LSTM<Float>(inputSize: 8, hiddenSize: 256)
      model.threads = 2
      let reasons = try model.plan(for: .zeros(shape: [40, 1, 8])).reasons.joined(separator: "\n")
      #expect(reasons.contains("(SplitCalibration)"), "\(reasons)")
    }

    @Test(
      "batches split by gate columns: every kernel, batch-first gathers, past the fused limit",
      arguments: [(2, 64), (3, 64), (9, 136), (50, 136)])
    func batchedMatchesOracle(batch: Int, hidden: Int) throws {
      var random = TestRandom(seed: UInt64(batch * 100 + hidden))
      for (index, kernels) in RecurrentKernels.supported.enumerated() {
        var model = LSTM<Float>(
          inputSize: 7, hiddenSize: hidden, numLayers: 2, batchFirst: index % 2 == 0,
          bidirectional: true, seed: UInt64(hidden))
        model.kernels = kernels
        model.threads = 2
        model.threadSplit = .hiddenUnits
        let steps = 16
        let x: Tensor<Float> = random.tensor(
          model.batchFirst ? [batch, steps, 7] : [steps, batch, 7])
        #expect(try model.plan(for: x).split == .hiddenUnits, "\(kernels)")
        let state = LSTMState<Float>(
          hidden: random.tensor([4, batch, hidden]), cell: random.tensor([4, batch, hidden]))
        let fast = try model(x, initialState: state)
        let slow = try Naive.lstm(model, x, initialState: state)
        expectClose(fast.output, slow.output, absolute: 2e-5, relative: 1e-5, "\(kernels)")
        expectClose(fast.hidden, slow.hidden, absolute: 2e-5, relative: 1e-5, "\(kernels)")
        expectClose(fast.cell, slow.cell, absolute: 2e-5, relative: 1e-5, "\(kernels)")
      }
    }

    @Test("batch-1 forwards called from every global-queue thread at once still finish")
    func noStarvation() throws {
      var twoThreads = LSTM<Float>(inputSize: 4, hiddenSize: 128, seed: 3)
      twoThreads.threads = 2
      twoThreads.threadSplit = .hiddenUnits
      let model = twoThreads
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

    @Test("concurrent callers with budgets 1 and 2 get the results of running alone")
    func mixedBudgets() throws {
      let models = [1, 2].map { budget in
        var model = LSTM<Float>(inputSize: 6, hiddenSize: 160, seed: 5)
        model.threads = budget
        model.threadSplit = .hiddenUnits
        return model
      }
      let x = Tensor<Float>.randomNormal(shape: [40, 1, 6], seed: 6)
      let expected = try Naive.lstm(models[0], x).output
      let results = UnsafeMutableBufferPointer<Tensor<Float>?>.allocate(capacity: 8)
      results.initialize(repeating: nil)
      defer {
        _ = results.deinitialize()
        results.deallocate()
      }
      let shared = SendableBox(results)
      DispatchQueue.concurrentPerform(iterations: 8) { i in
        shared.value[i] = try? models[i % 2](x).output
      }
      for i in 0..<8 {
        let result = try #require(results[i], "call \(i)")
        expectClose(result, expected, absolute: 1e-5, relative: 1e-5, "call \(i)")
      }
    }
  }
}

/// Lets the test hand a buffer to worker threads that write disjoint elements.
struct SendableBox<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

/// A call's result never depends on what other threads do (issue 21): each call runs with its
/// own BLAS thread count for its whole duration.
extension ThreadTests {
  @Suite("Concurrent callers of different plans")
  struct ConcurrentPlansTests {
    @Test(
      "a 1-worker LSTM beside a GRU split across 2 workers gives its result run alone, bit for bit")
    func independentOfOtherCallers() throws {
      let saved = BLAS.threadCount
      defer { BLAS.threadCount = saved }
      BLAS.threadCount = 2
      // OpenBLAS threads this LSTM's GEMMs (its plan runs one worker: a projection, split none).
      // A shape whose OpenBLAS results differ at 1 and 2 threads (B 8, I 1000, H 64, proj 32:
      // with the SkylakeX and the Haswell kernels on an Intel Xeon, family 6 model 207), so the test fails if a
      // concurrent caller can change this call's thread count.
      var lstm = LSTM<Float>(
        inputSize: 1000, hiddenSize: 64, numLayers: 2, batchFirst: true, bidirectional: true,
        projSize: 32, seed: 3)
      lstm.threadSplit = ForwardPlan.Split.none
      let x = Tensor<Float>.randomNormal(shape: [8, 10, 1000], seed: 4)
      #expect(try lstm.plan(for: x).workers == 1)
      #expect(try lstm.plan(for: x).blasThreads == Swift.min(2, BLAS.cores))
      let alone = try lstm(x)
      // The GRU splits its hidden units across two workers, OpenBLAS at one thread meanwhile.
      var gru = GRU<Float>(inputSize: 32, hiddenSize: 256, seed: 5)
      gru.threads = 2
      gru.threadSplit = .hiddenUnits
      let gx = Tensor<Float>.randomNormal(shape: [40, 1, 32], seed: 6)
      if BLAS.cores >= 2 { #expect(try gru.plan(for: gx).workers == 2) }
      let stop = StopFlag()
      let done = DispatchSemaphore(value: 0)
      let splitGRU = gru
      Thread.detachNewThread {
        while !stop.isSet { _ = try? splitGRU(gx) }
        done.signal()
      }
      var differing = 0
      for _ in 0..<40 {
        let y = try lstm(x)
        if y.output.scalars != alone.output.scalars || y.hidden.scalars != alone.hidden.scalars {
          differing += 1
        }
      }
      stop.set()
      done.wait()
      #expect(differing == 0, "\(differing) of 40 concurrent calls differ from the call alone")
    }

    @Test("thread budgets are clamped to the cores, and the plan says so")
    func clampedBudgets() throws {
      let saved = BLAS.threadCount
      defer { BLAS.threadCount = saved }
      BLAS.threadCount = 1000
      #expect(BLAS.threadCount == BLAS.cores)
      var model = LSTM<Float>(inputSize: 8, hiddenSize: 16, seed: 1)
      model.threads = 1000
      let x = Tensor<Float>.randomNormal(shape: [5, 3, 8], seed: 2)
      let plan = try model.plan(for: x)
      #expect(plan.threads == BLAS.cores && plan.workers <= BLAS.cores)
      #expect(plan.description.contains("1000 asked"), "\(plan)")
      model.threads = 1
      let one = try model(x)
      model.threads = 1000
      expectClose(try model(x).output, one.output, absolute: 1e-6, relative: 1e-6)
    }
  }
}

/// A flag one thread sets and another polls.
final class StopFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  var isSet: Bool { lock.withLock { value } }
  func set() { lock.withLock { value = true } }
}
