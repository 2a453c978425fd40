/// What ``LSTM/forwardWithTrace(_:initialState:lengths:)`` keeps for
/// ``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:)``: the result, and per layer
/// and direction the activated gates and cell states of every step.
///
///     let trace = try lstm.forwardWithTrace(x)
///     trace.output.output                 // the LSTMOutput a plain call returns
///     trace.byteCount                     // what the trace holds, in bytes
///
/// Size, with L layers, D directions, T steps, B sequences: gates `L·D·T·B·4H` and cells
/// `L·D·T·B·H` scalars, every layer's input sequence `T·B·(I + (L−1)·D·Hout)` and the top
/// output `T·B·D·Hout` (time-major), plus `h0`, `c0`. A trace belongs to the weights it was made
/// with: a backward after the model's weights changed throws.
public struct LSTMTrace<Scalar: BLASScalar>: Sendable {
  /// The forward's result, as a plain call returns it.
  public let output: LSTMOutput<Scalar>
  /// The weights the forward ran with (compared by storage identity in the backward).
  let weights: [DirectionWeights<Scalar>]
  let geometry: RecurrentGeometry
  let batchFirst: Bool
  let shape: ForwardShape
  let lengths: [Int]?
  /// Whether the call had an initial state (the backward returns its gradient then).
  let hadInitialState: Bool
  /// `[D·L, B, Hout]` and `[D·L, B, H]`, zeros without an initial state.
  let h0: Tensor<Scalar>
  let c0: Tensor<Scalar>
  /// Time-major contiguous `[T, B, ·]`: the input, then each layer's output.
  let sequences: [Tensor<Scalar>]
  /// Per layer-direction, `[T, B, 4H]`: σ(i), σ(f), tanh(g), σ(o) of every valid step.
  let gates: [Tensor<Scalar>]
  /// Per layer-direction, `[T, B, H]`: c after every valid step.
  let cells: [Tensor<Scalar>]
  /// Whether the forward split each step's hidden units between two workers
  /// (``RecurrentCore/trainingSplitsUnits(_:input:hasLengths:)``); the backward does too.
  let splitsUnits: Bool

  /// Bytes the trace holds (its tensors, the result excluded).
  public var byteCount: Int {
    (([h0, c0] + sequences + gates + cells).map(\.count).reduce(0, +))
      * MemoryLayout<Scalar>.stride
  }

  /// Steps of sequence `b`.
  func length(_ b: Int) -> Int { lengths?[b] ?? shape.steps }

  /// Whether step `t` of sequence `b` ran.
  func isValid(_ t: Int, _ b: Int) -> Bool { t < length(b) }

  /// Whether step `t` of sequence `b` is the first its direction processes (reading h0, c0).
  func isFirst(_ t: Int, _ b: Int, reverse: Bool) -> Bool {
    reverse ? t == length(b) - 1 : t == 0
  }
}

extension LSTM {
  /// Runs the forward and keeps what the backward needs (``LSTMTrace``); the result equals a
  /// plain call's within rounding.
  ///
  ///     let trace = try lstm.forwardWithTrace(x, initialState: state, lengths: lengths)
  ///     let g = try lstm.backward(trace, outputGradient: dY)
  ///
  /// Same arguments, shapes and errors as ``callAsFunction(_:initialState:lengths:)``. One
  /// input GEMM per layer-direction over all steps, then per step the fused trace step where
  /// the forward's runs (no `lengths`, within its row limit), else one recurrent GEMM and the
  /// gate pass that stores the activated gates. A bidirectional layer's directions run at once
  /// when ``threads`` allows 2. Allocates the trace once, nothing per step.
  public func forwardWithTrace(
    _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> LSTMTrace<Scalar> {
    _core.requireTrainable("forwardWithTrace")
    let s = try ForwardShape(self, input: input, initialState: initialState, lengths: lengths)
    if dropsOut { throw droppedTraceError }
    let splitsUnits = _core.trainingSplitsUnits(s, input: input, hasLengths: lengths != nil)
    return Workers.withTrainingKernels(kernels) {
      TraceForward(lstm: self, shape: s, lengths: lengths, splitsUnits: splitsUnits).run(
        input, initialState: initialState)
    }
  }
}

/// The forward that records a trace.
private struct TraceForward<Scalar: BLASScalar> {
  let lstm: LSTM<Scalar>
  let shape: ForwardShape
  let lengths: [Int]?
  /// Whether each direction's fused steps split the hidden units between two workers.
  let splitsUnits: Bool

