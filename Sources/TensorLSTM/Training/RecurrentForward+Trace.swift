/// The tensors a traced forward fills, before each layer type wraps them (``LSTMTrace``,
/// ``RecurrentTrace``). Per layer-direction, `[0]` where the cell keeps nothing of that kind.
struct TraceTensors<Scalar: BLASScalar> {
  /// Time-major contiguous `[T, B, ·]`: the input, then each layer's output (zero past a
  /// sequence's length).
  var sequences: [Tensor<Scalar>]
  /// The initial state, `[D·L, B, Hout]` and the LSTM's `[D·L, B, H]` (else `[0]`), contiguous;
  /// zeros where the call had none.
  var h0: Tensor<Scalar>
  var c0: Tensor<Scalar>
  /// The records' gate rows (``TraceRecord/gates``).
  var gates: [Tensor<Scalar>]
  /// The LSTM's c of every step.
  var cells: [Tensor<Scalar>]
  /// The reset-before GRU's `r ⊙ h(t−1)` of every step.
  var resetHidden: [Tensor<Scalar>]
  /// Whether each direction split its hidden units between two workers (the LSTM's backward
  /// then does too).
  var splitsUnits: Bool
  /// What a plain call returns, in the call's layout (``traceResult(sequences:geometry:shape:lengths:batchFirst:)``,
  /// and the LSTM's `c_n` from the recorded cells).
  var result: RecurrentForward<Scalar>.Result
}

extension RecurrentForward {
  /// The plan of a traced forward of shape `s`: the forward's own — its hidden split (on the
  /// fused step) or its batch slices (for a cell whose gate rows the record keeps, so that one
  /// product projects them for every slice) — but for a bidirectional layer whose two
  /// directions run at once instead (``Workers/forEachDirection(_:budget:_:)``), which runs
  /// each unsplit.
  func tracePlan(_ s: ForwardShape, hasLengths: Bool) -> ForwardPlan {
    // The trace reads a contiguous time-major copy of the input.
    func plan(threads: Int, split: ForwardPlan.Split?) -> ForwardPlan {
      self.plan(
        s, input: TensorLayout(contiguous: [s.steps, s.batch, geometry.inputSize]), timeAxis: 0,
        batchAxis: 1, hasLengths: hasLengths, threads: threads, split: split)
    }
    let budget = Workers.trainingBudget(threads)
    let forward = plan(threads: budget, split: threadSplit)
    let usable =
      switch forward.split {
      case .hiddenUnits: forward.stepKernels.first == .fused
      case .batchSlices: geometry.cell.tracesGates
      case .none: true
      }
    if usable && !Workers.runsDirectionsAtOnce(geometry.directions, budget: budget) {
      return forward
    }
    return plan(threads: 1, split: nil)
  }

