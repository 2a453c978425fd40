/// The forward pass of every recurrent layer on the BLAS path; ``LSTM``, ``GRU`` and ``RNN``
/// build one from their settings and weights and differ only in ``RecurrentGeometry/cell``.
///
/// Per layer and direction:
/// 1. One GEMM computes the input projection `x · W_ihᵀ` of all T·B rows of a time chunk at
///    once into the gate buffer, preloaded with the row bias (one GEMM per run of gate slots,
///    ``RecurrentCell/inputRuns``).
/// 2. Each step does one GEMM `h(t−1) · W_hhᵀ` with beta = 1 into that step's gate rows (gemv
///    when B = 1), reading `h(t−1)` where the previous step wrote it: in the output.
/// 3. One fused vectorised pass computes the gates and `h` (and the LSTM's `c`) (``Activations``,
///    no libm). For `Float` on AVX-512 or AVX2+FMA CPUs (``RecurrentKernels/automatic``),
///    steps 2 and 3 are one kernel: `W_hh`, packed when the weights are set, is multiplied in
///    register tiles of up to 6 rows × G gates × 16 (or 8) units and the cell update runs on
///    the accumulators (`FusedStep.swift`, CRecurrentKernels). The reset-before GRU runs two
///    GEMMs per step instead (its n needs `r ⊙ h` first).
/// 4. `h` is written straight into the output (or, with the LSTM's `projSize`, projected into it
///    by one GEMM): no per-step copy, no final stack.
/// A ``ForwardPlan`` decides the split between threads, the chunk and the kernels once per
/// call; one ``Workspace`` holds every buffer; the time loop allocates nothing.
struct RecurrentForward<Scalar: BLASScalar> {
  var geometry: RecurrentGeometry
  var batchFirst: Bool
  /// The model's thread budget (nil: ``BLAS/threadCount``).
  var threads: Int?
  var threadSplit: ForwardPlan.Split?
  var kernels: RecurrentKernels
  /// Index `layer · D + direction`.
  var weights: [DirectionWeights<Scalar>]

  /// What a forward returns, before each layer type wraps it: `cell` is nil but for the LSTM.
  struct Result {
    var output: Tensor<Scalar>
    var hidden: Tensor<Scalar>
    var cell: Tensor<Scalar>?
    var lastStep: Tensor<Scalar>
  }

  func plan(_ s: ForwardShape, input: Tensor<Scalar>, hasLengths: Bool) -> ForwardPlan {
    // Axes of the input that hold time and batch (-1: none, unbatched).
    let (timeAxis, batchAxis) = s.unbatched ? (0, -1) : (batchFirst ? (1, 0) : (0, 1))
    return plan(
      s, input: input.layout, timeAxis: timeAxis, batchAxis: batchAxis, hasLengths: hasLengths,
      threads: threads ?? BLAS.threadCount, split: threadSplit)
  }

  /// The plan of a call of shape `s` whose input has `layout` (time and batch on the given
  /// axes), at `threads` with `split` forced (nil: the plan's own choice).
  func plan(
    _ s: ForwardShape, input layout: TensorLayout, timeAxis: Int, batchAxis: Int,
    hasLengths: Bool, threads: Int, split: ForwardPlan.Split?
  ) -> ForwardPlan {
    ForwardPlan(
      geometry: geometry, steps: s.steps, batch: s.batch, hasLengths: hasLengths,
      threads: threads, input: layout, timeAxis: timeAxis, batchAxis: batchAxis,
      scalarSize: MemoryLayout<Scalar>.stride,
      isa: kernels == .portable ? nil : weights[0].packedISA,
      packedProjection: !weights[0].packedInput.isEmpty, precision: weights[0].precision,
      int8Kernel: weights[0].narrowStep.int8Kernel, int8Projection: weights[0].inputInt8Kernel,
      forcedSplit: split)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func run(
    _ s: ForwardShape, input: Tensor<Scalar>, h0 initialHidden: Tensor<Scalar>?,
    c0 initialCell: Tensor<Scalar>?, lengths: [Int]?
  ) -> Result {
    let (steps, batch, hidden, hOut) =
      (s.steps, s.batch, geometry.hiddenSize, geometry.outputHiddenSize)
    let (numLayers, directions) = (geometry.layers, geometry.directions)
    let carriesCell = geometry.cell.hasCellState
    let plan = plan(s, input: input, hasLengths: lengths != nil)
    // Time-major view [T, B, I] of the input, reading through its strides.
    var source = s.timeMajor(input, batchFirst: batchFirst)
    if plan.copiesInput { source = source.contiguous() }

    let outputWidth = directions * hOut
    let output = Tensor<Scalar>.zeros(
      shape: batchFirst && !s.unbatched
        ? [batch, steps, outputWidth] : [steps, batch, outputWidth])
    let hiddenOut = Tensor<Scalar>.zeros(shape: [numLayers * directions, batch, hOut])
    let cellOut = Tensor<Scalar>.zeros(
      shape: carriesCell ? [numLayers * directions, batch, hidden] : [0])
    let h0 = initialHidden.map { $0.reshaped([numLayers * directions, batch, hOut]) }
    let c0 = initialCell.map { $0.reshaped([numLayers * directions, batch, hidden]) }

    let workspace = Workspace<Scalar>(plan: plan, geometry: geometry)
    defer { workspace.deallocate() }
    run(
      plan, source: source, output: output, batchMajor: batchFirst && !s.unbatched,
      hiddenOut: hiddenOut, cellOut: cellOut, h0: h0,
      c0: c0, lengths: lengths, workspace: workspace)

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
      return Result(
        output: output.reshaped([steps, outputWidth]),
        hidden: hiddenOut.reshaped([numLayers * directions, hOut]),
        cell: carriesCell ? cellOut.reshaped([numLayers * directions, hidden]) : nil,
        lastStep: lastStep.reshaped([outputWidth]))
    }
    return Result(
      output: output, hidden: hiddenOut, cell: carriesCell ? cellOut : nil, lastStep: lastStep)
  }

