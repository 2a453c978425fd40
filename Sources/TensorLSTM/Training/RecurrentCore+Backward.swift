extension RecurrentCore {
  /// Backpropagation through time for every cell (LSTM, GRU with either reset placement, RNN):
  /// what ``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:inputGradient:)``,
  /// ``GRU/backward(_:outputGradient:hiddenGradient:inputGradient:)`` and
  /// ``RNN/backward(_:outputGradient:hiddenGradient:inputGradient:)`` return, before it is
  /// wrapped in the layer's gradients type. `shapes` are the trace's output, `h_n` and (LSTM)
  /// `c_n` shapes; the gradients given must match them.
  ///
  /// Per layer and direction, one time loop (``RecurrentBackward``), then the products over
  /// all steps. Nothing is computed when a check throws.
  func backward<Output>(
    _ trace: RecurrentLayerTrace<Scalar, Output>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>?, cellGradient: Tensor<Scalar>? = nil, inputGradient: Bool,
    shapes: (output: [Int], hidden: [Int], cell: [Int]?)
  ) throws -> RecurrentBackward<Scalar, Output>.Result {
    requireTrainable("backward")
    try TrainingError.checkTrace(
      model: (geometry, weights), trace: (trace.geometry, trace.weights), name: name)
    try TrainingError.check("outputGradient", outputGradient, is: shapes.output)
    if let hiddenGradient {
      try TrainingError.check("hiddenGradient", hiddenGradient, is: shapes.hidden)
    }
    if let cellGradient, let shape = shapes.cell {
      try TrainingError.check("cellGradient", cellGradient, is: shape)
    }
    let pass = RecurrentBackward(
      trace: trace, names: parameterShapes.map(\.name), inputGradient: inputGradient,
      budget: Workers.trainingBudget(threads))
    return Workers.withTrainingKernels(kernels) {
      pass.run(
        outputGradient: outputGradient, hiddenGradient: hiddenGradient, cellGradient: cellGradient)
    }
  }
}

/// The backward of one trace, every cell: per layer (last first) and direction, one time loop
/// that writes the gate gradients of every step into a ``BackwardWorkspace`` and carries
/// dL/dh (and the LSTM's dL/dc) backwards through time, then the products over all steps.
///
/// Each step: dh = incoming + carried and h(t−1) (``RecurrentLayerTrace/gatherStep``); the
/// cell's gate gradients of every valid row — written in full, so only padded rows need zeros;
/// then dh(t−1) = direct paths + dG_h(t) · W_hh, one GEMM with the packed `W_hh`
/// (``ReusedOperand``). The gate gradients are two regions for the GRU (what `W_ih` and what
/// `W_hh` multiplied: they differ in its n gate) and one for the LSTM and RNN.
/// Over all steps and sequences: dW_ih = dG_inᵀ·X, dW_hh = dG_hᵀ·H(t−1) (the reset-before
/// GRU's n rows: dG_nᵀ·(r ⊙ h)), the biases' column sums, dX += dG_in·W_ih, the projection's
/// dW_hr = dhᵀ·h_full.
struct RecurrentBackward<Scalar: BLASScalar, Output: Sendable> {
  /// What the backward returns: the layer wraps it in its gradients type.
  struct Result {
    /// dL/dx in the input's layout (`[0]` without `inputGradient`).
    var input: Tensor<Scalar>
    /// dL/dθ keyed as `stateDict()`.
    var parameters: [String: Tensor<Scalar>]
    /// dL/dh0 `[D·L, B, Hout]` (and the LSTM's dL/dc0 `[D·L, B, H]`), when the forward had an
    /// initial state: the layer shapes them like its state.
    var initialHidden: Tensor<Scalar>?
    var initialCell: Tensor<Scalar>?
  }

