extension LSTM {
  /// Backpropagation through time: the gradients of a loss whose gradient with respect to the
  /// forward's `output` is `outputGradient` (and, optionally, with respect to `hidden` and
  /// `cell`: `h_n`, `c_n`).
  ///
  ///     let trace = try lstm.forwardWithTrace(x, lengths: lengths)
  ///     var dY = Tensor<Float>.zeros(shape: trace.output.output.shape)
  ///     dY[.all, -1, .all] = headGradient          // the article's last-step head
  ///     let g = try lstm.backward(trace, outputGradient: dY)
  ///
  /// Layouts are the forward's: `outputGradient` like `output`, `hiddenGradient` like `hidden`
  /// `[D·L, B, Hout]`, `cellGradient` like `cell`. With `lengths`, output past a length is a
  /// constant zero, so its incoming gradient is ignored, and the state gradients enter at each
  /// sequence's own last step.
  ///
  /// Per layer and direction: the gate derivatives of all steps in one fused pass per step, one
  /// GEMM per step for `dh(t−1) = dG(t)·W_hh` (the only per-step product), then `dW_ih = dGᵀ·X`,
  /// `dW_hh = dGᵀ·H(t−1)` and `dX = dG·W_ih` each one GEMM over all steps and sequences.
  /// A bidirectional layer's two time loops run at once when ``threads`` allows 2 (each on
  /// its own ``BackwardWorkspace`` regions); the products over all steps use the whole budget.
  /// Allocates its buffers once; nothing per step. With `inputGradient: false` the first
  /// layer's `dX = dG·W_ih` is skipped (PyTorch skips it when the input does not require a
  /// gradient, e.g. one-hot characters) and `input` is empty.
  /// - Throws: ``TrainingError/staleTrace(_:)`` when the model's weights changed since the
  ///   trace was made; ``TrainingError/shapeMismatch(name:expected:actual:)`` for a gradient of
  ///   the wrong shape. Nothing is computed then.
  public func backward(
    _ trace: LSTMTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>? = nil, cellGradient: Tensor<Scalar>? = nil,
    inputGradient: Bool = true
  ) throws -> LSTMGradients<Scalar> {
    _core.requireTrainable("backward")
    try TrainingError.checkTrace(
      model: (geometry, _core.weights), trace: (trace.geometry, trace.weights), name: "LSTM")
    try TrainingError.check("outputGradient", outputGradient, is: trace.output.output.shape)
    if let hiddenGradient {
      try TrainingError.check("hiddenGradient", hiddenGradient, is: trace.output.hidden.shape)
    }
    if let cellGradient {
      try TrainingError.check("cellGradient", cellGradient, is: trace.output.cell.shape)
    }
    let pass = LSTMBackward(
      trace: trace, names: parameterShapes.map(\.name), inputGradient: inputGradient,
      budget: Workers.trainingBudget(threads))
    return Workers.withTrainingKernels(kernels) {
      pass.run(
        outputGradient: outputGradient, hiddenGradient: hiddenGradient, cellGradient: cellGradient)
    }
  }
}

/// The backward's loops and GEMMs over one trace.
private struct LSTMBackward<Scalar: BLASScalar> {
  let trace: LSTMTrace<Scalar>
  /// Parameter names in `stateDict` order.
  let names: [String]
  /// Whether dL/dx of the first layer's input is computed.
  let inputGradient: Bool
  /// The thread budget (``Workers/trainingBudget(_:)``): a bidirectional layer's two time loops
  /// run at once when it is 2 or more.
  let budget: Int