  var g: RecurrentGeometry { lstm.geometry }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func run(_ input: Tensor<Scalar>, initialState: LSTMState<Scalar>?) -> LSTMTrace<Scalar> {
    let (steps, batch, hidden, hOut) = (shape.steps, shape.batch, g.hiddenSize, g.outputHiddenSize)
    let (layers, directions) = (g.layers, g.directions)
    let rows = layers * directions
    let timeMajor = shape.timeMajor(input, batchFirst: lstm.batchFirst)
    let h0 =
      initialState.map { $0.hidden.reshaped([rows, batch, hOut]).copied() }
      ?? .zeros(shape: [rows, batch, hOut])
    let c0 =
      initialState.map { $0.cell.reshaped([rows, batch, hidden]).copied() }
      ?? .zeros(shape: [rows, batch, hidden])
    var sequences = [timeMajor.isContiguous ? timeMajor : timeMajor.copied()]
    var gates: [Tensor<Scalar>] = []
    var cells: [Tensor<Scalar>] = []
    // The two directions of a layer are independent: with a budget of 2 threads they run at
    // once, each on one thread (its GEMMs too), with scratch of its own.
    let budget = Workers.trainingBudget(lstm.threads)
    let hPrevious = UnsafeMutablePointer<Scalar>.allocate(capacity: directions * batch * hOut)
    let hFull = UnsafeMutablePointer<Scalar>.allocate(capacity: directions * batch * hidden)
    defer {
      hPrevious.deallocate()
      hFull.deallocate()
    }
    for layer in 0..<layers {
      let x = sequences[layer]
      let output = Tensor<Scalar>.zeros(shape: [steps, batch, directions * hOut])
      // Written in full (gates: bias and GEMM for every row) or read only where written
      // (cells: valid steps), so not zero-filled.
      let gateTraces = (0..<directions).map { _ in
        Tensor<Scalar>.unfilled(shape: [steps, batch, 4 * hidden])
      }
      let cellTraces = (0..<directions).map { _ in
        Tensor<Scalar>.unfilled(shape: [steps, batch, hidden])
      }
      func run(_ direction: Int) {
        let index = layer * directions + direction
        withExtendedLifetime((x, output, gateTraces, cellTraces, h0, c0)) {
          runDirection(
            lstm._core.weights[index], reverse: g.isReverse(direction),
            x: x.storage.base + x.layout.offset,
            features: x.shape[2], output: output.storage.base + direction * hOut,
            outputStride: directions * hOut, gates: gateTraces[direction].storage.base,
            cells: cellTraces[direction].storage.base,
            h0: h0.storage.base + index * batch * hOut,
            c0: c0.storage.base + index * batch * hidden,
            hPrevious: hPrevious + direction * batch * hOut,
            hFull: hFull + direction * batch * hidden)
        }
      }
      Workers.forEachDirection(directions, budget: budget, run)
      gates += gateTraces
      cells += cellTraces
      sequences.append(output)
    }
    let result = makeOutput(sequences: sequences, cells: cells)
    return LSTMTrace(
      output: result, weights: lstm._core.weights, geometry: g, batchFirst: lstm.batchFirst,
      shape: shape, lengths: lengths, hadInitialState: initialState != nil, h0: h0, c0: c0,
      sequences: sequences, gates: gates, cells: cells, splitsUnits: splitsUnits)
  }

  func length(_ b: Int) -> Int { lengths?[b] ?? shape.steps }

