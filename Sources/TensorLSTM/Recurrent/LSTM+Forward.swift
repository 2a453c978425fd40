/// The LSTM forward pass: the shared recurrent engine (`RecurrentForward.swift`) with the LSTM
/// cell, its `c` state and the projection.
extension LSTM {
  /// Runs the LSTM over `input`, PyTorch's `output, (h_n, c_n) = lstm(input, (h_0, c_0))`.
  ///
  ///     let out = try lstm(x, lengths: [10, 7, 3])   // x: [3, 10, I] with batchFirst
  ///     out.lastStep                                 // [3, D·Hout], each sequence's last step
  ///
  /// Layout in letters: input `[B, T, I]` with batchFirst, else `[T, B, I]`, or unbatched
  /// `[T, I]`; output `[B, T, D·Hout]` / `[T, B, D·Hout]` / `[T, D·Hout]`; `hidden`
  /// `[D·L, B, Hout]` and `cell` `[D·L, B, H]` whatever batchFirst is (no B axis unbatched).
  ///
  /// `lengths` gives each sequence's valid steps (any order, like PyTorch's
  /// `pack_padded_sequence(…, enforce_sorted: false)`): output past a length is zero, `hidden`
  /// and `cell` hold each sequence's state at its own last valid step, and the reverse
  /// direction starts at that step.
  ///
  /// Cost: allocates the result and work buffers once (the gate buffer is chunked over time to
  /// stay near 4 MiB); reads `input` through its strides (a time-major view of batch-first data
  /// is not copied), and copies it once only when no GEMM can: a time or batch axis with stride
  /// ≤ 0 (reversed, broadcast) or features without unit stride.
  /// - Throws: ``LayerError`` naming expected and actual shapes for a wrong rank or feature
  ///   size, an initial state of the wrong shape, or bad `lengths`; nothing is computed then.
  public func callAsFunction(
    _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil, lengths: [Int]? = nil
  ) throws -> LSTMOutput<Scalar> {
    let shape = try ForwardShape(self, input: input, initialState: initialState, lengths: lengths)
    if dropsOut { return try droppedCall(input, initialState: initialState, lengths: lengths) }
    let result = engine.run(
      shape, input: input, h0: initialState?.hidden, c0: initialState?.cell, lengths: lengths)
    return LSTMOutput(
      output: result.output, hidden: result.hidden, cell: result.cell!, lastStep: result.lastStep)
  }

  /// The sizes the engine plans with.
  var geometry: RecurrentGeometry { _core.geometry }

  /// The engine with this model's settings and weights; O(1), shares the weights.
  var engine: RecurrentForward<Scalar> { _core.engine }
}

extension ForwardShape {
  /// The checks of an LSTM call: input, lengths and both state tensors.
  init<Scalar>(
    _ lstm: LSTM<Scalar>, input: Tensor<Scalar>, initialState: LSTMState<Scalar>?,
    lengths: [Int]?
  ) throws {
    try self.init(
      geometry: lstm.geometry, batchFirst: lstm.batchFirst, input: input, lengths: lengths)
    if let initialState {
      let layers = lstm.numLayers * lstm.directions
      try checkState(
        initialState.hidden, name: "initialState.hidden", width: lstm.outputHiddenSize,
        layers: layers)
      try checkState(
        initialState.cell, name: "initialState.cell", width: lstm.hiddenSize, layers: layers)
    }
  }
}

extension LSTM {
  /// The forward with dropout between layers (training mode): one layer at a time on the
  /// engine, each given its slice of the initial state, a fresh mask on every output but the
  /// last; `hidden` and `cell` stacked back to `[D·L, B, H]`.
  func droppedCall(_ input: Tensor<Scalar>, initialState: LSTMState<Scalar>?, lengths: [Int]?)
    throws -> LSTMOutput<Scalar>
  {
    let (layers, d) = (_core.geometry.layers, directions)
    var (x, hidden, cell) = (input, [Tensor<Scalar>](), [Tensor<Scalar>]())
    var last: LSTMOutput<Scalar>?
    for k in 0..<layers {
      let state = initialState.map {
        LSTMState(
          hidden: $0.hidden.sliced(axis: 0, range: (k * d)..<((k + 1) * d)),
          cell: $0.cell.sliced(axis: 0, range: (k * d)..<((k + 1) * d)))
      }
      let out = try singleLayer(k)(x, initialState: state, lengths: lengths)
      (hidden, cell, last) = (hidden + [out.hidden], cell + [out.cell], out)
      x = k < layers - 1 ? out.output * nextMask(out.output.shape) : out.output
    }
    return LSTMOutput(
      output: x, hidden: Tensor.concatenated(hidden, axis: 0),
      cell: Tensor.concatenated(cell, axis: 0), lastStep: last!.lastStep)
  }
}
