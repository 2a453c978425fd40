/// The existing layers on the one ``Layer`` protocol: their richer calls (initial state,
/// `lastStep`, hidden-state gradients) stay beside it; through the protocol a recurrent layer
/// maps its input to its `output` sequence.
extension LSTM: Layer {
  /// `self(x, lengths:).output`.
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    try self(input, lengths: lengths).output
  }

  /// The recurrent trace; the layer's output is its `output` sequence. Disfavoured, so that
  /// `lstm.forwardWithTrace(x, lengths:)` keeps returning the richer ``LSTMTrace``.
  @_disfavoredOverload
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    if dropsOut { return try droppedForwardWithTrace(input, lengths: lengths) }
    let trace = try forwardWithTrace(input, initialState: nil, lengths: lengths)
    return LayerTrace(input: input, output: trace.output.output, lengths: lengths, record: trace)
  }

  /// Backpropagation through time with no gradient on the final state.
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    if let stack = trace.record as? DropoutStackRecord<Scalar> {
      return try droppedBackward(
        stack, outputGradient: outputGradient, inputGradient: inputGradient)
    }
    let g = try backward(
      trace.record(as: LSTMTrace<Scalar>.self, layer: "LSTM"), outputGradient: outputGradient,
      inputGradient: inputGradient)
    return LayerGradients(input: g.input, parameters: g.parameters)
  }
}

/// The GRU and RNN share their trace type: one conformance body for both.
protocol TracedRecurrentLayer<Scalar>: CoreBackedLayer {
  func callAsFunction(_ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentOutput<Scalar>
  func forwardWithTrace(_ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentTrace<Scalar>
  func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>?
  ) throws -> RecurrentGradients<Scalar>
}

extension TracedRecurrentLayer {
  /// The inference forward; see ``Layer``.
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    try self(input, initialState: nil, lengths: lengths).output
  }

  /// The traced forward (disfavoured beside the layer's richer one).
  @_disfavoredOverload
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    if dropsOut { return try droppedForwardWithTrace(input, lengths: lengths) }
    let trace = try forwardWithTrace(input, initialState: nil, lengths: lengths)
    return LayerTrace(input: input, output: trace.output.output, lengths: lengths, record: trace)
  }

  /// The backward; see ``Layer``.
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    if let stack = trace.record as? DropoutStackRecord<Scalar> {
      return try droppedBackward(
        stack, outputGradient: outputGradient, inputGradient: inputGradient)
    }
    let g = try backward(
      trace.record(as: RecurrentTrace<Scalar>.self, layer: "\(Self.self)"),
      outputGradient: outputGradient, hiddenGradient: nil)
    return LayerGradients(input: g.input, parameters: g.parameters)
  }
}

extension GRU: Layer, TracedRecurrentLayer {}
extension RNN: Layer, TracedRecurrentLayer {}

/// Linear and Conv1d: the backward needs only the input.
protocol InputTracedLayer<Scalar>: StateDictLayer {
  func callAsFunction(_ x: Tensor<Scalar>) throws -> Tensor<Scalar>
  func backward(input x: Tensor<Scalar>, outputGradient dY: Tensor<Scalar>) throws
    -> LayerGradients<Scalar>
}

extension InputTracedLayer {
  /// The inference forward; see ``Layer``.
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    try self(input)
  }

  /// The traced forward; see ``Layer``.
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    LayerTrace(input: input, output: try self(input), lengths: lengths)
  }

  /// The backward; see ``Layer``.
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    try backward(input: trace.input, outputGradient: outputGradient)
  }
}

extension Linear: Layer, InputTracedLayer {}
extension Conv1d: Layer, InputTracedLayer {}