  let trace: RecurrentLayerTrace<Scalar, Output>
  /// Parameter names in `stateDict` order.
  let names: [String]
  /// Whether dL/dx of the first layer's input is computed.
  let inputGradient: Bool
  /// The thread budget (``Workers/trainingBudget(_:)``): a bidirectional layer's two time loops
  /// run at once when it is 2 or more.
  let budget: Int

  var g: RecurrentGeometry { trace.geometry }

  /// Sequences per batch slice below which the time loop keeps the whole batch (and splits
  /// each step's product by columns instead): a slice's dh(t−1) product of fewer rows than two
  /// of the packed GEMM's 12-row tiles wastes much of a partial tile. Zen 5, 2 threads: B 64
  /// (slices of 32) trains 0-10 % faster sliced; B 32 (slices of 16) 15-20 % slower.
  static var minimumSliceRows: Int { 24 }

  @_specialize(where Scalar == Float, Output == LSTMOutput<Float>)
  @_specialize(where Scalar == Double, Output == LSTMOutput<Double>)
  @_specialize(where Scalar == Float, Output == RecurrentOutput<Float>)
  @_specialize(where Scalar == Double, Output == RecurrentOutput<Double>)
  func run(
    outputGradient: Tensor<Scalar>, hiddenGradient: Tensor<Scalar>?,
    cellGradient: Tensor<Scalar>?
  ) -> Result {
    let s = trace.shape
    let (steps, batch, hidden, hOut) = (s.steps, s.batch, g.hiddenSize, g.outputHiddenSize)
    let (layers, directions) = (g.layers, g.directions)
    let rows = layers * directions
    let width = directions * hOut
    let hasCell = g.cell.hasCellState
    // dL/d(layer output), time-major [T, B, D·Hout], read through its strides (a batch-first
    // gradient is not copied); copied only when its features are not adjacent. Padded
    // positions are never read.
    var dOutput = s.timeMajor(outputGradient, batchFirst: trace.batchFirst)
    if dOutput.strides[2] != 1 && width > 1 { dOutput = dOutput.copied() }
    let dHn = hiddenGradient?.reshaped([rows, batch, hOut]).copied()
    let dCn = cellGradient?.reshaped([rows, batch, hidden]).copied()
    // The carries: dL/dh and dL/dc of each layer-direction, dL/dh0 and dL/dc0 at the end.
    let dH0 = Tensor<Scalar>.zeros(shape: [rows, batch, hOut])
    let dC0 = Tensor<Scalar>.zeros(shape: hasCell ? [rows, batch, hidden] : [0])
    // Scratch, taken once: gate gradients and H(t−1) of all steps, one step's buffers; one set
    // per direction that runs at once.
    let atOnce = Workers.runsDirectionsAtOnce(directions, budget: budget)
    let workspace = BackwardWorkspace<Scalar>(
      geometry: g, steps: steps, batch: batch, sets: atOnce ? directions : 1)
    defer { workspace.deallocate() }
    var perDirection = [[Tensor<Scalar>]](repeating: [], count: rows)
    // A direction's time loop has the budget to itself unless the two run at once.
    let directionBudget = atOnce ? 1 : budget
    for layer in (0..<layers).reversed() {
      let x = trace.sequences[layer]
      let features = x.shape[2]
      let needsDX = layer > 0 || inputGradient
      let dX = Tensor<Scalar>.zeros(shape: needsDX ? [steps, batch, features] : [0])
      withExtendedLifetime((dOutput, dX, dH0, dC0, dHn, dCn, x)) {
        func timeLoop(_ direction: Int) {
          let index = layer * directions + direction
          let carryH = dH0.storage.base + index * batch * hOut
          let carryC = dC0.storage.base + (hasCell ? index * batch * hidden : 0)
          if let dHn {
            carryH.update(from: dHn.storage.base + index * batch * hOut, count: batch * hOut)
          }
          if let dCn {
            carryC.update(from: dCn.storage.base + index * batch * hidden, count: batch * hidden)
          }
          throughTime(
            index: index, reverse: g.isReverse(direction), budget: directionBudget,
            regions: workspace.regions(direction),
            dOutput: Rows(
              base: dOutput.storage.base + dOutput.layout.offset + direction * hOut,
              timeStride: dOutput.strides[0], batchStride: dOutput.strides[1], features: hOut),
            output: trace.sequences[layer + 1].storage.base + direction * hOut,
            outputStride: width, carryH: carryH, carryC: carryC)
        }
        Workers.backwardLayer(directions, budget: budget, throughTime: timeLoop) { direction in
          let index = layer * directions + direction
          perDirection[index] = parameterGradients(
            index: index, regions: workspace.regions(direction),
            x: x.storage.base + x.layout.offset, features: features,
            dX: needsDX ? dX.storage.base : nil)
        }
      }
      dOutput = dX
    }
    var parameters: [String: Tensor<Scalar>] = [:]
    for (name, tensor) in zip(names, perDirection.flatMap { $0 }) { parameters[name] = tensor }
    // dOutput now holds dL/dx, time-major: back to the input's layout.
    let input = inputGradient ? s.callLayout(dOutput, batchFirst: trace.batchFirst) : dOutput
    return Result(
      input: input, parameters: parameters, initialHidden: trace.hadInitialState ? dH0 : nil,
      initialCell: trace.hadInitialState && hasCell ? dC0 : nil)
  }