  /// One layer-direction: the input GEMM over all steps, then per step the recurrent GEMM and
  /// the gate pass that keeps the activated gates and c.
  private func runDirection(
    _ w: DirectionWeights<Scalar>, reverse: Bool, x: UnsafePointer<Scalar>, features: Int,
    output: UnsafeMutablePointer<Scalar>, outputStride: Int, gates: UnsafeMutablePointer<Scalar>,
    cells: UnsafeMutablePointer<Scalar>, h0: UnsafePointer<Scalar>, c0: UnsafePointer<Scalar>,
    hPrevious: UnsafeMutablePointer<Scalar>, hFull: UnsafeMutablePointer<Scalar>
  ) {
    let (steps, batch, hidden, hOut) = (shape.steps, shape.batch, g.hiddenSize, g.outputHiddenSize)
    let width = 4 * hidden
    w.projectAll(x, rows: steps * batch, features: features, into: gates, rowStride: width)
    w.weightHH.withBase { wHH in
      // The fused step (Float or Double, no lengths, within its row limit) keeps the trace.
      let fused: (isa: VectorISA, packed: Tensor<Scalar>)? =
        lengths == nil && batch <= FusedStep.maximumBatch(w.packedISA)
        ? w.packedISA.flatMap { isa in w.packedRecurrent.map { (isa, $0) } } : nil
      // Otherwise the per-step product reads W_hh packed once (or the BLAS, where it wins).
      if let fused, splitsUnits {
        fused.packed.withBase { packed in
          splitSteps(
            isa: fused.isa, packed: packed, reverse: reverse, output: output,
            outputStride: outputStride, gates: gates, cells: cells, h0: h0, c0: c0)
        }
        return
      }
      let recurrentProduct =
        fused == nil
        ? ReusedOperand(
          StridedMatrix(
            base: wHH, rows: hOut, columns: width, rowStride: 1, columnStride: hOut),
          rows: batch) : nil
      for k in 0..<steps {
        let t = reverse ? steps - 1 - k : k
        let neighbour = reverse ? t + 1 : t - 1
        let rowGates = gates + t * batch * width
        if let fused {
          let first = reverse ? t == steps - 1 : t == 0
          let cell = cells + t * batch * hidden
          cell.update(
            from: first ? c0 : UnsafePointer(cells + neighbour * batch * hidden),
            count: batch * hidden)
          let (hPrev, hPrevStride) =
            first
            ? (h0, hOut)
            : (UnsafePointer(output + neighbour * batch * outputStride), outputStride)
          let (h, hStride) =
            g.projected ? (hFull, hidden) : (output + t * batch * outputStride, outputStride)
          fused.packed.withBase { packed in
            FusedStep.step(
              cell: .lstm, isa: fused.isa, packed: packed, units: hidden, k: hOut,
              hPrevious: hPrev, hPreviousStride: hPrevStride, hOld: hPrev, gates: rowGates,
              gateStride: width, gateBlock: hidden, cell: cell, cellStride: hidden, hidden: h,
              hiddenStride: hStride, batch: batch, trace: true)
          }
        } else {
          stepByGEMM(
            t, neighbour: neighbour, reverse: reverse, recurrent: recurrentProduct!,
            rowGates: rowGates,
            output: output, outputStride: outputStride, cells: cells, h0: h0, c0: c0,
            hPrevious: hPrevious, hFull: hFull)
        }
        if let weightHR = w.weightHR {
          weightHR.withBase { wHR in
            BLAS.gemm(
              StridedMatrix(
                base: UnsafePointer(hFull), rows: batch, columns: hidden, rowStride: hidden,
                columnStride: 1),
              StridedMatrix(
                base: wHR, rows: hidden, columns: hOut, rowStride: 1, columnStride: hidden),
              into: output + t * batch * outputStride, rowStride: outputStride)
          }
        }
      }
    }
  }

  /// The fused trace steps of one direction with the hidden units split between two workers,
  /// as the forward's ``ForwardPlan/Split/hiddenUnits`` does: each worker steps its units of
  /// every gate, of c and of h, reading its panels of the packed `W_hh`; one barrier per step
  /// makes h(t−1) whole before either reads it. No lengths, no projection.
  private func splitSteps(
    isa: VectorISA, packed: UnsafePointer<Scalar>, reverse: Bool,
    output: UnsafeMutablePointer<Scalar>, outputStride: Int, gates: UnsafeMutablePointer<Scalar>,
    cells: UnsafeMutablePointer<Scalar>, h0: UnsafePointer<Scalar>, c0: UnsafePointer<Scalar>
  ) {
    let (steps, batch, hidden) = (shape.steps, shape.batch, g.hiddenSize)
    let width = 4 * hidden
    let barrier = StepBarrier()
    func worker(_ units: Range<Int>) {
      let (u0, n) = (units.lowerBound, units.count)
      let panels = FusedStep.panels(packed, cell: .lstm, first: u0, k: hidden, isa: isa)
      for k in 0..<steps {
        let t = reverse ? steps - 1 - k : k
        let neighbour = reverse ? t + 1 : t - 1
        let cell = cells + t * batch * hidden + u0
        // c(t−1) of these units, updated in place by the step.
        let previous: UnsafePointer<Scalar> =
          k == 0 ? c0 + u0 : UnsafePointer(cells + neighbour * batch * hidden + u0)
        for b in 0..<batch {
          (cell + b * hidden).update(from: previous + b * hidden, count: n)
        }
        // Both halves of h(t−1) must be written before either worker reads it.
        barrier.wait(until: 2 * k)
        let (hPrevious, hPreviousStride) =
          k == 0
          ? (h0, hidden) : (UnsafePointer(output + neighbour * batch * outputStride), outputStride)
        FusedStep.step(
          cell: .lstm, isa: isa, packed: panels, units: n, k: hidden, hPrevious: hPrevious,
          hPreviousStride: hPreviousStride, hOld: hPrevious + u0,
          gates: gates + t * batch * width + u0, gateStride: width, gateBlock: hidden, cell: cell,
          cellStride: hidden, hidden: output + t * batch * outputStride + u0,
          hiddenStride: outputStride, batch: batch, trace: true)
        barrier.arrive()
      }
      barrier.wait(until: 2 * steps)
    }
    let (first, second) = DirectionPass<Scalar>.hiddenSplitUnits(
      hidden, panel: 2 * isa.width(of: Scalar.self))
    Workers.pair({ worker(first) }, helper: { worker(second) })
  }

