import Dispatch

/// The LSTM forward pass on the BLAS path.
///
/// Per layer and direction:
/// 1. One GEMM computes the input projection `x · W_ihᵀ` of all T·B rows of a time chunk at
///    once into the gate buffer, preloaded with `bias_ih + bias_hh`.
/// 2. Each step does one GEMM `h(t−1) · W_hhᵀ` with beta = 1 into that step's gate rows (gemv
///    when B = 1), reading `h(t−1)` where the previous step wrote it: in the output.
/// 3. One fused vectorised pass computes the gates, `c` and `h` (``Activations``, no libm).
///    For `Float` on AVX2+FMA CPUs (``LSTMKernels/automatic``), steps 2 and 3 are one kernel:
///    `W_hh`, packed when the weights are set, is multiplied in 8-unit × 4-gate register
///    blocks and the cell update runs on the accumulators (`FusedLSTM.swift`, CLSTMKernels).
/// 4. `h` is written straight into the output (or, with `projSize`, projected into it by one
///    GEMM): no per-step copy, no final stack.
/// All buffers are allocated before the time loop; the loop itself allocates nothing.
extension LSTM {
  /// Runs the LSTM over `input`, PyTorch's `output, (h_n, c_n) = lstm(input, (h_0, c_0))`.
  ///
  ///     let out = try lstm(x, lengths: [10, 7, 3])   // x: [3, 10, I] with batchFirst
  ///     out.lastStep                                 // [3, D·Hout], each sequence's last step
  ///
  /// Layout in letters: input `[B, T, I]` with batchFirst, else `[T, B, I]`, or unbatched
  /// `[T, I]`; output `[B, T, D·Hout]` / `[T, B, D·Hout]` / `[T, D·Hout]`; `hidden`
  /// `[D·L, B, Hout]` and `cell` `[D·L, B, H]` whatever batchFirst is (no B axis unbatched).
  ///
  /// `lengths` gives each sequence's valid steps (any order, like PyTorch's
  /// `pack_padded_sequence(…, enforce_sorted: false)`): output past a length is zero, `hidden`
  /// and `cell` hold each sequence's state at its own last valid step, and the reverse
  /// direction starts at that step.
  ///
  /// Cost: allocates the result and work buffers once (the gate buffer is chunked over time to
  /// stay near 4 MiB); reads `input` through its strides when its feature axis has unit stride
  /// (a time-major view of batch-first data is not copied), otherwise copies it once.
  /// - Throws: ``LayerError`` naming expected and actual shapes for a wrong rank or feature
  ///   size, an initial state of the wrong shape, or bad `lengths`; nothing is computed then.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> LSTMOutput<Scalar> {
    let shape = try ForwardShape(self, input: input, initialState: initialState, lengths: lengths)
    return forward(shape, input: input, initialState: initialState, lengths: lengths)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forward(
    _ s: ForwardShape, input: Tensor<Scalar>, initialState: LSTMState<Scalar>?, lengths: [Int]?
  ) -> LSTMOutput<Scalar> {
    let (steps, batch, hidden, hOut, directions) =
      (s.steps, s.batch, hiddenSize, outputHiddenSize, self.directions)
    // Time-major view [T, B, I] of the input, reading through its strides.
    var source =
      s.unbatched
      ? input.unsqueezed(axis: 1) : (batchFirst ? input.permuted([1, 0, 2]) : input)
    if source.strides[2] != 1 && inputSize > 1 { source = source.contiguous() }

    let outputWidth = directions * hOut
    let output = Tensor<Scalar>.zeros(
      shape: batchFirst && !s.unbatched
        ? [batch, steps, outputWidth] : [steps, batch, outputWidth])
    let outputTimeMajor = batchFirst && !s.unbatched ? output.permuted([1, 0, 2]) : output
    let hiddenOut = Tensor<Scalar>.zeros(shape: [numLayers * directions, batch, hOut])
    let cellOut = Tensor<Scalar>.zeros(shape: [numLayers * directions, batch, hidden])
    let h0 = initialState.map { $0.hidden.reshaped([numLayers * directions, batch, hOut]) }
    let c0 = initialState.map { $0.cell.reshaped([numLayers * directions, batch, hidden]) }

    // With a thread budget above 1, the batch is split into contiguous slices, one per worker
    // (onnxruntime's scheme): each slice runs every layer over its own rows, so the workers
    // never wait for each other, and each calls single-threaded BLAS.
    // Only worth it while the per-step recurrent GEMM is small: OpenBLAS's own threads win on
    // large ones (large shape, 2 threads, best of 8 runs: 219.6 ms its way vs 229.6 ms split;
    // article: 0.442 vs 0.338 ms).
    let recurrentWork = batch * 4 * hidden * hOut
    let workers =
      recurrentWork >= Self.splitLimit
      ? 1 : Swift.max(1, Swift.min(BLAS.threadCount, batch / Self.minimumRowsPerWorker))
    let sliceBatch = (batch + workers - 1) / workers
    // The first layer's input rows of a chunk, in time-major order, are one strided run when
    // the source is time-major and unsplit (or one sequence); otherwise they are gathered into a
    // scratch buffer.
    let gathersInput =
      sliceBatch > 1 && (workers > 1 || source.strides[0] != batch * source.strides[1])
    // Work space, allocated once per worker: gate chunk, c, projected-h scratch, h0 rows, up to
    // two time-major buffers for the outputs of inner layers, and the gathered input rows. The
    // gate chunk and the gathered rows share a budget of 4 MiB.
    let gateRowStride = LSTMKernel<Scalar>.gateRowStride(hidden: hidden)
    let rowBytes =
      sliceBatch * (gateRowStride + (gathersInput ? inputSize : 0)) * MemoryLayout<Scalar>.stride
    let chunk = Swift.max(1, Swift.min(steps, (4 << 20) / Swift.max(1, rowBytes)))
    let innerCount = numLayers > 1 ? steps * sliceBatch * outputWidth : 0
    let sizes = [
      chunk * sliceBatch * gateRowStride, sliceBatch * hidden,
      projSize > 0 ? sliceBatch * hidden : 0, sliceBatch * hOut, innerCount,
      numLayers > 2 ? innerCount : 0, gathersInput ? chunk * sliceBatch * inputSize : 0,
    ]
    let perWorker = sizes.reduce(0, +)
    let workspace = UnsafeMutablePointer<Scalar>.allocate(capacity: workers * perWorker + 1)
    defer { workspace.deallocate() }
    let validLengths = lengths ?? []

    withExtendedLifetime((source, output, hiddenOut, cellOut, h0, c0)) {
      validLengths.withUnsafeBufferPointer { lengthBuffer in
        let slice = { (worker: Int) in
          let first = worker * sliceBatch
          let count = Swift.min(sliceBatch, batch - first)
          guard count > 0 else { return }
          var cursor = workspace + worker * perWorker
          var buffers: [UnsafeMutablePointer<Scalar>] = []
          for size in sizes {
            buffers.append(cursor)
            cursor += size
          }
          runSlice(
            first: first, count: count, batch: batch, steps: steps, chunk: chunk,
            buffers: buffers, inputScratch: sizes[6] > 0 ? buffers[6] : nil,
            lengths: lengths == nil ? nil : lengthBuffer.baseAddress! + first,
            input: Rows(
              base: source.storage.base + source.layout.offset + first * source.strides[1],
              timeStride: source.strides[0], batchStride: source.strides[1], features: inputSize),
            output: Rows(
              base: output.storage.base + outputTimeMajor.layout.offset + first
                * outputTimeMajor.strides[1],
              timeStride: outputTimeMajor.strides[0], batchStride: outputTimeMajor.strides[1],
              features: outputWidth),
            hiddenOut: hiddenOut.storage.base, cellOut: cellOut.storage.base, h0: h0, c0: c0)
        }
        if workers == 1 {
          slice(0)
        } else {
          // Sound to share: the workers read shared inputs and write disjoint rows.
          let work = UncheckedSendable(slice)
          BLAS.withSingleThreadedCalls {
            DispatchQueue.concurrentPerform(iterations: workers) { work.value($0) }
          }
        }
      }
    }

    var lastStep = Tensor<Scalar>.zeros(shape: [batch, outputWidth])
    lastStep.withMutableBase { base in
      hiddenOut.withBase { hBase in
        for direction in 0..<directions {
          for b in 0..<batch {
            (base + b * outputWidth + direction * hOut).update(
              from: hBase + (((numLayers - 1) * directions + direction) * batch + b) * hOut,
              count: hOut)
          }
        }
      }
    }
    if s.unbatched {
      return LSTMOutput(
        output: output.reshaped([steps, outputWidth]),
        hidden: hiddenOut.reshaped([numLayers * directions, hOut]),
        cell: cellOut.reshaped([numLayers * directions, hidden]),
        lastStep: lastStep.reshaped([outputWidth]))
    }
    return LSTMOutput(output: output, hidden: hiddenOut, cell: cellOut, lastStep: lastStep)
  }

