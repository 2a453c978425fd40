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
  /// The LSTM's backward loop and arguments
  /// (``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:inputGradient:)``): one
  /// GEMM per step for the recurrent gradient (two for the reset-before GRU), the weight and
  /// input gradients one GEMM each over all steps. `lengths` as there.
  /// - Throws: ``TrainingError`` for a stale trace or a gradient of the wrong shape.
  public func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>? = nil, inputGradient: Bool = true
  ) throws -> RecurrentGradients<Scalar> {
    try _core.backward(
      trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient,
      inputGradient: inputGradient)
  }
}

extension RecurrentCore {
  /// The GRU's and RNN's backward: ``backward(_:outputGradient:hiddenGradient:cellGradient:inputGradient:shapes:)``
  /// with dL/dh0 shaped like `h_n`.
  func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>?, inputGradient: Bool
  ) throws -> RecurrentGradients<Scalar> {
    let hidden = trace.output.hidden.shape
    let result = try backward(
      trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient,
      inputGradient: inputGradient, shapes: (trace.output.output.shape, hidden, nil))
    return RecurrentGradients(
      input: result.input, initialState: result.initialHidden?.reshaped(hidden),
      parameters: result.parameters)
  }
}