  /// The time loop of every layer and direction, into result buffers the caller owns: the
  /// allocating ``run(_:input:h0:c0:lengths:)`` and the ONNX plan's replay (which keeps its
  /// buffers and workspace across runs) both end here. Allocates nothing.
  ///
  /// `source` is the time-major `[T, B, I]` input `plan` was made for; `output` is contiguous,
  /// `[B, T, D·Hout]` when `batchMajor` (batchFirst, batched), else `[T, B, D·Hout]`, and zero
  /// where `lengths` leave steps out; `hiddenOut` `[D·L, B, Hout]` and `cellOut` `[D·L, B, H]`
  /// are contiguous; `h0` and `c0` are `[D·L, B, ·]` with any strides.
  func run(
    _ plan: ForwardPlan, source: Tensor<Scalar>, output: Tensor<Scalar>, batchMajor: Bool,
    hiddenOut: Tensor<Scalar>, cellOut: Tensor<Scalar>, h0: Tensor<Scalar>?,
    c0: Tensor<Scalar>?, lengths: [Int]?, workspace: Workspace<Scalar>
  ) {
    let (steps, batch) = (plan.steps, plan.batch)
    let outputWidth = geometry.directions * geometry.outputHiddenSize
    let inputSize = geometry.inputSize
    // The output's time and batch strides, time-major whatever its layout.
    let (timeStride, batchStride) =
      batchMajor ? (outputWidth, steps * outputWidth) : (batch * outputWidth, outputWidth)
    let validLengths = lengths ?? []
    withExtendedLifetime((source, output, hiddenOut, cellOut, h0, c0)) {
      validLengths.withUnsafeBufferPointer { lengthBuffer in
        func slice(_ worker: Int) {
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
              base: output.storage.base + output.layout.offset + first * batchStride,
              timeStride: timeStride, batchStride: batchStride, features: outputWidth),
            hiddenOut: hiddenOut.storage.base + hiddenOut.layout.offset,
            cellOut: cellOut.storage.base + cellOut.layout.offset, h0: h0, c0: c0)
        }
        Workers.withBudget(plan, kernels: kernels) {
          // One worker runs here directly: no closure context for the helpers.
          if workspace.slices.count == 1 {
            slice(0)
          } else {
            Workers.forEach(workspace.slices.count) { slice($0) }
          }
        }
      }
    }
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
    let (hidden, hOut, steps) = (geometry.hiddenSize, geometry.outputHiddenSize, plan.steps)
    let (numLayers, directions) = (geometry.layers, geometry.directions)
    let carriesCell = geometry.cell.hasCellState
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
        func load(
          _ state: Tensor<Scalar>?, _ destination: UnsafeMutablePointer<Scalar>, _ width: Int
        ) {
          guard width > 0 else { return }
          if let state {
            copyRows(state, index: index, first: first, count: count, into: destination)
          } else {
            destination.update(repeating: 0, count: count * width)
          }
        }
        load(h0, regions.initialHidden, hOut)
        load(c0, regions.cellState, carriesCell ? hidden : 0)
        let directionOutput = Rows(
          base: layerOutput.base + direction * hOut, timeStride: layerOutput.timeStride,
          batchStride: layerOutput.batchStride, features: hOut)
        let pass = DirectionPass(
          weights: weights[index], plan: plan, geometry: geometry, layer: layer,
          reverse: geometry.isReverse(direction), batch: count, lengths: lengths, regions: regions)
        if plan.split == .hiddenUnits, let partner {
          pass.runHiddenSplit(input: layerInput, output: directionOutput, partner: partner)
        } else {
          pass.run(input: layerInput, output: directionOutput)
        }
        // h_n: each sequence's h at its last processed step; c_n: the final c.
        for b in 0..<count {
          let lastStep = geometry.isReverse(direction) ? 0 : (lengths?[b] ?? steps) - 1
          (hiddenOut + (index * batch + first + b) * hOut).update(
            from: directionOutput.row(time: lastStep, batch: b), count: hOut)
        }
        if carriesCell {
          (cellOut + (index * batch + first) * hidden).update(
            from: regions.cellState, count: count * hidden)
        }
      }
      layerInput = layerOutput
    }
  }

  /// Copies rows `first..<first+count` of `state[index]` (`[D·L, B, n]`, any strides) into
  /// contiguous rows at `destination`.
  private func copyRows(
    _ state: Tensor<Scalar>, index: Int, first: Int, count: Int,
    into destination: UnsafeMutablePointer<Scalar>
  ) {
    let (rowStride, featureStride, width) = (state.strides[1], state.strides[2], state.shape[2])
    let base = state.storage.base + state.layout.offset + index * state.strides[0]
    for b in 0..<count {
      let row = base + (first + b) * rowStride
      for f in 0..<width { destination[b * width + f] = row[f * featureStride] }
    }
  }
}