  var g: RecurrentGeometry { trace.geometry }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func run(
    outputGradient: Tensor<Scalar>, hiddenGradient: Tensor<Scalar>?,
    cellGradient: Tensor<Scalar>?
  ) -> LSTMGradients<Scalar> {
    let s = trace.shape
    let (steps, batch, hidden, hOut) = (s.steps, s.batch, g.hiddenSize, g.outputHiddenSize)
    let (layers, directions) = (g.layers, g.directions)
    let rows = layers * directions
    let width = directions * hOut
    // dL/d(layer output), time-major [T, B, D·Hout].
    // Read through its strides, time-major (a batch-first gradient is not copied); copied only
    // when its features are not adjacent. Padded positions are never read.
    var dOutput = s.timeMajor(outputGradient, batchFirst: trace.batchFirst)
    if dOutput.strides[2] != 1 && width > 1 { dOutput = dOutput.copied() }
    let dHn = hiddenGradient?.reshaped([rows, batch, hOut]).copied()
    let dCn = cellGradient?.reshaped([rows, batch, hidden]).copied()
    let dH0 = Tensor<Scalar>.zeros(shape: [rows, batch, hOut])
    let dC0 = Tensor<Scalar>.zeros(shape: [rows, batch, hidden])
    var gradients: [Tensor<Scalar>] = []
    // Scratch, allocated once: dG, H(t−1), dh and h_full of all steps, the carries; one set
    // per direction that runs at once.
    let workspace = BackwardWorkspace<Scalar>(
      geometry: g, steps: steps, batch: batch,
      sets: Workers.runsDirectionsAtOnce(directions, budget: budget) ? directions : 1)
    defer { workspace.deallocate() }
    var perDirection = [[Tensor<Scalar>]](repeating: [], count: rows)
    for layer in (0..<layers).reversed() {
      let x = trace.sequences[layer]
      let features = x.shape[2]
      let needsDX = layer > 0 || inputGradient
      let dX = Tensor<Scalar>.zeros(shape: needsDX ? [steps, batch, features] : [0])
      withExtendedLifetime((dOutput, dX, dH0, dC0, dHn, dCn, x)) {
        func timeLoop(_ direction: Int) {
          let index = layer * directions + direction
          let carryH = dH0.storage.base + index * batch * hOut
          let carryC = dC0.storage.base + index * batch * hidden
          if let dHn {
            carryH.update(from: dHn.storage.base + index * batch * hOut, count: batch * hOut)
          }
          if let dCn {
            carryC.update(from: dCn.storage.base + index * batch * hidden, count: batch * hidden)
          }
          throughTime(
            trace.weights[index], index: index, reverse: g.isReverse(direction),
            regions: workspace.regions(direction),
            dOutput: Rows(
              base: dOutput.storage.base + dOutput.layout.offset + direction * hOut,
              timeStride: dOutput.strides[0], batchStride: dOutput.strides[1], features: hOut),
            outputStride: width, output: trace.sequences[layer + 1].storage.base + direction * hOut,
            carryH: carryH, carryC: carryC)
        }
        Workers.backwardLayer(directions, budget: budget, throughTime: timeLoop) { direction in
          let index = layer * directions + direction
          perDirection[index] = parameterGradients(
            trace.weights[index], regions: workspace.regions(direction),
            x: x.storage.base + x.layout.offset, features: features,
            dX: needsDX ? dX.storage.base : nil)
        }
      }
      dOutput = dX
    }
    for index in 0..<rows { gradients += perDirection[index] }
    var parameters: [String: Tensor<Scalar>] = [:]
    for (name, tensor) in zip(names, gradients) { parameters[name] = tensor }
    // dOutput now holds dL/dx, time-major: back to the input's layout.
    let input = inputGradient ? s.callLayout(dOutput, batchFirst: trace.batchFirst) : dOutput
    let state =
      trace.hadInitialState
      ? LSTMState(
        hidden: dH0.reshaped(trace.output.hidden.shape), cell: dC0.reshaped(trace.output.cell.shape)
      )
      : nil
    return LSTMGradients(input: input, initialState: state, parameters: parameters)
  }

