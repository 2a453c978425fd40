/// What ``LSTM/forwardWithTrace(_:initialState:lengths:)`` keeps for
/// ``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:)``: the result, and per layer
/// and direction the activated gates and cell states of every step.
///
///     let trace = try lstm.forwardWithTrace(x)
///     trace.output.output                 // the LSTMOutput a plain call returns
///     trace.byteCount                     // what the trace holds, in bytes
///
/// Size, with L layers, D directions, T steps, B sequences: gates `L·D·T·B·4H` and cells
/// `L·D·T·B·H` scalars, every layer's input sequence `T·B·(I + (L−1)·D·Hout)` and the top
/// output `T·B·D·Hout` (time-major), plus `h0`, `c0`. A trace belongs to the weights it was made
/// with: a backward after the model's weights changed throws.
public struct LSTMTrace<Scalar: BLASScalar>: Sendable {
  /// The forward's result, as a plain call returns it.
  public let output: LSTMOutput<Scalar>
  /// The weights the forward ran with (compared by storage identity in the backward).
  let weights: [DirectionWeights<Scalar>]
  let geometry: RecurrentGeometry
  let batchFirst: Bool
  let shape: ForwardShape
  let lengths: [Int]?
  /// Whether the call had an initial state (the backward returns its gradient then).
  let hadInitialState: Bool
  /// `[D·L, B, Hout]` and `[D·L, B, H]`, zeros without an initial state.
  let h0: Tensor<Scalar>
  let c0: Tensor<Scalar>
  /// Time-major contiguous `[T, B, ·]`: the input, then each layer's output.
  let sequences: [Tensor<Scalar>]
  /// Per layer-direction, `[T, B, 4H]`: σ(i), σ(f), tanh(g), σ(o) of every valid step.
  let gates: [Tensor<Scalar>]
  /// Per layer-direction, `[T, B, H]`: c after every valid step.
  let cells: [Tensor<Scalar>]
  /// Whether the forward split each step's hidden units between two workers
  /// (``RecurrentForward/tracePlan(_:hasLengths:)``); the backward does too.
  let splitsUnits: Bool

  /// Bytes the trace holds (its tensors, the result excluded).
  public var byteCount: Int {
    (([h0, c0] + sequences + gates + cells).map(\.count).reduce(0, +))
      * MemoryLayout<Scalar>.stride
  }

  /// Steps of sequence `b`.
  func length(_ b: Int) -> Int { lengths?[b] ?? shape.steps }

  /// Whether step `t` of sequence `b` ran.
  func isValid(_ t: Int, _ b: Int) -> Bool { t < length(b) }

  /// Whether step `t` of sequence `b` is the first its direction processes (reading h0, c0).
  func isFirst(_ t: Int, _ b: Int, reverse: Bool) -> Bool {
    reverse ? t == length(b) - 1 : t == 0
  }
}

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
      output: output, weights: _core.weights, geometry: geometry, batchFirst: batchFirst,
      shape: s, lengths: lengths, hadInitialState: initialState != nil, h0: traced.h0,
      c0: traced.c0,
      sequences: traced.sequences, gates: traced.gates, cells: traced.cells,
      splitsUnits: traced.splitsUnits)
  }
}