  /// One layer-direction backwards through time: the gate gradients of every step (and
  /// H(t−1); with a projection dh and h_full) into `regions`, the state gradients carried in
  /// `carryH`, `carryC` (dL/dh0, dL/dc0 at the end).
  ///
  /// With a `budget` of 2, two workers share the loop:
  /// - **batch slices** (``minimumSliceRows`` sequences each or more): each runs every step
  ///   for half the sequences —
  ///   their gate gradients and their rows of dh(t−1) = dG(t) · W_hh. Sequences do not meet
  ///   in the recurrence, so the workers never wait for each other; a row's arithmetic is the
  ///   1-worker loop's up to the summation order of the product's kernel for fewer rows.
  /// - **hidden units** (where the LSTM's traced forward split them,
  ///   ``RecurrentLayerTrace/splitsUnits``: one direction, no lengths, no projection): each
  ///   writes dG of its units of every gate, and after one barrier per step, when dG(t) is
  ///   whole, multiplies its columns of dh(t−1) from its panels of the packed `W_hh`.
  private func throughTime(
    index: Int, reverse: Bool, budget: Int, regions: BackwardWorkspace<Scalar>.Regions,
    dOutput: Rows<Scalar>,
    output: UnsafePointer<Scalar>, outputStride: Int, carryH: UnsafeMutablePointer<Scalar>,
    carryC: UnsafeMutablePointer<Scalar>
  ) {
    let w = trace.weights[index]
    let s = trace.shape
    let (steps, batch, hidden, hOut) = (s.steps, s.batch, g.hiddenSize, g.outputHiddenSize)
    let width = g.gateWidth
    let (dGin, dGh) = (regions.gateGradients, regions.recurrentGateGradients)
    let (hPrevious, dh, nextCarry) = (regions.previousHidden, regions.stepHidden, regions.nextCarry)
    let resetBefore = g.cell == .gru(resetAfter: false)
    if trace.lengths != nil {
      // Padded rows get no gate gradient (and no h_full): zero for the GEMMs over all rows.
      // Valid rows are written in full every step.
      dGin.update(repeating: 0, count: steps * batch * width)
      if dGh != dGin { dGh.update(repeating: 0, count: steps * batch * width) }
      if g.projected { regions.fullHidden.update(repeating: 0, count: steps * batch * hidden) }
    }
    let cellStep = CellStep(
      trace: trace, index: index, reverse: reverse, regions: regions, output: output,
      outputStride: outputStride, carryC: carryC)
    w.weightHH.withBase { wHH in
      // The rows of W_hh that multiply h(t−1) directly (all but the reset-before GRU's n rows,
      // which multiply r ⊙ h): packed once here where the packed GEMM runs them.
      let direct = resetBefore ? 2 * hidden : width
      let recurrent = ReusedOperand(
        StridedMatrix(base: wHH, rows: direct, columns: hOut, rowStride: hOut, columnStride: 1),
        rows: batch)
      let resetRows = ReusedOperand(
        StridedMatrix(
          base: wHH + 2 * hidden * hidden, rows: hidden, columns: hidden, rowStride: hidden,
          columnStride: 1),
        rows: resetBefore ? batch : 0)
      /// Every step for sequences `rows` and hidden units `units` (all of them, or a worker's
      /// share with `barrier`).
      func timeLoop(_ rows: Range<Int>, units: Range<Int>, barrier: StepBarrier?) {
        // This loop's columns of dh and h(t−1): Hout wide unsplit (a projection's), else its
        // units (a split has no projection).
        let columns = barrier == nil ? 0..<hOut : units
        let r0 = rows.lowerBound
        for k in 0..<steps {
          // Backwards in time for the forward direction, forwards for the reverse one.
          let t = reverse ? k : steps - 1 - k
          trace.gatherStep(
            t, index: index, reverse: reverse, rows: rows, columns: columns, width: hOut,
            incoming: dOutput, carry: carryH, output: output, outputStride: outputStride, dh: dh,
            previous: hPrevious)
          cellStep.run(t, rows: rows, units: units, resetRows: resetRows)
          // dh(t−1) = direct paths + dG_h(t) · W_hh ([B, G·H] · [G·H, Hout]).
          let stepGradients = StridedMatrix(
            base: UnsafePointer(dGh + (t * batch + r0) * width), rows: rows.count,
            columns: direct, rowStride: width, columnStride: 1)
          if let barrier {
            // dG(t) of both workers' units must be written before either multiplies it; each
            // then writes its own columns of the carry (no lengths: every row is valid).
            barrier.arrive()
            barrier.wait(until: 2 * (k + 1))
            recurrent.multiply(stepGradients, columns: units, into: carryH, rowStride: hidden)
          } else {
            recurrent.multiply(
              stepGradients, into: nextCarry + r0 * hOut, rowStride: hOut,
              beta: g.cell.hasDirectHiddenPath ? 1 : 0)
            // Padded rows keep their carry.
            for b in rows where trace.isValid(t, b) {
              (carryH + b * hOut).update(from: nextCarry + b * hOut, count: hOut)
            }
          }
        }
      }
      let all = 0..<hidden
      if g.cell == .lstm && trace.splitsUnits && budget >= 2 && w.packedISA != nil,
        let panel = recurrent.panelWidth
      {
        let barrier = StepBarrier()
        let (first, second) = DirectionPass<Scalar>.hiddenSplitUnits(hidden, panel: panel)
        BLAS.inheritingScope(1) {
          Workers.pair(
            { timeLoop(0..<batch, units: first, barrier: barrier) },
            helper: { timeLoop(0..<batch, units: second, barrier: barrier) })
        }
      } else if budget >= 2 && batch / 2 >= Self.minimumSliceRows {
        let half = (batch + 1) / 2
        BLAS.inheritingScope(1) {
          Workers.pair(
            { timeLoop(0..<half, units: all, barrier: nil) },
            helper: { timeLoop(half..<batch, units: all, barrier: nil) })
        }
      } else {
        timeLoop(0..<batch, units: all, barrier: nil)
      }
    }
  }