/// The checked shape facts of one forward call.
struct ForwardShape {
  var steps: Int
  var batch: Int
  var unbatched: Bool

  /// Checks `input` and `lengths` against a layer of `geometry`; `initialState` checks the
  /// state tensors with ``checkState(_:name:width:layers:)``.
  init(
    geometry g: RecurrentGeometry, batchFirst: Bool, input: Tensor<some BLASScalar>,
    lengths: [Int]?
  ) throws {
    let layout = batchFirst ? "[B, T, \(g.inputSize)]" : "[T, B, \(g.inputSize)]"
    guard input.rank == 3 || input.rank == 2 else {
      throw LayerError.rankMismatch(
        name: "input", expected: "\(layout) or unbatched [T, \(g.inputSize)]",
        actual: input.shape)
    }
    unbatched = input.rank == 2
    if unbatched {
      (steps, batch) = (input.shape[0], 1)
    } else {
      (steps, batch) =
        batchFirst ? (input.shape[1], input.shape[0]) : (input.shape[0], input.shape[1])
    }
    if input.shape.last != g.inputSize {
      var expected = input.shape
      expected[expected.count - 1] = g.inputSize
      throw LayerError.shapeMismatch(name: "input", expected: expected, actual: input.shape)
    }
    if steps < 1 || batch < 1 {
      throw LayerError.rankMismatch(
        name: "input", expected: "\(layout) with T ≥ 1 and B ≥ 1", actual: input.shape)
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

  /// `tensor` — the call's input, its output, or a gradient of either — as a time-major
  /// `[T, B, ·]` view: permuted when batch-first, with a batch axis of 1 when unbatched. O(1),
  /// shares storage.
  func timeMajor<Scalar>(_ tensor: Tensor<Scalar>, batchFirst: Bool) -> Tensor<Scalar> {
    unbatched ? tensor.unsqueezed(axis: 1) : (batchFirst ? tensor.permuted([1, 0, 2]) : tensor)
  }

  /// A time-major `[T, B, F]` tensor in the call's layout: `[B, T, F]` with batchFirst (copies),
  /// `[T, F]` unbatched, else itself. The inverse of ``timeMajor(_:batchFirst:)``.
  func callLayout<Scalar>(_ timeMajor: Tensor<Scalar>, batchFirst: Bool) -> Tensor<Scalar> {
    if unbatched { return timeMajor.reshaped([steps, timeMajor.shape[2]]) }
    return batchFirst ? timeMajor.permuted([1, 0, 2]).copied() : timeMajor
  }

  /// Throws unless `state` is `[D·L, B, width]` (`[D·L, width]` unbatched).
  func checkState(_ state: Tensor<some BLASScalar>, name: String, width: Int, layers: Int) throws {
    let expected = [layers] + (unbatched ? [] : [batch]) + [width]
    if state.shape != expected {
      throw LayerError.shapeMismatch(name: name, expected: expected, actual: state.shape)
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

  /// The rows of sequences `first…`.
  func offset(batch first: Int) -> Rows {
    Rows(
      base: base + first * batchStride, timeStride: timeStride, batchStride: batchStride,
      features: features)
  }
}
