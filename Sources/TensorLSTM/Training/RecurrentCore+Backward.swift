extension RecurrentCore {
  /// Backpropagation through time for the GRU (both reset placements) and the RNN; see
  /// ``GRU/backward(_:outputGradient:hiddenGradient:)``.
  func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>?
  ) throws -> RecurrentGradients<Scalar> {
    requireTrainable("backward")
    try TrainingError.checkTrace(
      model: (geometry, weights), trace: (trace.geometry, trace.weights), name: name)
    try TrainingError.check("outputGradient", outputGradient, is: trace.output.output.shape)
    if let hiddenGradient {
      try TrainingError.check("hiddenGradient", hiddenGradient, is: trace.output.hidden.shape)
    }
    return Workers.withTrainingKernels(kernels) {
      runBackward(trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient)
    }
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  private func runBackward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>?
  ) -> RecurrentGradients<Scalar> {
    let g = geometry
    let s = trace.shape
    let (steps, batch, hidden) = (s.steps, s.batch, g.hiddenSize)
    let (layers, directions) = (g.layers, g.directions)
    let rows = layers * directions
    let width = g.gateWidth
    let outputWidth = directions * hidden
    let isGRU = g.gateCount == 3
    let resetAfter = g.cell == .gru(resetAfter: true)
    let relu = g.cell == .rnn(.relu)
    let length = { (b: Int) in trace.length(b) }
    let budget = Workers.trainingBudget(threads)
    // Read through its strides, time-major, as the LSTM's backward does; padded positions are
    // never read (and padded rows of dG stay zero, so the dX below them is zero too).
    var dOutput = s.timeMajor(outputGradient, batchFirst: trace.batchFirst)
    if dOutput.strides[2] != 1 && outputWidth > 1 { dOutput = dOutput.copied() }
    let dHn = hiddenGradient?.reshaped([rows, batch, hidden]).copied()
    let dH0 = Tensor<Scalar>.zeros(shape: [rows, batch, hidden])
    // Scratch: dG of the input side and of the recurrent side [T, B, G·H], h(t−1) [T, B, H],
    // one step's dh, d(r ⊙ h) and next carry [B, H]; a set per direction that runs at once.
    let n = steps * batch
    let workspace = BackwardWorkspace<Scalar>(
      geometry: g, steps: steps, batch: batch,
      sets: Workers.runsDirectionsAtOnce(directions, budget: budget) ? directions : 1)
    defer { workspace.deallocate() }
    var perDirection = [[Tensor<Scalar>]](repeating: [], count: rows)
    for layer in (0..<layers).reversed() {
      let x = trace.sequences[layer]
      let features = x.shape[2]
      let dX = Tensor<Scalar>.zeros(shape: [steps, batch, features])
      // The reset-before GRU's r ⊙ h(t−1) of a direction, `[T, B, H]` (dW_hn's operand).
      func resetHidden(_ index: Int) -> UnsafePointer<Scalar>? {
        isGRU && !resetAfter ? UnsafePointer(trace.resetHidden[index].storage.base) : nil
      }
      // Each direction's time loop: dG_in, dG_h and H(t−1) into its regions.
      func timeLoop(_ direction: Int) {
        let index = layer * directions + direction
        let reverse = g.isReverse(direction)
        let w = trace.weights[index]
        let regions = workspace.regions(direction)
        let (dGin, dGh) = (regions.gateGradients, regions.recurrentGateGradients)
        let hPrevious = regions.previousHidden
        let (dh, dResetHidden, nextCarry) = (
          regions.stepHidden, regions.stepResetHidden, regions.nextCarry
        )
        let output = UnsafePointer(trace.sequences[layer + 1].storage.base) + direction * hidden
        let gates = UnsafePointer(trace.gates[index].storage.base)
        // The GRU's rows as the engine lays them out (``TraceRecord``): reset after
        // `[r | z | n | a_n]`, reset before `[r | z | n]` with r ⊙ h apart.
        let gateStride = g.rowWidth
        let (extra, extraStride) =
          resetAfter
          ? (gates + 3 * hidden, gateStride)
          : (UnsafePointer(trace.resetHidden[index].storage.base), hidden)
        let carry = dH0.storage.base + index * batch * hidden
        if let dHn {
          carry.update(from: dHn.storage.base + index * batch * hidden, count: batch * hidden)
        }
        dGin.update(repeating: 0, count: n * width)
        dGh.update(repeating: 0, count: n * width)
        do {
          let incoming = Rows(
            base: dOutput.storage.base + dOutput.layout.offset + direction * hidden,
            timeStride: dOutput.strides[0], batchStride: dOutput.strides[1], features: hidden)
          w.weightHH.withBase { wHH in
            // W_hh's rows are multiplied every step: packed once here where the packed GEMM
            // runs them (the reset-before GRU's n rows separately, into r ⊙ h).
            let direct = isGRU && !resetAfter ? 2 * hidden : width
            let recurrent = ReusedOperand(
              StridedMatrix(
                base: wHH, rows: direct, columns: hidden, rowStride: hidden, columnStride: 1),
              rows: batch)
            let resetRows = ReusedOperand(
              StridedMatrix(
                base: wHH + 2 * hidden * hidden, rows: hidden, columns: hidden,
                rowStride: hidden, columnStride: 1),
              rows: isGRU && !resetAfter ? batch : 0)
            for k in 0..<steps {
              let t = reverse ? k : steps - 1 - k
              trace.gatherStep(
                t, index: index, reverse: reverse, columns: 0..<hidden, width: hidden,
                incoming: incoming, carry: carry, output: output, outputStride: outputWidth,
                dh: dh, previous: hPrevious)
              if isGRU && !resetAfter {
                // d(r ⊙ h) = dn_pre · W_hn needs dn_pre of all rows first.
                for b in 0..<batch where t < length(b) {
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
                    base: UnsafePointer(dGh + t * batch * width + 2 * hidden), rows: batch,
                    columns: hidden, rowStride: width, columnStride: 1),
                  into: dResetHidden, rowStride: hidden)
              }
              for b in 0..<batch where t < length(b) {
                let row = t * batch + b
                let (d, old) = (dh + b * hidden, UnsafePointer(hPrevious + row * hidden))
                let (gi, gh) = (dGin + row * width, dGh + row * width)
                if isGRU {
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
                } else {
                  let h = output + row * outputWidth
                  for j in 0..<hidden {
                    let derivative = relu ? (h[j] > 0 ? 1 : 0) : 1 - h[j] * h[j]
                    gi[j] = d[j] * derivative
                    gh[j] = gi[j]
                    nextCarry[b * hidden + j] = 0
                  }
                }
              }
              // carry = direct paths + dG_h · W_hh over the gates h multiplies directly.
              recurrent.multiply(
                StridedMatrix(
                  base: UnsafePointer(dGh + t * batch * width), rows: batch, columns: direct,
                  rowStride: width, columnStride: 1),
                into: nextCarry, rowStride: hidden, beta: 1)
              for b in 0..<batch where t < length(b) {
                (carry + b * hidden).update(from: nextCarry + b * hidden, count: hidden)
              }
            }
          }
        }
      }
      withExtendedLifetime((dOutput, dX, dHn, dH0, trace)) {
        Workers.backwardLayer(directions, budget: budget, throughTime: timeLoop) { direction in
          let index = layer * directions + direction
          let regions = workspace.regions(direction)
          perDirection[index] = parameterGradients(
            trace.weights[index], x: x, features: features, dGin: regions.gateGradients,
            dGh: regions.recurrentGateGradients, hPrevious: regions.previousHidden,
            resetHidden: resetHidden(index), dX: dX.storage.base)
        }
      }
      dOutput = dX
    }
    var parameters: [String: Tensor<Scalar>] = [:]
    for (entry, tensor) in zip(parameterShapes, perDirection.flatMap { $0 }) {
      parameters[entry.name] = tensor
    }
    let input = s.callLayout(dOutput, batchFirst: trace.batchFirst)
    return RecurrentGradients(
      input: input,
      initialState: trace.hadInitialState ? dH0.reshaped(trace.output.hidden.shape) : nil,
      parameters: parameters)
  }

  /// dW_ih = dG_inᵀ·X, dW_hh = dG_hᵀ·H(t−1) (the reset-before GRU's n rows: dG_nᵀ·(r ⊙ h)),
  /// the biases' column sums, and dX += dG_in·W_ih — one GEMM each over all steps.
  private func parameterGradients(
    _ w: DirectionWeights<Scalar>, x: Tensor<Scalar>, features: Int,
    dGin: UnsafeMutablePointer<Scalar>, dGh: UnsafeMutablePointer<Scalar>,
    hPrevious: UnsafeMutablePointer<Scalar>, resetHidden: UnsafePointer<Scalar>?,
    dX: UnsafeMutablePointer<Scalar>
  ) -> [Tensor<Scalar>] {
    let (steps, batch) = (x.shape[0], x.shape[1])
    let (hidden, width) = (geometry.hiddenSize, geometry.gateWidth)
    let n = steps * batch
    func transposed(_ p: UnsafeMutablePointer<Scalar>, columns: Range<Int>) -> StridedMatrix<Scalar>
    {
      StridedMatrix(
        base: UnsafePointer(p) + columns.lowerBound, rows: columns.count, columns: n, rowStride: 1,
        columnStride: width)
    }
    func rowsOf(_ p: UnsafePointer<Scalar>, _ columns: Int) -> StridedMatrix<Scalar> {
      StridedMatrix(base: p, rows: n, columns: columns, rowStride: columns, columnStride: 1)
    }
    var dWih = Tensor<Scalar>.zeros(shape: [width, features])
    var dWhh = Tensor<Scalar>.zeros(shape: [width, hidden])
    dWih.withMutableBase { out in
      BLAS.gemm(
        transposed(dGin, columns: 0..<width), rowsOf(x.storage.base + x.layout.offset, features),
        into: out, rowStride: features)
    }
    dWhh.withMutableBase { out in
      if let resetHidden {
        BLAS.gemm(
          transposed(dGh, columns: 0..<(2 * hidden)), rowsOf(hPrevious, hidden), into: out,
          rowStride: hidden)
        BLAS.gemm(
          transposed(dGh, columns: (2 * hidden)..<width), rowsOf(resetHidden, hidden),
          into: out + 2 * hidden * hidden, rowStride: hidden)
      } else {
        BLAS.gemm(
          transposed(dGh, columns: 0..<width), rowsOf(hPrevious, hidden), into: out,
          rowStride: hidden)
      }
    }
    w.weightIH.withBase { wIH in
      BLAS.gemm(
        rowsOf(dGin, width),
        StridedMatrix(
          base: wIH, rows: width, columns: features, rowStride: features, columnStride: 1),
        into: dX, rowStride: features, beta: 1)
    }
    var result = [dWih, dWhh]
    if bias {
      var (sumIn, sumH) = (
        [Scalar](repeating: 0, count: width), [Scalar](repeating: 0, count: width)
      )
      for row in 0..<n {
        for j in 0..<width {
          sumIn[j] += dGin[row * width + j]
          sumH[j] += dGh[row * width + j]
        }
      }
      result += [Tensor(shape: [width], scalars: sumIn), Tensor(shape: [width], scalars: sumH)]
    }
    return result
  }
}