  /// One layer-direction's products over all steps and sequences, from the gate gradients
  /// `throughTime` left in `regions`: its parameter gradients in `stateDict` order; its part of
  /// dL/dx added into `dX`.
  private func parameterGradients(
    index: Int, regions: BackwardWorkspace<Scalar>.Regions, x: UnsafePointer<Scalar>,
    features: Int, dX: UnsafeMutablePointer<Scalar>?
  ) -> [Tensor<Scalar>] {
    let w = trace.weights[index]
    let rows = trace.shape.steps * trace.shape.batch
    let (hidden, hOut, width) = (g.hiddenSize, g.outputHiddenSize, g.gateWidth)
    let (dGin, dGh) = (regions.gateGradients, regions.recurrentGateGradients)
    /// Columns `columns` of a `[rows, G·H]` gradient, transposed.
    func transposed(_ p: UnsafeMutablePointer<Scalar>, _ columns: Range<Int>)
      -> StridedMatrix<Scalar>
    {
      StridedMatrix(
        base: UnsafePointer(p) + columns.lowerBound, rows: columns.count, columns: rows,
        rowStride: 1, columnStride: width)
    }
    func rowsOf(_ p: UnsafePointer<Scalar>, _ columns: Int) -> StridedMatrix<Scalar> {
      StridedMatrix(base: p, rows: rows, columns: columns, rowStride: columns, columnStride: 1)
    }
    // Written in full by GEMMs with beta 0.
    var dWih = Tensor<Scalar>.unfilled(shape: [width, features])
    var dWhh = Tensor<Scalar>.unfilled(shape: [width, hOut])
    dWih.withMutableBase { out in
      BLAS.gemm(transposed(dGin, 0..<width), rowsOf(x, features), into: out, rowStride: features)
    }
    dWhh.withMutableBase { out in
      if g.cell == .gru(resetAfter: false) {
        BLAS.gemm(
          transposed(dGh, 0..<(2 * hidden)), rowsOf(UnsafePointer(regions.previousHidden), hidden),
          into: out,
          rowStride: hidden)
        BLAS.gemm(
          transposed(dGh, (2 * hidden)..<width),
          rowsOf(UnsafePointer(trace.resetHidden[index].storage.base), hidden),
          into: out + 2 * hidden * hidden, rowStride: hidden)
      } else {
        BLAS.gemm(
          transposed(dGh, 0..<width), rowsOf(UnsafePointer(regions.previousHidden), hOut),
          into: out,
          rowStride: hOut)
      }
    }
    if let dX {
      w.weightIH.withBase { wIH in
        BLAS.gemm(
          rowsOf(UnsafePointer(dGin), width),
          StridedMatrix(
            base: wIH, rows: width, columns: features, rowStride: features, columnStride: 1),
          into: dX, rowStride: features, beta: 1)
      }
    }
    var result = [dWih, dWhh]
    if w.hasBias {
      // b_ih gets the column sums of dG_in, b_hh those of dG_h (the same for the LSTM).
      let biasIH = Self.columnSums(dGin, rows: rows, width: width)
      result += [
        biasIH, dGh == dGin ? biasIH.copied() : Self.columnSums(dGh, rows: rows, width: width),
      ]
    }
    if g.projected {
      // dW_hr = dhᵀ · h_full over all steps.
      var dWhr = Tensor<Scalar>.unfilled(shape: [hOut, hidden])
      dWhr.withMutableBase { out in
        BLAS.gemm(
          StridedMatrix(
            base: UnsafePointer(regions.projectedGradients), rows: hOut, columns: rows,
            rowStride: 1, columnStride: hOut),
          rowsOf(UnsafePointer(regions.fullHidden), hidden), into: out, rowStride: hidden)
      }
      result.append(dWhr)
    }
    return result
  }