  /// One layer-direction backwards through time: dG of every step (and H(t−1), with a
  /// projection dh and h_full) into `regions`, the state gradients carried in `carryH`,
  /// `carryC` (dL/dh0, dL/dc0 at the end).
  ///
  /// Where the traced forward split the hidden units (``LSTMTrace/splitsUnits``: one
  /// direction, no lengths, no projection), so does this loop: each of two workers writes dG
  /// of its units of every gate, and after one barrier per step, when dG(t) is whole,
  /// multiplies its columns of dh(t−1) = dG(t) · W_hh from its panels of the packed `W_hh`.
  private func throughTime(
    _ w: DirectionWeights<Scalar>, index: Int, reverse: Bool,
    regions: BackwardWorkspace<Scalar>.Regions, dOutput: Rows<Scalar>, outputStride: Int,
    output: UnsafePointer<Scalar>, carryH: UnsafeMutablePointer<Scalar>,
    carryC: UnsafeMutablePointer<Scalar>
  ) {
    let s = trace.shape
    let (steps, batch, hidden, hOut) = (s.steps, s.batch, g.hiddenSize, g.outputHiddenSize)
    let width = 4 * hidden
    let (dG, hPrevious, dh) = (regions.gateGradients, regions.previousHidden, regions.stepHidden)
    let gates = UnsafePointer(trace.gates[index].storage.base)
    let cells = UnsafePointer(trace.cells[index].storage.base)
    let c0 = UnsafePointer(trace.c0.storage.base) + index * batch * hidden
    if trace.lengths != nil {
      // Padded rows get no gate gradient (and no h_full): zero for the GEMMs over all rows.
      dG.update(repeating: 0, count: steps * batch * width)
      if g.projected { regions.fullHidden.update(repeating: 0, count: steps * batch * hidden) }
    }
    w.weightHH.withBase { wHH in
      // W_hh is multiplied every step: packed once here where the packed GEMM runs it.
      let recurrent = ReusedOperand(
        StridedMatrix(base: wHH, rows: width, columns: hOut, rowStride: hOut, columnStride: 1),
        rows: batch)
      /// Every step for hidden units `units` (all of them, or a worker's share with `barrier`).
      func timeLoop(_ units: Range<Int>, barrier: StepBarrier?) {
        let (u0, n) = (units.lowerBound, units.count)
        // This loop's columns of dh and h(t−1): Hout wide unsplit (a projection's), else its
        // units (a split has no projection).
        let (o0, on) = barrier == nil ? (0, hOut) : (u0, n)
        for k in 0..<steps {
          // Backwards in time for the forward direction, forwards for the reverse one.
          let t = reverse ? k : steps - 1 - k
          let neighbour = reverse ? t + 1 : t - 1
          trace.gatherStep(
            t, index: index, reverse: reverse, columns: o0..<(o0 + on), width: hOut,
            incoming: dOutput, carry: carryH, output: output, outputStride: outputStride, dh: dh,
            previous: hPrevious)
          // With a projection, dh_full = dh · W_hr ([B, Hout] · [Hout, H]); dh kept for dW_hr.
          var dhFull = UnsafePointer(dh)
          if let weightHR = w.weightHR {
            (regions.projectedGradients + t * batch * hOut).update(from: dh, count: batch * hOut)
            weightHR.withBase { wHR in
              BLAS.gemm(
                StridedMatrix(
                  base: UnsafePointer(dh), rows: batch, columns: hOut, rowStride: hOut,
                  columnStride: 1),
                StridedMatrix(
                  base: wHR, rows: hOut, columns: hidden, rowStride: hidden, columnStride: 1),
                into: regions.stepFullHidden, rowStride: hidden)
            }
            dhFull = UnsafePointer(regions.stepFullHidden)
          }
          for b in 0..<batch where trace.isValid(t, b) {
            let row = t * batch + b
            let cellPrevious =
              trace.isFirst(t, b, reverse: reverse)
              ? c0 + b * hidden : cells + (neighbour * batch + b) * hidden
            LSTMGateGradient.apply(
              isa: w.packedISA, gates: gates + row * width + u0, cell: cells + row * hidden + u0,
              cellPrevious: cellPrevious + u0, dh: dhFull + b * hidden + u0,
              carryC: carryC + b * hidden + u0, dG: dG + row * width + u0,
              fullHidden: g.projected ? regions.fullHidden + row * hidden : nil, count: n,
              slot: hidden)
          }
          // dh(t−1) = dG(t) · W_hh ([B, 4H] · [4H, Hout]).
          let stepGradients = StridedMatrix(
            base: UnsafePointer(dG + t * batch * width), rows: batch, columns: width,
            rowStride: width, columnStride: 1)
          if let barrier {
            // dG(t) of both workers' units must be written before either multiplies it; each
            // then writes its own columns of the carry (no lengths: every row is valid).
            barrier.arrive()
            barrier.wait(until: 2 * (k + 1))
            recurrent.multiply(stepGradients, columns: units, into: carryH, rowStride: hidden)
          } else {
            // Padded rows keep their carry.
            recurrent.multiply(stepGradients, into: regions.nextCarry, rowStride: hOut)
            for b in 0..<batch where trace.isValid(t, b) {
              (carryH + b * hOut).update(from: regions.nextCarry + b * hOut, count: hOut)
            }
          }
        }
      }
      if trace.splitsUnits && budget >= 2 && w.packedISA != nil, let panel = recurrent.panelWidth {
        let barrier = StepBarrier()
        let (first, second) = DirectionPass<Scalar>.hiddenSplitUnits(hidden, panel: panel)
        BLAS.inheritingScope(1) {
          Workers.pair(
            { timeLoop(first, barrier: barrier) }, helper: { timeLoop(second, barrier: barrier) })
        }
      } else {
        timeLoop(0..<hidden, barrier: nil)
      }
    }
  }