extension GRU {
  /// Runs the forward and keeps what the backward needs (``RecurrentTrace``); same arguments,
  /// shapes and errors as a call. The reset-after GRU without `lengths` runs the fused trace
  /// step (the plain forward's arithmetic), the others the GEMM path with Swift cell passes;
  /// a bidirectional layer's directions run at once when ``threads`` allows 2. Allocates the
  /// trace once, nothing per step.
  public func forwardWithTrace(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> RecurrentTrace<Scalar> {
    if dropsOut { throw droppedTraceError }
    return try _core.forwardWithTrace(input, h0: initialState, lengths: lengths)
  }

  /// Backpropagation through time, both reset placements: the gradients of a loss with
  /// gradient `outputGradient` on `output` (and `hiddenGradient` on `h_n`).
  ///
  ///     let trace = try gru.forwardWithTrace(x, lengths: lengths)
  ///     let g = try gru.backward(trace, outputGradient: dY)   // g.input, g.initialState, g.parameters
  ///
  /// The structure of ``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:)``: one
  /// GEMM per step for the recurrent gradient (two for the reset-before GRU), the weight and
  /// input gradients one GEMM each over all steps. `lengths` as there.
  /// - Throws: ``TrainingError`` for a stale trace or a gradient of the wrong shape.
  public func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>? = nil
  ) throws -> RecurrentGradients<Scalar> {
    try _core.backward(trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient)
  }
}

extension RNN {
  /// Runs the forward and keeps what the backward needs; see ``GRU/forwardWithTrace(_:initialState:lengths:)``.
  public func forwardWithTrace(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> RecurrentTrace<Scalar> {
    if dropsOut { throw droppedTraceError }
    return try _core.forwardWithTrace(input, h0: initialState, lengths: lengths)
  }

  /// Backpropagation through time; see ``GRU/backward(_:outputGradient:hiddenGradient:)``.
  public func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>? = nil
  ) throws -> RecurrentGradients<Scalar> {
    try _core.backward(trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient)
  }
}