  /// `[width]`: the sums of the columns of a `[rows, width]` matrix, row by row (each column's
  /// order fixed, so the result does not depend on anything but the data).
  private static func columnSums(_ m: UnsafeMutablePointer<Scalar>, rows: Int, width: Int)
    -> Tensor<Scalar>
  {
    var sums = Tensor<Scalar>.zeros(shape: [width])
    sums.withMutableBase { out in
      for row in 0..<rows {
        let r = m + row * width
        for j in 0..<width { out[j] += r[j] }
      }
    }
    return sums
  }
}

/// One step of a backward time loop for its cell: from dh (in the step's `stepHidden`) the gate
/// gradients of every valid row into row t of the gate-gradient regions, and what reaches
/// h(t−1) other than through `W_hh` into `nextCarry` (the GRU's z·dh and, reset before,
/// r ⊙ d(r ⊙ h)); the LSTM also carries dL/dc.
private struct CellStep<Scalar: BLASScalar, Output: Sendable> {
  let trace: RecurrentLayerTrace<Scalar, Output>
  let index: Int
  let reverse: Bool
  let regions: BackwardWorkspace<Scalar>.Regions
  /// This direction's h of every step, rows `outputStride` apart.
  let output: UnsafePointer<Scalar>
  let outputStride: Int
  /// The LSTM's carried dL/dc `[B, H]`.
  let carryC: UnsafeMutablePointer<Scalar>

