extension RNN {
  /// Runs the forward and keeps what the backward needs; see ``GRU/forwardWithTrace(_:initialState:lengths:)``.
  public func forwardWithTrace(
    _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> RecurrentTrace<Scalar> {
    if dropsOut { throw droppedTraceError }
    return try _core.forwardWithTrace(input, h0: initialState, lengths: lengths)
  }

  /// Backpropagation through time; see ``GRU/backward(_:outputGradient:hiddenGradient:inputGradient:)``.
  public func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>? = nil, inputGradient: Bool = true
  ) throws -> RecurrentGradients<Scalar> {
    try _core.backward(
      trace, outputGradient: outputGradient, hiddenGradient: hiddenGradient,
      inputGradient: inputGradient)
  }
}
