/// The LSTM forward pass on the BLAS path.
///
/// Per layer and direction:
/// 1. One GEMM computes the input projection `x · W_ihᵀ` of all T·B rows of a time chunk at
///    once into the gate buffer, preloaded with `bias_ih + bias_hh`.
/// 2. Each step does one GEMM `h(t−1) · W_hhᵀ` with beta = 1 into that step's gate rows (gemv
///    when B = 1), reading `h(t−1)` where the previous step wrote it: in the output.
/// 3. One fused vectorised pass computes the gates, `c` and `h` (``Activations``, no libm).
///    For `Float` on AVX-512 or AVX2+FMA CPUs (``RecurrentKernels/automatic``), steps 2 and 3
///    are one kernel: `W_hh`, packed when the weights are set, is multiplied in register tiles
///    of up to 6 rows × 4 gates × 16 (or 8) units and the cell update runs on the accumulators
///    (`FusedStep.swift`, CRecurrentKernels).
/// 4. `h` is written straight into the output (or, with `projSize`, projected into it by one
///    GEMM): no per-step copy, no final stack.
/// A ``ForwardPlan`` decides the split between threads, the chunk and the kernels once per
/// call; one ``Workspace`` holds every buffer; the time loop allocates nothing.
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
  /// stay near 4 MiB); reads `input` through its strides (a time-major view of batch-first data
  /// is not copied), and copies it once only when no GEMM can: a time or batch axis with stride
  /// ≤ 0 (reversed, broadcast) or features without unit stride.
  /// - Throws: ``LayerError`` naming expected and actual shapes for a wrong rank or feature
  ///   size, an initial state of the wrong shape, or bad `lengths`; nothing is computed then.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> LSTMOutput<Scalar> {
    let shape = try ForwardShape(self, input: input, initialState: initialState, lengths: lengths)
    return forward(shape, input: input, initialState: initialState, lengths: lengths)
  }

  /// How a call with this input runs, without running it: the split, workers, chunk, gathers
  /// and step kernels (see ``ForwardPlan``). O(1); throws what the call would throw.
  ///
  ///     print(try lstm.plan(for: x))
  public func plan(for input: Tensor<Scalar>, lengths: [Int]? = nil) throws -> ForwardPlan {
    let shape = try ForwardShape(self, input: input, initialState: nil, lengths: lengths)
    return plan(shape, input: input, hasLengths: lengths != nil)
  }

  /// The sizes the engine plans with.
  var geometry: RecurrentGeometry {
    RecurrentGeometry(
      gateCount: 4, inputSize: inputSize, hiddenSize: hiddenSize,
      outputHiddenSize: outputHiddenSize, layers: numLayers, directions: directions,
      projected: projSize > 0)
  }

  func plan(_ s: ForwardShape, input: Tensor<Scalar>, hasLengths: Bool) -> ForwardPlan {
    // Axes of the input that hold time and batch (-1: none, unbatched).
    let (timeAxis, batchAxis) = s.unbatched ? (0, -1) : (batchFirst ? (1, 0) : (0, 1))
    return ForwardPlan(
      geometry: geometry, steps: s.steps, batch: s.batch, hasLengths: hasLengths,
      threads: threads ?? BLAS.threadCount, input: input.layout, timeAxis: timeAxis,
      batchAxis: batchAxis, scalarSize: MemoryLayout<Scalar>.stride,
      isa: kernels == .portable ? nil : directionWeights[0].packedISA, forcedSplit: threadSplit)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forward(
    _ s: ForwardShape, input: Tensor<Scalar>, initialState: LSTMState<Scalar>?, lengths: [Int]?
  ) -> LSTMOutput<Scalar> {
    let (steps, batch, hidden, hOut, directions) =
      (s.steps, s.batch, hiddenSize, outputHiddenSize, self.directions)
    let plan = plan(s, input: input, hasLengths: lengths != nil)
    // Time-major view [T, B, I] of the input, reading through its strides.
    var source =
      s.unbatched
      ? input.unsqueezed(axis: 1) : (batchFirst ? input.permuted([1, 0, 2]) : input)
    if plan.copiesInput { source = source.contiguous() }

    let outputWidth = directions * hOut
    let output = Tensor<Scalar>.zeros(
      shape: batchFirst && !s.unbatched
        ? [batch, steps, outputWidth] : [steps, batch, outputWidth])
    let outputTimeMajor = batchFirst && !s.unbatched ? output.permuted([1, 0, 2]) : output
    let hiddenOut = Tensor<Scalar>.zeros(shape: [numLayers * directions, batch, hOut])
    let cellOut = Tensor<Scalar>.zeros(shape: [numLayers * directions, batch, hidden])
    let h0 = initialState.map { $0.hidden.reshaped([numLayers * directions, batch, hOut]) }
    let c0 = initialState.map { $0.cell.reshaped([numLayers * directions, batch, hidden]) }

    let workspace = Workspace<Scalar>(plan: plan, geometry: geometry)
    defer { workspace.deallocate() }
    let validLengths = lengths ?? []

    withExtendedLifetime((source, output, hiddenOut, cellOut, h0, c0)) {
      validLengths.withUnsafeBufferPointer { lengthBuffer in
        Workers.withBudget(plan) {
          Workers.forEach(workspace.slices.count) { worker in
            let first = worker * plan.rowsPerWorker
            let count = Swift.min(plan.rowsPerWorker, batch - first)
            guard count > 0 else { return }
            runSlice(
              plan, first: first, count: count, batch: batch,
              regions: workspace.slices[worker], partner: workspace.partner,
              lengths: lengths == nil ? nil : lengthBuffer.baseAddress! + first,
              input: Rows(
                base: source.storage.base + source.layout.offset + first * source.strides[1],
                timeStride: source.strides[0], batchStride: source.strides[1],
                features: inputSize),
              output: Rows(
                base: output.storage.base + outputTimeMajor.layout.offset + first
                  * outputTimeMajor.strides[1],
                timeStride: outputTimeMajor.strides[0], batchStride: outputTimeMajor.strides[1],
                features: outputWidth),
              hiddenOut: hiddenOut.storage.base, cellOut: cellOut.storage.base, h0: h0, c0: c0)
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

  /// Every layer and direction over sequences `first..<first+count` of the batch: `input` and
  /// `output` start at sequence `first`; `hiddenOut`/`cellOut` are the whole `[D·L, B, ·]`
  /// results, of which this writes only its own rows.
  private func runSlice(
    _ plan: ForwardPlan, first: Int, count: Int, batch: Int,
    regions: Workspace<Scalar>.SliceRegions, partner: Workspace<Scalar>.PartnerRegions?,
    lengths: UnsafePointer<Int>?, input: Rows<Scalar>,
    output: Rows<Scalar>, hiddenOut: UnsafeMutablePointer<Scalar>,
    cellOut: UnsafeMutablePointer<Scalar>, h0: Tensor<Scalar>?, c0: Tensor<Scalar>?
  ) {
    let (hidden, hOut, steps) = (hiddenSize, outputHiddenSize, plan.steps)
    var layerInput = input
    for layer in 0..<numLayers {
      let layerOutput =
        layer == numLayers - 1
        ? output
        : Rows(
          base: layer % 2 == 0 ? regions.innerOutputs.even : regions.innerOutputs.odd,
          timeStride: count * output.features,
          batchStride: output.features, features: output.features)
      for direction in 0..<directions {
        let index = layer * directions + direction
        // h0 and c0 for this layer-direction and these sequences, as [count, ·] rows.
        for (state, destination, width) in [
          (h0, regions.initialHidden, hOut), (c0, regions.cellState, hidden),
        ] {
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
        let pass = DirectionPass(
          weights: directionWeights[index], plan: plan, geometry: geometry, layer: layer,
          reverse: direction == 1, batch: count, lengths: lengths, regions: regions)
        if plan.split == .hiddenUnits, let partner {
          pass.runHiddenSplit(input: layerInput, output: directionOutput, partner: partner)
        } else {
          pass.run(input: layerInput, output: directionOutput)
        }
        // h_n: each sequence's h at its last processed step; c_n: the final c.
        for b in 0..<count {
          let lastStep = direction == 1 ? 0 : (lengths?[b] ?? steps) - 1
          (hiddenOut + (index * batch + first + b) * hOut).update(
            from: directionOutput.row(time: lastStep, batch: b), count: hOut)
        }
        (cellOut + (index * batch + first) * hidden).update(
          from: regions.cellState, count: count * hidden)
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