  var g: RecurrentGeometry { trace.geometry }

  /// Step `t` for sequences `rows` and hidden units `units` (a worker's share: LSTM only);
  /// `resetRows` is the reset-before GRU's packed `W_hn`.
  func run(_ t: Int, rows: Range<Int>, units: Range<Int>, resetRows: ReusedOperand<Scalar>) {
    switch g.cell {
    case .lstm: lstm(t, rows: rows, units: units)
    case .gru(let resetAfter): gru(t, rows: rows, resetAfter: resetAfter, resetRows: resetRows)
    case .rnn(let nonlinearity): rnn(t, rows: rows, relu: nonlinearity == .relu)
    }
  }

  private func lstm(_ t: Int, rows: Range<Int>, units: Range<Int>) {
    let w = trace.weights[index]
    let (batch, hidden, hOut) = (trace.shape.batch, g.hiddenSize, g.outputHiddenSize)
    let (u0, n, width) = (units.lowerBound, units.count, g.gateWidth)
    let gates = UnsafePointer(trace.gates[index].storage.base)
    let cells = UnsafePointer(trace.cells[index].storage.base)
    let c0 = UnsafePointer(trace.c0.storage.base) + index * batch * hidden
    let dh = regions.stepHidden
    let neighbour = reverse ? t + 1 : t - 1
    // With a projection, dh_full = dh · W_hr ([B, Hout] · [Hout, H]); dh kept for dW_hr.
    var dhFull = UnsafePointer(dh)
    if let weightHR = w.weightHR {
      let (r0, n) = (rows.lowerBound, rows.count)
      (regions.projectedGradients + (t * batch + r0) * hOut).update(
        from: dh + r0 * hOut, count: n * hOut)
      weightHR.withBase { wHR in
        BLAS.gemm(
          StridedMatrix(
            base: UnsafePointer(dh + r0 * hOut), rows: n, columns: hOut, rowStride: hOut,
            columnStride: 1),
          StridedMatrix(base: wHR, rows: hOut, columns: hidden, rowStride: hidden, columnStride: 1),
          into: regions.stepFullHidden + r0 * hidden, rowStride: hidden)
      }
      dhFull = UnsafePointer(regions.stepFullHidden)
    }
    for b in rows where trace.isValid(t, b) {
      let row = t * batch + b
      let cellPrevious =
        trace.isFirst(t, b, reverse: reverse)
        ? c0 + b * hidden : cells + (neighbour * batch + b) * hidden
      LSTMGateGradient.apply(
        isa: w.packedISA, gates: gates + row * width + u0, cell: cells + row * hidden + u0,
        cellPrevious: cellPrevious + u0, dh: dhFull + b * hidden + u0,
        carryC: carryC + b * hidden + u0, dG: regions.gateGradients + row * width + u0,
        fullHidden: g.projected ? regions.fullHidden + row * hidden : nil, count: n,
        slot: hidden)
    }
  }

