extension LSTM {
  /// Runs the forward and keeps what the backward needs (``LSTMTrace``); the result equals a
  /// plain call's within rounding.
  ///
  ///     let trace = try lstm.forwardWithTrace(x, initialState: state, lengths: lengths)
  ///     let g = try lstm.backward(trace, outputGradient: dY)
  ///
  /// Same arguments, shapes and errors as ``callAsFunction(_:initialState:lengths:)``, and the
  /// same time loop: the forward's ``DirectionPass`` recording the activated gates and c of
  /// every step (one input GEMM per layer-direction over all steps, then the fused trace step
  /// where the forward's fused step runs, else the recurrent GEMM and a gate pass that keeps the
  /// activations). One direction splits its hidden units between two workers where the
  /// forward's plan does; a bidirectional layer's directions run at once when ``threads``
  /// allows 2. Allocates the trace once, nothing per step.
  public func forwardWithTrace(
    _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> LSTMTrace<Scalar> {
    _core.requireTrainable("forwardWithTrace")
    let s = try ForwardShape(self, input: input, initialState: initialState, lengths: lengths)
    if dropsOut { throw droppedTraceError }
    let traced = Workers.withTrainingKernels(kernels) {
      engine.runTraced(
        s, input: input, h0: initialState?.hidden, c0: initialState?.cell, lengths: lengths)
    }
    let result = traced.result
    let output = LSTMOutput(
      output: result.output, hidden: result.hidden, cell: result.cell!, lastStep: result.lastStep)
    return LSTMTrace(
      output: output, recorded: traced, weights: _core.weights, geometry: geometry,
      batchFirst: batchFirst, shape: s, lengths: lengths, hadInitialState: initialState != nil)
  }
}
