/// The existing layers on the one ``Layer`` protocol: their richer calls (initial state,
/// `lastStep`, hidden-state gradients) stay beside it; through the protocol a recurrent layer
/// maps its input to its `output` sequence.
///
/// The recurrent layers differ only in their trace type; what the protocol calls do with it
/// (dropout between layers, the record, the stale-trace check) is written once, here.
protocol TracedRecurrentLayer<Scalar>: CoreBackedLayer {
  associatedtype RecordedTrace: Sendable
  /// The layer's own traced forward without initial state, and its output sequence.
  func recorded(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> (
    trace: RecordedTrace, output: Tensor<Scalar>
  )
  /// The layer's own backward with no gradient on the final state.
  func backward(_ trace: RecordedTrace, outputGradient: Tensor<Scalar>, inputGradient: Bool)
    throws -> LayerGradients<Scalar>
}

extension TracedRecurrentLayer {
  /// The traced forward (disfavoured, so that `lstm.forwardWithTrace(x, lengths:)` keeps
  /// returning the layer's richer trace).
  @_disfavoredOverload
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    if dropsOut { return try droppedForwardWithTrace(input, lengths: lengths) }
    let (trace, output) = try recorded(input, lengths: lengths)
    return LayerTrace(input: input, output: output, lengths: lengths, record: trace)
  }

  /// Backpropagation through time with no gradient on the final state.
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    if let stack = trace.record as? DropoutStackRecord<Scalar> {
      return try droppedBackward(
        stack, outputGradient: outputGradient, inputGradient: inputGradient)
    }
    return try backward(
      trace.record(as: RecordedTrace.self, layer: _core.name), outputGradient: outputGradient,
      inputGradient: inputGradient)
  }
}

extension LSTM: Layer, TracedRecurrentLayer {
  /// `self(x, lengths:).output`.
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    try self(input, lengths: lengths).output
  }

  func recorded(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> (
    trace: LSTMTrace<Scalar>, output: Tensor<Scalar>
  ) {
    let trace = try forwardWithTrace(input, initialState: nil, lengths: lengths)
    return (trace, trace.output.output)
  }

  func backward(_ trace: LSTMTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool)
    throws -> LayerGradients<Scalar>
  {
    let g = try backward(
      trace, outputGradient: outputGradient, hiddenGradient: nil, cellGradient: nil,
      inputGradient: inputGradient)
    return LayerGradients(input: g.input, parameters: g.parameters)
  }
}

/// The GRU and RNN share their calls and trace type: one body for both.
protocol HiddenStateLayer<Scalar>: TracedRecurrentLayer
where RecordedTrace == RecurrentTrace<Scalar> {
  func callAsFunction(_ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentOutput<Scalar>
  func forwardWithTrace(_ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentTrace<Scalar>
  func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>,
    hiddenGradient: Tensor<Scalar>?, inputGradient: Bool
  ) throws -> RecurrentGradients<Scalar>
}

extension HiddenStateLayer {
  /// The inference forward; see ``Layer``.
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    try self(input, initialState: nil, lengths: lengths).output
  }

  func recorded(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> (
    trace: RecurrentTrace<Scalar>, output: Tensor<Scalar>
  ) {
    let trace = try forwardWithTrace(input, initialState: nil, lengths: lengths)
    return (trace, trace.output.output)
  }

  func backward(
    _ trace: RecurrentTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    let g = try backward(
      trace, outputGradient: outputGradient, hiddenGradient: nil, inputGradient: inputGradient)
    return LayerGradients(input: g.input, parameters: g.parameters)
  }
}

extension GRU: Layer, HiddenStateLayer {}
extension RNN: Layer, HiddenStateLayer {}

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