  /// The traced forward of every cell: each layer-direction is a ``DirectionPass`` recording a
  /// ``TraceRecord`` under ``tracePlan(_:hasLengths:)`` — the forward's time loop, kernels and
  /// hidden split. Arguments as the call's (checked into `s`); everything from the input's
  /// time-major copy to the result is done here, specialised, so that a caller in another
  /// package runs no generic code per element. Allocates the trace and one workspace, nothing
  /// per step.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func runTraced(
    _ s: ForwardShape, input callInput: Tensor<Scalar>, h0 initialHidden: Tensor<Scalar>?,
    c0 initialCell: Tensor<Scalar>?, lengths: [Int]?
  ) -> TraceTensors<Scalar> {
    let g = geometry
    let (steps, batch, hidden, hOut) = (s.steps, s.batch, g.hiddenSize, g.outputHiddenSize)
    let directions = g.directions
    let rows = g.layers * directions
    let timeMajor = s.timeMajor(callInput, batchFirst: batchFirst)
    let input = timeMajor.isContiguous ? timeMajor : timeMajor.copied()
    let h0 =
      initialHidden?.reshaped([rows, batch, hOut]).copied() ?? .zeros(shape: [rows, batch, hOut])
    let c0 =
      g.cell.hasCellState
      ? initialCell?.reshaped([rows, batch, hidden]).copied()
        ?? .zeros(shape: [rows, batch, hidden])
      : Tensor<Scalar>.zeros(shape: [0])
    let plan = tracePlan(s, hasLengths: lengths != nil)
    let budget = Workers.trainingBudget(threads)
    let atOnce = Workers.runsDirectionsAtOnce(directions, budget: budget)
    let slices = plan.split == .batchSlices ? plan.workers : 1
    let workspace = Workspace<Scalar>(
      tracing: plan, geometry: g, sets: atOnce ? directions : slices)
    defer { workspace.deallocate() }
    func record(_ shape: [Int], _ kept: Bool) -> [Tensor<Scalar>] {
      // Written before read (gates: bias and product for every row; c: every step), so not
      // zero-filled; r ⊙ h is zero in the padding, which the pass skips.
      (0..<directions).map { _ in kept ? .unfilled(shape: shape) : .zeros(shape: [0]) }
    }
    var sequences = [input]
    var (recordedGates, recordedCells, recordedResets) = (
      [Tensor<Scalar>](), [Tensor<Scalar>](), [Tensor<Scalar>]()
    )
    let validLengths = lengths ?? []
    for layer in 0..<g.layers {
      let x = sequences[layer]
      let output = Tensor<Scalar>.zeros(shape: [steps, batch, directions * hOut])
      let gates = record([steps, batch, g.rowWidth], g.cell.tracesGates)
      let cells = record([steps, batch, hidden], g.cell.hasCellState)
      var resetHidden = record([0], false)
      if g.cell == .gru(resetAfter: false) {
        resetHidden = (0..<directions).map { _ in .zeros(shape: [steps, batch, hidden]) }
      }
      func run(_ direction: Int) {
        let index = layer * directions + direction
        func base(_ t: Tensor<Scalar>) -> UnsafeMutablePointer<Scalar>? {
          t.count == 0 ? nil : t.storage.base
        }
        let record = TraceRecord(
          gates: base(gates[direction]), cells: base(cells[direction]),
          resetHidden: base(resetHidden[direction]), rowsPerStep: batch)
        let input = Rows(
          base: x.storage.base, timeStride: batch * x.shape[2], batchStride: x.shape[2],
          features: x.shape[2])
        let directionOutput = Rows(
          base: output.storage.base + direction * hOut, timeStride: batch * directions * hOut,
          batchStride: directions * hOut, features: hOut)
        validLengths.withUnsafeBufferPointer { lengthBuffer in
          /// The pass of sequences `first..<first+count` on slice `worker`'s regions, with
          /// their h0 and c0 loaded when it will run (not to project the record).
          func pass(_ worker: Int, first: Int, count: Int, runs: Bool = true) -> DirectionPass<
            Scalar
          > {
            let regions = workspace.slices[atOnce ? direction : worker]
            if runs {
              regions.initialHidden.update(
                from: h0.storage.base + (index * batch + first) * hOut, count: count * hOut)
              if g.cell.hasCellState {
                regions.cellState.update(
                  from: c0.storage.base + (index * batch + first) * hidden,
                  count: count * hidden)
              }
            }
            return DirectionPass(
              weights: weights[index], plan: plan, geometry: g, layer: layer,
              reverse: g.isReverse(direction), batch: count,
              lengths: lengths == nil ? nil : lengthBuffer.baseAddress! + first, regions: regions,
              record: record.slice(from: first, hidden: hidden, rowWidth: g.rowWidth))
          }
          // All sequences: the record's projection, and the time loop unless sliced.
          let whole = pass(0, first: 0, count: batch, runs: plan.split != .batchSlices)
          // The record's gate rows of every step and sequence: one product at the budget,
          // before any worker starts; the workers then run their own products at one thread
          // (the plan's BLAS count). Inside the directions' scope (both at once) both are it.
          if g.cell.tracesGates { BLAS.withThreads(budget) { whole.projectRecord(input) } }
          BLAS.withThreads(plan.blasThreads) {
            switch plan.split {
            case .hiddenUnits:
              whole.runHiddenSplit(
                input: input, output: directionOutput, partner: workspace.partner!)
            case .batchSlices:
              // Each slice steps its sequences, as the forward's slices do.
              Workers.forEach(slices) { worker in
                let first = worker * plan.rowsPerWorker
                let count = Swift.min(plan.rowsPerWorker, batch - first)
                guard count > 0 else { return }
                pass(worker, first: first, count: count).run(
                  input: input.offset(batch: first), output: directionOutput.offset(batch: first))
              }
            case .none:
              whole.run(input: input, output: directionOutput)
            }
          }
        }
      }
      withExtendedLifetime((x, output, gates, cells, resetHidden, h0, c0)) {
        if atOnce {
          Workers.forEachDirection(directions, budget: budget, run)
        } else {
          // One after the other, each in the scopes its plan asks for.
          for direction in 0..<directions { run(direction) }
        }
      }
      sequences.append(output)
      recordedGates += gates
      recordedCells += cells
      recordedResets += resetHidden
    }
    let final = traceResult(
      sequences: sequences, geometry: g, shape: s, lengths: lengths, batchFirst: batchFirst)
    var cellOut: Tensor<Scalar>? = nil
    if g.cell.hasCellState {
      // c_n: each sequence's c at its direction's last step.
      var cN = [Scalar](repeating: 0, count: rows * batch * hidden)
      for index in 0..<rows {
        let cells = UnsafePointer(recordedCells[index].storage.base)
        for b in 0..<batch {
          let t = g.isReverse(index % directions) ? 0 : (lengths?[b] ?? steps) - 1
          let c = cells + (t * batch + b) * hidden
          for j in 0..<hidden { cN[(index * batch + b) * hidden + j] = c[j] }
        }
      }
      cellOut = Tensor(shape: [rows] + (s.unbatched ? [] : [batch]) + [hidden], scalars: cN)
    }
    return TraceTensors(
      sequences: sequences, h0: h0, c0: c0, gates: recordedGates, cells: recordedCells,
      resetHidden: recordedResets, splitsUnits: plan.split == .hiddenUnits,
      result: Result(
        output: final.output, hidden: final.hidden, cell: cellOut, lastStep: final.lastStep))
  }
}