  /// Sequences smaller than this per worker are not worth a thread.
  static var minimumRowsPerWorker: Int { 4 }
  /// Recurrent GEMM size (B·4H·Hout multiply-adds per step) from which OpenBLAS's own threading
  /// beats splitting the batch.
  static var splitLimit: Int { 8_000_000 }

  /// Every layer and direction over sequences `first..<first+count` of the batch: `input` and
  /// `output` start at sequence `first`; `hiddenOut`/`cellOut` are the whole `[D·L, B, ·]`
  /// results, of which this writes only its own rows.
  private func runSlice(
    first: Int, count: Int, batch: Int, steps: Int, chunk: Int,
    buffers: [UnsafeMutablePointer<Scalar>], inputScratch: UnsafeMutablePointer<Scalar>?,
    lengths: UnsafePointer<Int>?, input: Rows<Scalar>,
    output: Rows<Scalar>, hiddenOut: UnsafeMutablePointer<Scalar>,
    cellOut: UnsafeMutablePointer<Scalar>, h0: Tensor<Scalar>?, c0: Tensor<Scalar>?
  ) {
    let (hidden, hOut) = (hiddenSize, outputHiddenSize)
    let (gates, cellState, projectionScratch, initialHidden) =
      (buffers[0], buffers[1], buffers[2], buffers[3])
    var layerInput = input
    for layer in 0..<numLayers {
      let layerOutput =
        layer == numLayers - 1
        ? output
        : Rows(
          base: buffers[4 + layer % 2], timeStride: count * output.features,
          batchStride: output.features, features: output.features)
      for direction in 0..<directions {
        let index = layer * directions + direction
        // h0 and c0 for this layer-direction and these sequences, as [count, ·] rows.
        for (state, destination, width) in [(h0, initialHidden, hOut), (c0, cellState, hidden)] {
          if let state {
            copyRows(
              state.selected(axis: 0, index: index).sliced(axis: 0, range: first..<(first + count)),
              into: destination)
          } else {
            destination.update(repeating: 0, count: count * width)
          }
        }
        let directionOutput = Rows(
          base: layerOutput.base + direction * hOut, timeStride: layerOutput.timeStride,
          batchStride: layerOutput.batchStride, features: hOut)
        LSTMKernel(
          cell: cells[index], steps: steps, batch: count, hidden: hidden, hOut: hOut,
          reverse: direction == 1, chunk: chunk, lengths: lengths, gates: gates, cell: cellState,
          projectionScratch: projectionScratch, initialHidden: initialHidden,
          inputScratch: layer == 0 ? inputScratch : nil, kernels: kernels
        ).run(input: layerInput, output: directionOutput)
        // h_n: each sequence's h at its last processed step; c_n: the final c.
        for b in 0..<count {
          let lastStep = direction == 1 ? 0 : (lengths?[b] ?? steps) - 1
          (hiddenOut + (index * batch + first + b) * hOut).update(
            from: directionOutput.row(time: lastStep, batch: b), count: hOut)
        }
        (cellOut + (index * batch + first) * hidden).update(
          from: cellState, count: count * hidden)
      }
      layerInput = layerOutput
    }
  }

