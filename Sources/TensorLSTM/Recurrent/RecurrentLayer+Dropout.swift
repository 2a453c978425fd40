/// Dropout between stacked recurrent layers (PyTorch's `dropout` argument): in training mode,
/// a model of L layers runs as L one-layer models on the same weights (``RecurrentCore/layer(_:)``:
/// no copy, no repacking), each on the engine, with a fresh mask on every output but the last.
/// The traced forward keeps each layer's trace and mask; the backward runs the layers in
/// reverse, multiplying the gradient by the same masks.
protocol CoreBackedLayer<Scalar>: RecurrentLayer {
  init(core: RecurrentCore<Scalar>)
}

extension LSTM: CoreBackedLayer {}
extension GRU: CoreBackedLayer {}
extension RNN: CoreBackedLayer {}

/// The layers' traces and the masks between them.
struct DropoutStackRecord<Scalar: BLASScalar>: Sendable {
  var traces: [LayerTrace<Scalar>]
  var masks: [Tensor<Scalar>]
}

extension CoreBackedLayer {
  /// Whether this call applies dropout between layers.
  var dropsOut: Bool { _core.dropsOut(training: training) }

  /// Layer `k` alone, in this layer's mode.
  func singleLayer(_ k: Int) -> Self {
    var single = Self(core: _core.layer(k))
    single.training = training
    return single
  }

  /// A fresh mask for the output of a non-last layer.
  func nextMask(_ shape: [Int]) -> Tensor<Scalar> {
    _core.masks.next(shape: shape, p: _core.dropout)
  }

  /// The traced forward with dropout between layers.
  func droppedForwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    var record = DropoutStackRecord<Scalar>(traces: [], masks: [])
    var x = input
    for k in 0..<_core.geometry.layers {
      let trace = try singleLayer(k).forwardWithTrace(x, lengths: lengths)
      record.traces.append(trace)
      x = trace.output
      if k < _core.geometry.layers - 1 {
        let mask = nextMask(x.shape)
        record.masks.append(mask)
        x = x * mask
      }
    }
    return LayerTrace(input: input, output: x, lengths: lengths, record: record)
  }

  /// The backward of ``droppedForwardWithTrace(_:lengths:)``: parameter names of layer k get
  /// their `_l<k>` back.
  func droppedBackward(
    _ record: DropoutStackRecord<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    let layers = _core.geometry.layers
    guard record.traces.count == layers else {
      throw TrainingError.staleTrace(
        "the trace has \(record.traces.count) layers, the model \(layers)")
    }
    var gradient = outputGradient
    var parameters: [String: Tensor<Scalar>] = [:]
    for k in (0..<layers).reversed() {
      if k < layers - 1 { gradient = gradient * record.masks[k] }
      let single = singleLayer(k)
      let g = try single.backward(
        record.traces[k], outputGradient: gradient, inputGradient: k > 0 || inputGradient)
      let names = _core.parameterShapes.map(\.name)
      let perLayer = names.count / layers
      for (singleName, name) in zip(
        single.parameterShapes.map(\.name), names[(k * perLayer)..<((k + 1) * perLayer)])
      {
        parameters[name] = g.parameters[singleName]
      }
      gradient = g.input
    }
    return LayerGradients(
      input: inputGradient ? gradient : .zeros(shape: [0]), parameters: parameters)
  }

  /// The error of a rich traced call on a model that drops out.
  var droppedTraceError: LayerError {
    LayerError.unsupported(
      "\(_core.name)(dropout: \(_core.dropout)) in training mode: trace it through the Layer calls (forwardWithTrace(_:lengths:) returning a LayerTrace, or inside a Sequential), or set training = false"
    )
  }
}

extension HiddenStateLayer {
  /// The GRU's or RNN's forward with dropout between layers; see ``LSTM``'s.
  func droppedCall(_ input: Tensor<Scalar>, initialState: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentOutput<Scalar>
  {
    _ = try _core.shape(input: input, h0: initialState, lengths: lengths)
    let (layers, d) = (_core.geometry.layers, _core.geometry.directions)
    var (x, hidden) = (input, [Tensor<Scalar>]())
    var last: RecurrentOutput<Scalar>?
    for k in 0..<layers {
      let state = initialState?.sliced(axis: 0, range: (k * d)..<((k + 1) * d))
      let out = try singleLayer(k)(x, initialState: state, lengths: lengths)
      (hidden, last) = (hidden + [out.hidden], out)
      x = k < layers - 1 ? out.output * nextMask(out.output.shape) : out.output
    }
    return RecurrentOutput(
      output: x, hidden: Tensor.concatenated(hidden, axis: 0), lastStep: last!.lastStep)
  }
}