/// What a traced forward returns to its caller, from its time-major layer outputs (`sequences`,
/// the input first): the top output in the call's layout, `h_n` `[D·L, B, Hout]` — each
/// sequence's h at its last processed step — and `lastStep` `[B, D·Hout]` (no batch axis
/// unbatched). ``RecurrentForward/runTraced(_:input:h0:c0:lengths:)`` adds the LSTM's `c_n`.
func traceResult<Scalar: BLASScalar>(
  sequences: [Tensor<Scalar>], geometry g: RecurrentGeometry, shape s: ForwardShape,
  lengths: [Int]?, batchFirst: Bool
) -> (output: Tensor<Scalar>, hidden: Tensor<Scalar>, lastStep: Tensor<Scalar>) {
  let (batch, hOut, layers, directions) = (s.batch, g.outputHiddenSize, g.layers, g.directions)
  let (rows, width) = (layers * directions, directions * hOut)
  var hN = [Scalar](repeating: 0, count: rows * batch * hOut)
  for layer in 0..<layers {
    let output = UnsafePointer(sequences[layer + 1].storage.base)
    for direction in 0..<directions {
      let index = layer * directions + direction
      for b in 0..<batch {
        let t = g.isReverse(direction) ? 0 : (lengths?[b] ?? s.steps) - 1
        let h = output + (t * batch + b) * width + direction * hOut
        for j in 0..<hOut { hN[(index * batch + b) * hOut + j] = h[j] }
      }
    }
  }
  var last = [Scalar]()
  for b in 0..<batch {
    for direction in 0..<directions {
      let start = (((layers - 1) * directions + direction) * batch + b) * hOut
      last += hN[start..<(start + hOut)]
    }
  }
  let batchAxis = s.unbatched ? [] : [batch]
  return (
    s.callLayout(sequences[layers], batchFirst: batchFirst),
    Tensor(shape: [rows] + batchAxis + [hOut], scalars: hN),
    Tensor(shape: batchAxis + [width], scalars: last)
  )
}
