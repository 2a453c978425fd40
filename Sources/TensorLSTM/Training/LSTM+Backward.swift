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
    let result = try _core.backward(
      trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient,
      cellGradient: cellGradient, inputGradient: inputGradient,
      shapes: (trace.output.output.shape, trace.output.hidden.shape, trace.output.cell.shape))
    let state = result.initialHidden.map { hidden in
      LSTMState(
        hidden: hidden.reshaped(trace.output.hidden.shape),
        cell: result.initialCell!.reshaped(trace.output.cell.shape))
    }
    return LSTMGradients(input: result.input, initialState: state, parameters: result.parameters)
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