  /// One layer-direction's products over all steps and sequences, from the dG `throughTime`
  /// left in `regions`: its parameter gradients in `stateDict` order; its part of dL/dx added
  /// into `dX`.
  private func parameterGradients(
    _ w: DirectionWeights<Scalar>, regions: BackwardWorkspace<Scalar>.Regions,
    x: UnsafePointer<Scalar>, features: Int, dX: UnsafeMutablePointer<Scalar>?
  ) -> [Tensor<Scalar>] {
    let (steps, batch) = (trace.shape.steps, trace.shape.batch)
    let (hidden, hOut) = (g.hiddenSize, g.outputHiddenSize)
    let width = 4 * hidden
    let (dG, hPrevious) = (regions.gateGradients, regions.previousHidden)
    // Over all steps and sequences at once: dW_ih = dGᵀ·X, dW_hh = dGᵀ·H(t−1), dX += dG·W_ih.
    let rows = steps * batch
    let gradientsT = StridedMatrix(
      base: UnsafePointer(dG), rows: width, columns: rows, rowStride: 1, columnStride: width)
    // Written in full by GEMMs with beta 0.
    var dWih = Tensor<Scalar>.unfilled(shape: [width, features])
    var dWhh = Tensor<Scalar>.unfilled(shape: [width, hOut])
    dWih.withMutableBase { out in
      BLAS.gemm(
        gradientsT,
        StridedMatrix(base: x, rows: rows, columns: features, rowStride: features, columnStride: 1),
        into: out, rowStride: features)
    }
    dWhh.withMutableBase { out in
      BLAS.gemm(
        gradientsT,
        StridedMatrix(
          base: UnsafePointer(hPrevious), rows: rows, columns: hOut, rowStride: hOut,
          columnStride: 1),
        into: out, rowStride: hOut)
    }
    if let dX {
      w.weightIH.withBase { wIH in
        BLAS.gemm(
          StridedMatrix(
            base: UnsafePointer(dG), rows: rows, columns: width, rowStride: width, columnStride: 1),
          StridedMatrix(
            base: wIH, rows: width, columns: features, rowStride: features, columnStride: 1),
          into: dX, rowStride: features, beta: 1)
      }
    }
    var result = [dWih, dWhh]
    if w.hasBias {
      // Both biases get the column sums of dG.
      var sums = [Scalar](repeating: 0, count: width)
      for row in 0..<rows {
        let r = dG + row * width
        for j in 0..<width { sums[j] += r[j] }
      }
      let bias = Tensor(shape: [width], scalars: sums)
      result += [bias, bias.copied()]
    }
    if g.projected {
      // dW_hr = dhᵀ · h_full over all steps.
      var dWhr = Tensor<Scalar>.unfilled(shape: [hOut, hidden])
      dWhr.withMutableBase { out in
        BLAS.gemm(
          StridedMatrix(
            base: UnsafePointer(regions.projectedGradients), rows: hOut, columns: rows,
            rowStride: 1, columnStride: hOut),
          StridedMatrix(
            base: UnsafePointer(regions.fullHidden), rows: rows, columns: hidden,
            rowStride: hidden, columnStride: 1),
          into: out, rowStride: hidden)
      }
      result.append(dWhr)
    }
    return result
  }
}

/// The LSTM cell's backward for one row, fused: from dh (of h_full) and the carried dc, the
/// pre-activation gradients of i, f, g, o into `dG`, the new carried dc, and h_full when asked.
/// `count` units whose gate slots (in `gates` and `dG`) are `slot` apart: `count` for a whole
/// row, H for a worker's share. The vector kernel of `isa` when given, else the Swift loop.
enum LSTMGateGradient {
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func apply<Scalar: BLASScalar>(
    isa: VectorISA?, gates: UnsafePointer<Scalar>, cell: UnsafePointer<Scalar>,
    cellPrevious: UnsafePointer<Scalar>,
    dh: UnsafePointer<Scalar>, carryC: UnsafeMutablePointer<Scalar>,
    dG: UnsafeMutablePointer<Scalar>, fullHidden: UnsafeMutablePointer<Scalar>?, count: Int,
    slot: Int? = nil
  ) {
    let slot = slot ?? count
    if let isa {
      FusedStep.lstmGateGradient(
        isa: isa, gates: gates, cell: cell, cellPrevious: cellPrevious, dh: dh, carryC: carryC,
        dG: dG, fullHidden: fullHidden, count: count, slot: slot)
      return
    }
    for j in 0..<count {
      let (i, f) = (gates[j], gates[slot + j])
      let (g, o) = (gates[2 * slot + j], gates[3 * slot + j])
      let tanhC = Activations.tanh(cell[j])
      let dc = carryC[j] + dh[j] * o * (1 - tanhC * tanhC)
      dG[j] = dc * g * i * (1 - i)
      dG[slot + j] = dc * cellPrevious[j] * f * (1 - f)
      dG[2 * slot + j] = dc * i * (1 - g * g)
      dG[3 * slot + j] = dh[j] * tanhC * o * (1 - o)
      carryC[j] = dc * f
      fullHidden?[j] = o * tanhC
    }
  }
}