  /// Copies a `[B, n]` tensor (any strides) into contiguous rows at `destination`.
  private func copyRows(_ tensor: Tensor<Scalar>, into destination: UnsafeMutablePointer<Scalar>) {
    tensor.withBase { base in
      Tensor.copyElements(
        from: base - tensor.layout.offset, tensor.layout, to: destination,
        TensorLayout(contiguous: tensor.shape))
    }
  }
}

/// A value handed to worker threads that the compiler cannot prove safe to share; each use
/// says why it is.
struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

/// The checked shape facts of one forward call.
struct ForwardShape {
  var steps: Int
  var batch: Int
  var unbatched: Bool

  init<Scalar>(
    _ lstm: LSTM<Scalar>, input: Tensor<Scalar>, initialState: LSTMState<Scalar>?,
    lengths: [Int]?
  ) throws {
    let layout = lstm.batchFirst ? "[B, T, \(lstm.inputSize)]" : "[T, B, \(lstm.inputSize)]"
    guard input.rank == 3 || input.rank == 2 else {
      throw LayerError.rankMismatch(
        name: "input", expected: "\(layout) or unbatched [T, \(lstm.inputSize)]",
        actual: input.shape)
    }
    unbatched = input.rank == 2
    if unbatched {
      (steps, batch) = (input.shape[0], 1)
    } else {
      (steps, batch) =
        lstm.batchFirst ? (input.shape[1], input.shape[0]) : (input.shape[0], input.shape[1])
    }
    if input.shape.last != lstm.inputSize {
      var expected = input.shape
      expected[expected.count - 1] = lstm.inputSize
      throw LayerError.shapeMismatch(name: "input", expected: expected, actual: input.shape)
    }
    if steps < 1 || batch < 1 {
      throw LayerError.rankMismatch(
        name: "input", expected: "\(layout) with T ≥ 1 and B ≥ 1", actual: input.shape)
    }
    let stateRows = lstm.numLayers * lstm.directions
    if let initialState {
      let batchAxis = unbatched ? [] : [batch]
      let hExpected = [stateRows] + batchAxis + [lstm.outputHiddenSize]
      let cExpected = [stateRows] + batchAxis + [lstm.hiddenSize]
      if initialState.hidden.shape != hExpected {
        throw LayerError.shapeMismatch(
          name: "initialState.hidden", expected: hExpected, actual: initialState.hidden.shape)
      }
      if initialState.cell.shape != cExpected {
        throw LayerError.shapeMismatch(
          name: "initialState.cell", expected: cExpected, actual: initialState.cell.shape)
      }
    }
    if let lengths {
      if lengths.count != batch {
        throw LayerError.invalidLengths(
          "expected \(batch) lengths (one per sequence in the batch), got \(lengths.count)")
      }
      if let bad = lengths.firstIndex(where: { $0 < 1 || $0 > steps }) {
        throw LayerError.invalidLengths(
          "lengths[\(bad)] = \(lengths[bad]) is outside 1...\(steps) (the input has T = \(steps))"
        )
      }
    }
  }
}

/// Rows of a time-major sequence: element `(t, b, f)` at `base + t·timeStride + b·batchStride
/// + f`.
struct Rows<Scalar: BLASScalar> {
  var base: UnsafeMutablePointer<Scalar>
  var timeStride: Int
  var batchStride: Int
  var features: Int

  func row(time t: Int, batch b: Int) -> UnsafeMutablePointer<Scalar> {
    base + t * timeStride + b * batchStride
  }
}
