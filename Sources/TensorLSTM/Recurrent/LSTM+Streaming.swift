extension LSTM {
  /// Runs the next chunk of a long sequence, continuing from `state` (the previous chunk's
  /// `out.state`; `nil` for the first chunk).
  ///
  ///     var state: LSTMState<Float>? = nil
  ///     for chunk in chunks {                          // each [B, t, I] with batchFirst
  ///       let out = try lstm.streaming(chunk, state: state)
  ///       state = out.state
  ///     }
  ///
  /// Feeding a sequence in chunks gives the same outputs and final state as one call over the
  /// whole sequence. Cost: one forward over the chunk (allocates its result).
  /// - Throws: ``LayerError/unsupported(_:)`` for a bidirectional (or ONNX "reverse") LSTM — its reverse direction
  ///   starts at the end of the sequence, which a chunk does not have — and the forward's
  ///   shape errors otherwise.
  public func streaming(_ chunk: Tensor<Scalar>, state: LSTMState<Scalar>?) throws
    -> LSTMOutput<Scalar>
  {
    try _core.requireStreamable()
    return try self(chunk, initialState: state)
  }
}
