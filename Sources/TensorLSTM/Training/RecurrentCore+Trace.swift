extension RecurrentCore {
  /// The GRU/RNN forward keeping the trace: the forward's time loop recording it
  /// (``RecurrentForward/runTraced(_:input:h0:c0:lengths:)``) — the GRU's activated gates, the
  /// reset-before GRU's `r ⊙ h`, every layer's output.
  func forwardWithTrace(_ input: Tensor<Scalar>, h0 initial: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentTrace<Scalar>
  {
    requireTrainable("forwardWithTrace")
    let s = try shape(input: input, h0: initial, lengths: lengths)
    let traced = Workers.withTrainingKernels(kernels) {
      engine.runTraced(s, input: input, h0: initial, c0: nil, lengths: lengths)
    }
    let final = traced.result
    return RecurrentTrace(
      output: RecurrentOutput(output: final.output, hidden: final.hidden, lastStep: final.lastStep),
      recorded: traced, weights: weights, geometry: geometry, batchFirst: batchFirst, shape: s,
      lengths: lengths, hadInitialState: initial != nil)
  }
}
