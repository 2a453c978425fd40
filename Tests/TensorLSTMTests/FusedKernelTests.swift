import Foundation
import TensorLSTM
import Testing

/// Every kernel variant this CPU runs (`RecurrentKernels.supported`: AVX-512 with VNNI, AVX-512,
/// AVX2, portable; the first two differ only for int8 weights),
/// each forced, against the naive oracle, over the sizes that exercise their edges: unit counts
/// that are not a multiple of 8 or 16 (masked tails), batches that split into uneven register
/// tiles (3 = one tile; 7 = 4 + 3 on AVX-512, 2+2+2+1 on AVX2; 13), row counts that are not a
/// multiple of 6 (the projection's row blocks), and more than 128 recurrent or 256 input
/// features (several passes over the packed panels, partial sums in between).
@Suite("LSTM: fused vector kernels, every variant the CPU runs")
struct FusedKernelTests {
  @Test("the CPU check agrees with /proc/cpuinfo's flags")
  func detection() throws {
    let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    let flags =
      cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }
      .map { Set($0.split(separator: " ")) } ?? []
    let avx2 = flags.contains("avx2") && flags.contains("fma")
    #expect(RecurrentKernels.isFusedSupported == avx2)
    let avx512 = avx2 && flags.contains("avx512f")
    var expected: [RecurrentKernels] =
      avx512 && flags.contains("avx512bw") && flags.contains("avx512_vnni") ? [.avx512VNNI] : []
    expected += avx512 ? [.avx512] : []
    expected += avx2 ? [.avx2] : []
    #expect(RecurrentKernels.supported == expected + [.portable])
    let plan = try LSTM<Float>(inputSize: 3, hiddenSize: 4).plan(
      for: Tensor<Float>.zeros(shape: [5, 2, 3]))
    let widest = expected.first.map { $0 == .avx2 ? "AVX2+FMA" : "AVX-512F" } ?? "portable"
    #expect(plan.instructionSet == widest, "\(plan)")
  }

  @Test(
    "automatic matches portable and the oracle",
    arguments: [1, 2, 3, 6, 7, 13], [5, 8, 13, 17, 136])
  func matches(batch: Int, hidden: Int) throws {
    var random = TestRandom(seed: UInt64(batch * 1000 + hidden))
    let steps = 6
    let features = hidden > 128 ? 300 : 9
    for variant in ["plain", "projected", "lengths", "bidirectional"] {
      var model = LSTM<Float>(
        inputSize: features, hiddenSize: hidden, bidirectional: variant == "bidirectional",
        projSize: variant == "projected" ? hidden / 2 : 0, seed: UInt64(hidden))
      // Batch-first data read time-major: strided rows for the projection.
      let x: Tensor<Float> = random.tensor([batch, steps, features]).permuted([1, 0, 2])
      let lengths = variant == "lengths" ? (0..<batch).map { 1 + $0 % steps } : nil
      let rows = model.directions
      let state = LSTMState<Float>(
        hidden: random.tensor([rows, batch, model.outputHiddenSize]),
        cell: random.tensor([rows, batch, hidden]))
      let oracle = try Naive.lstm(model, x, initialState: state, lengths: lengths)
      for kernels in RecurrentKernels.supported {
        model.kernels = kernels
        let out = try model(x, initialState: state, lengths: lengths)
        let context = "\(variant) \(kernels)"
        expectClose(out.output, oracle.output, "output \(context)")
        expectClose(out.hidden, oracle.hidden, "hidden \(context)")
        expectClose(out.cell, oracle.cell, "cell \(context)")
      }
    }
  }

  /// The fused steps visit `W_hh`'s panels in alternating order from call to call in a thread
  /// (L2 reuse across steps): three steps flip the order, so two identical calls start in
  /// opposite orders and must agree bit for bit, on every kernel and weight precision, with a
  /// partial last panel (H 37) and several tiles (B 13).
  @Test("the order the step visits its panels in never changes a result", arguments: [1, 13])
  func panelOrder(batch: Int) throws {
    var random = TestRandom(seed: UInt64(90 + batch))
    let x: Tensor<Float> = random.tensor([3, batch, 5])
    var model = LSTM<Float>(inputSize: 5, hiddenSize: 37, seed: 4)
    var double = LSTM<Double>(inputSize: 5, hiddenSize: 37, seed: 4)
    let xd = Tensor<Double>(shape: x.shape, scalars: x.scalars.map(Double.init))
    for kernels in RecurrentKernels.supported where kernels != .portable {
      (model.kernels, double.kernels) = (kernels, kernels)
      for precision in WeightPrecision.allCases {
        model.weightPrecision = precision
        let (first, second) = (try model(x).output.scalars, try model(x).output.scalars)
        let same = first == second
        #expect(same, "\(kernels) \(precision)")
      }
      let (first, second) = (try double(xd).output.scalars, try double(xd).output.scalars)
      let same = first == second
      #expect(same, "\(kernels) Double")
    }
  }

  /// One step of one sequence: the input projection has a single row and runs on the skinny
  /// kernel (not the BLAS's gemv), for every cell, on every kernel the CPU runs.
  @Test(
    "batch-1 single steps (one projection row) match the oracle on every kernel",
    arguments: [7, 64, 136])
  func singleRow(hidden: Int) throws {
    var random = TestRandom(seed: UInt64(hidden))
    let features = hidden == 64 ? 300 : 11
    let x: Tensor<Float> = random.tensor([1, 1, features])
    let h0: Tensor<Float> = random.tensor([2, 1, hidden])
    for projected in [false, true] {
      var lstm = LSTM<Float>(
        inputSize: features, hiddenSize: hidden, bidirectional: true,
        projSize: projected ? hidden / 2 : 0, seed: 3)
      let state = LSTMState<Float>(
        hidden: random.tensor([2, 1, lstm.outputHiddenSize]), cell: random.tensor([2, 1, hidden]))
      let oracle = try Naive.lstm(lstm, x, initialState: state)
      for kernels in RecurrentKernels.supported {
        lstm.kernels = kernels
        let out = try lstm(x, initialState: state)
        expectClose(out.output, oracle.output, "LSTM projected \(projected) \(kernels)")
        expectClose(out.cell, oracle.cell, "LSTM cell \(kernels)")
        // Unbatched [1, I]: the same single row.
        let unbatched = try lstm(
          x.reshaped([1, features]),
          initialState: LSTMState(
            hidden: state.hidden.reshaped([2, lstm.outputHiddenSize]),
            cell: state.cell.reshaped([2, hidden])))
        expectClose(unbatched.output.reshaped([1, 1, 2 * lstm.outputHiddenSize]), oracle.output)
      }
    }
    for resetAfter in [true, false] {
      var gru = GRU<Float>(
        inputSize: features, hiddenSize: hidden, bidirectional: true, resetAfter: resetAfter,
        seed: 4)
      let oracle = try Naive.gru(gru, x, initialState: h0)
      for kernels in RecurrentKernels.supported {
        gru.kernels = kernels
        expectClose(try gru(x, initialState: h0).output, oracle.output, "GRU \(kernels)")
      }
    }
    var rnn = RNN<Float>(inputSize: features, hiddenSize: hidden, bidirectional: true, seed: 5)
    let oracle = try Naive.rnn(rnn, x, initialState: h0)
    for kernels in RecurrentKernels.supported {
      rnn.kernels = kernels
      expectClose(try rnn(x, initialState: h0).output, oracle.output, "RNN \(kernels)")
    }
  }

  @Test(
    "long sequences stay within tolerance of the oracle (errors do not build up)",
    arguments: [false, true])
  func longSequence(batchFirst: Bool) throws {
    var random = TestRandom(seed: 77)
    var model = LSTM<Float>(
      inputSize: 9, hiddenSize: 136, batchFirst: batchFirst, seed: 5)
    // Batch-first, 8 × 1100 steps take five gate chunks, with the input rows gathered per chunk.
    let x: Tensor<Float> = random.tensor(batchFirst ? [8, 1100, 9] : [300, 3, 9])
    let slow = try Naive.lstm(model, x)
    for kernels in RecurrentKernels.supported {
      model.kernels = kernels
      let fast = try model(x)
      expectClose(fast.output, slow.output, absolute: 1e-4, relative: 1e-4, "\(kernels)")
      expectClose(fast.cell, slow.cell, absolute: 1e-4, relative: 1e-4, "\(kernels)")
    }
  }

  /// The input projection on the packed GEMM (forced with the vector kernels): more rows than
  /// one 144-row block (T·B 7 × 50 = 350, partial tiles at the end), more than one 256-step
  /// inner block (I 300), columns that are not a whole panel (4 · 37 = 148), each cell (the
  /// GRU's second input run writes slot 3 and its n_h slot keeps the bias), at 1 thread and
  /// with the columns split between 2.
  @Test(
    "input projections on the packed GEMM match the oracle across blocks, cells and threads",
    arguments: [1, 2])
  func packedProjection(threads: Int) throws {
    // H 37: no whole panels; the forward unsplit at either thread count.
    try checkProjection(steps: 50, batch: 7, features: 300, hidden: 37, seed: 41) {
      lstm, gru, rnn, kernels in
      (lstm.threads, gru.threads, rnn.threads) = (threads, threads, threads)
      let unsplit = ForwardPlan.Split.none
      (lstm.threadSplit, gru.threadSplit, rnn.threadSplit) = (unsplit, unsplit, unsplit)
      return kernels == .portable
        ? "sgemm" : "packed \(kernels == .avx2 ? "AVX2+FMA" : "AVX-512F")"
    }
  }

  @Test(
    "the hidden split's workers project their columns of the packed W_ihᵀ (whole panels) and match the oracle",
    arguments: [64, 128])
  func workerColumnsPacked(hidden: Int) throws {
    try checkProjection(steps: 40, batch: 3, features: 70, hidden: hidden, seed: 43) {
      lstm, gru, rnn, kernels in
      (lstm.threads, gru.threads, rnn.threads) = (2, 2, 2)
      let split = ForwardPlan.Split.hiddenUnits
      (lstm.threadSplit, gru.threadSplit, rnn.threadSplit) = (split, split, split)
      return kernels == .portable
        ? nil : "packed \(kernels == .avx2 ? "AVX2+FMA" : "AVX-512F"), each worker's columns"
    }
  }

  /// An LSTM, a GRU and an RNN against the oracle on every kernel set, after `configure` set
  /// their threads and split and returned the LSTM plan's expected `inputProjection` (nil: not
  /// checked).
  private func checkProjection(
    steps: Int, batch: Int, features: Int, hidden: Int, seed: UInt64,
    configure: (inout LSTM<Float>, inout GRU<Float>, inout RNN<Float>, RecurrentKernels) ->
      String?
  ) throws {
    var random = TestRandom(seed: seed)
    let x: Tensor<Float> = random.tensor([steps, batch, features])
    let h0: Tensor<Float> = random.tensor([1, batch, hidden])
    var lstm = LSTM<Float>(inputSize: features, hiddenSize: hidden, seed: 6)
    var gru = GRU<Float>(inputSize: features, hiddenSize: hidden, seed: 7)
    var rnn = RNN<Float>(inputSize: features, hiddenSize: hidden, seed: 8)
    let state = LSTMState<Float>(hidden: h0, cell: random.tensor([1, batch, hidden]))
    let oracles = (
      try Naive.lstm(lstm, x, initialState: state).output,
      try Naive.gru(gru, x, initialState: h0).output,
      try Naive.rnn(rnn, x, initialState: h0).output
    )
    for kernels in RecurrentKernels.supported {
      (lstm.kernels, gru.kernels, rnn.kernels) = (kernels, kernels, kernels)
      if let expected = configure(&lstm, &gru, &rnn, kernels) {
        let plan = try lstm.plan(for: x)
        #expect(plan.inputProjection == expected, "\(plan)")
      }
      expectClose(try lstm(x, initialState: state).output, oracles.0, "LSTM \(kernels)")
      expectClose(try gru(x, initialState: h0).output, oracles.1, "GRU \(kernels)")
      expectClose(try rnn(x, initialState: h0).output, oracles.2, "RNN \(kernels)")
    }
  }
}