  /// One step on the GEMM path: h(t−1) gathered per sequence (h0 where its direction starts),
  /// one GEMM into the step's gate rows, the Swift pass that keeps the activations.
  private func stepByGEMM(
    _ t: Int, neighbour: Int, reverse: Bool, recurrent: ReusedOperand<Scalar>,
    rowGates: UnsafeMutablePointer<Scalar>, output: UnsafeMutablePointer<Scalar>,
    outputStride: Int, cells: UnsafeMutablePointer<Scalar>, h0: UnsafePointer<Scalar>,
    c0: UnsafePointer<Scalar>, hPrevious: UnsafeMutablePointer<Scalar>,
    hFull: UnsafeMutablePointer<Scalar>
  ) {
    let (steps, batch, hidden, hOut) = (shape.steps, shape.batch, g.hiddenSize, g.outputHiddenSize)
    let width = 4 * hidden
    for b in 0..<batch {
      let first = reverse ? t == length(b) - 1 : t == 0
      (hPrevious + b * hOut).update(
        from: first || neighbour < 0 || neighbour >= steps
          ? h0 + b * hOut : UnsafePointer(output + (neighbour * batch + b) * outputStride),
        count: hOut)
    }
    recurrent.multiply(
      StridedMatrix(
        base: UnsafePointer(hPrevious), rows: batch, columns: hOut, rowStride: hOut,
        columnStride: 1), into: rowGates, rowStride: width, beta: 1)
    for b in 0..<batch {
      let h = g.projected ? hFull + b * hidden : output + (t * batch + b) * outputStride
      guard t < length(b) else {
        (h).update(repeating: 0, count: g.projected ? hidden : hOut)
        continue
      }
      let first = reverse ? t == length(b) - 1 : t == 0
      let cPrevious =
        first ? c0 + b * hidden : UnsafePointer(cells + (neighbour * batch + b) * hidden)
      TraceGatePass.apply(
        rowGates + b * width, cellPrevious: cPrevious,
        cell: cells + (t * batch + b) * hidden, hidden: h, count: hidden)
    }
  }

  /// The user-facing result from the trace: output in the call's layout, h_n and lastStep
  /// (``traceResult(sequences:geometry:shape:lengths:batchFirst:)``), and c_n.
  private func makeOutput(sequences: [Tensor<Scalar>], cells: [Tensor<Scalar>]) -> LSTMOutput<
    Scalar
  > {
    let (batch, hidden, rows) = (shape.batch, g.hiddenSize, g.layers * g.directions)
    let final = traceResult(
      sequences: sequences, geometry: g, shape: shape, lengths: lengths,
      batchFirst: lstm.batchFirst)
    var cN = [Scalar](repeating: 0, count: rows * batch * hidden)
    for index in 0..<rows {
      let cellValues = UnsafePointer(cells[index].storage.base)
      for b in 0..<batch {
        let t = g.isReverse(index % g.directions) ? 0 : length(b) - 1
        let c = cellValues + (t * batch + b) * hidden
        for j in 0..<hidden { cN[(index * batch + b) * hidden + j] = c[j] }
      }
    }
    return LSTMOutput(
      output: final.output, hidden: final.hidden,
      cell: Tensor(shape: [rows] + (shape.unbatched ? [] : [batch]) + [hidden], scalars: cN),
      lastStep: final.lastStep)
  }

}

/// The LSTM cell update that keeps its activations: the row's pre-activations become σ(i),
/// σ(f), tanh(g), σ(o) in place, c and h are written.
enum TraceGatePass {
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func apply<Scalar: BLASScalar>(
    _ gates: UnsafeMutablePointer<Scalar>, cellPrevious: UnsafePointer<Scalar>,
    cell: UnsafeMutablePointer<Scalar>, hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      let i = Activations.sigmoid(gates[j])
      let f = Activations.sigmoid(gates[count + j])
      let g = Activations.tanh(gates[2 * count + j])
      let o = Activations.sigmoid(gates[3 * count + j])
      let c = f * cellPrevious[j] + i * g
      (gates[j], gates[count + j], gates[2 * count + j], gates[3 * count + j]) = (i, f, g, o)
      cell[j] = c
      h[j] = o * Activations.tanh(c)
    }
  }
}