  private func gru(_ t: Int, rows: Range<Int>, resetAfter: Bool, resetRows: ReusedOperand<Scalar>) {
    let (batch, hidden, width) = (trace.shape.batch, g.hiddenSize, g.gateWidth)
    let (dGin, dGh) = (regions.gateGradients, regions.recurrentGateGradients)
    let (dh, dResetHidden) = (regions.stepHidden, regions.stepResetHidden)
    let (hPrevious, nextCarry) = (regions.previousHidden, regions.nextCarry)
    // The rows as the engine lays them out (``TraceRecord``): reset after `[r | z | n | a_n]`,
    // reset before `[r | z | n]` with r ⊙ h apart.
    let gates = UnsafePointer(trace.gates[index].storage.base)
    let gateStride = g.rowWidth
    let (extra, extraStride) =
      resetAfter
      ? (gates + 3 * hidden, gateStride)
      : (UnsafePointer(trace.resetHidden[index].storage.base), hidden)
    if !resetAfter {
      // d(r ⊙ h) = dn_pre · W_hn needs dn_pre of all rows first.
      for b in rows where trace.isValid(t, b) {
        let row = t * batch + b
        let (a, d) = (gates + row * gateStride, dh + b * hidden)
        let (gi, gh) = (dGin + row * width, dGh + row * width)
        for j in 0..<hidden {
          let (z, nv) = (a[hidden + j], a[2 * hidden + j])
          let dnPre = d[j] * (1 - z) * (1 - nv * nv)
          gi[2 * hidden + j] = dnPre
          gh[2 * hidden + j] = dnPre
        }
      }
      resetRows.multiply(
        StridedMatrix(
          base: UnsafePointer(dGh + (t * batch + rows.lowerBound) * width + 2 * hidden),
          rows: rows.count, columns: hidden, rowStride: width, columnStride: 1),
        into: dResetHidden + rows.lowerBound * hidden, rowStride: hidden)
    }
    for b in rows where trace.isValid(t, b) {
      let row = t * batch + b
      let (d, old) = (dh + b * hidden, UnsafePointer(hPrevious + row * hidden))
      let (gi, gh) = (dGin + row * width, dGh + row * width)
      let (a, e) = (gates + row * gateStride, extra + row * extraStride)
      for j in 0..<hidden {
        let (r, z, nv) = (a[j], a[hidden + j], a[2 * hidden + j])
        let dz = d[j] * (old[j] - nv)
        let dzPre = dz * z * (1 - z)
        let dnPre = d[j] * (1 - z) * (1 - nv * nv)
        // reset after: n_pre = x_n + r·hn; reset before: n_pre = x_n + W_hn (r ⊙ h).
        let dr = resetAfter ? dnPre * e[j] : dResetHidden[b * hidden + j] * old[j]
        let drPre = dr * r * (1 - r)
        (gi[j], gi[hidden + j], gi[2 * hidden + j]) = (drPre, dzPre, dnPre)
        (gh[j], gh[hidden + j]) = (drPre, dzPre)
        gh[2 * hidden + j] = resetAfter ? dnPre * r : dnPre
        // The direct paths into h(t−1): z·dh, and r ⊙ d(r ⊙ h) (reset before).
        nextCarry[b * hidden + j] =
          d[j] * z + (resetAfter ? 0 : dResetHidden[b * hidden + j] * r)
      }
    }
  }

  private func rnn(_ t: Int, rows: Range<Int>, relu: Bool) {
    let (batch, hidden) = (trace.shape.batch, g.hiddenSize)
    let (dG, dh) = (regions.gateGradients, regions.stepHidden)
    for b in rows where trace.isValid(t, b) {
      let row = t * batch + b
      let (d, h, gi) = (dh + b * hidden, output + row * outputStride, dG + row * hidden)
      for j in 0..<hidden {
        gi[j] = d[j] * (relu ? (h[j] > 0 ? 1 : 0) : 1 - h[j] * h[j])
      }
    }
  }
}
