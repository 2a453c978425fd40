/// What a recurrent layer's traced forward keeps for its backward, for every cell: the result
/// a plain call returns (`Output`: ``LSTMOutput`` or ``RecurrentOutput``), and per layer and
/// direction what the engine recorded (``TraceRecord``). Used as ``LSTMTrace`` and
/// ``RecurrentTrace`` (GRU, RNN).
///
///     let trace = try lstm.forwardWithTrace(x)
///     trace.output.output                 // what a plain call returns
///     trace.byteCount                     // what the trace holds, in bytes
///
/// Size, with L layers, D directions, T steps, B sequences: every layer's input sequence
/// `T·B·(I + (L−1)·D·Hout)` and the top output `T·B·D·Hout` (time-major), `h0`, and per cell —
/// LSTM gates `L·D·T·B·4H`, cells `L·D·T·B·H` and `c0`; GRU gate rows `L·D·T·B·4H` (reset
/// after: r, z, n, `W_hn·h + b_hn`) or `L·D·T·B·3H` plus `r ⊙ h` `L·D·T·B·H` (reset before);
/// the RNN nothing more (its derivative comes from h). A trace belongs to the weights it was
/// made with: a backward after the model's weights changed throws.
public struct RecurrentLayerTrace<Scalar: BLASScalar, Output: Sendable>: Sendable {
  /// The forward's result, as a plain call returns it.
  public let output: Output
  /// The weights the forward ran with (compared by storage identity in the backward).
  let weights: [DirectionWeights<Scalar>]
  let geometry: RecurrentGeometry
  let batchFirst: Bool
  let shape: ForwardShape
  let lengths: [Int]?
  /// Whether the call had an initial state (the backward returns its gradient then).
  let hadInitialState: Bool
  /// `[D·L, B, Hout]` and the LSTM's `[D·L, B, H]` (else `[0]`), zeros without an initial
  /// state.
  let h0: Tensor<Scalar>
  let c0: Tensor<Scalar>
  /// Time-major contiguous `[T, B, ·]`: the input, then each layer's output.
  let sequences: [Tensor<Scalar>]
  /// Per layer-direction, the gate rows of every step (``TraceRecord/gates``; `[0]` for the
  /// RNN).
  let gates: [Tensor<Scalar>]
  /// Per layer-direction `[T, B, H]`: the LSTM's c after every step (`[0]` for other cells).
  let cells: [Tensor<Scalar>]
  /// Per layer-direction `[T, B, H]`: the reset-before GRU's `r ⊙ h(t−1)` (`[0]` otherwise).
  let resetHidden: [Tensor<Scalar>]
  /// Whether the forward split each step's hidden units between two workers
  /// (``RecurrentForward/tracePlan(_:hasLengths:)``); the LSTM's backward does too.
  let splitsUnits: Bool

  /// The trace of a call of shape `shape` from what ``RecurrentForward/runTraced(_:input:h0:c0:lengths:)``
  /// recorded, with `output` made from its result.
  init(
    output: Output, recorded: TraceTensors<Scalar>, weights: [DirectionWeights<Scalar>],
    geometry: RecurrentGeometry, batchFirst: Bool, shape: ForwardShape, lengths: [Int]?,
    hadInitialState: Bool
  ) {
    (self.output, self.weights, self.geometry) = (output, weights, geometry)
    (self.batchFirst, self.shape, self.lengths) = (batchFirst, shape, lengths)
    self.hadInitialState = hadInitialState
    (h0, c0, sequences) = (recorded.h0, recorded.c0, recorded.sequences)
    (gates, cells, resetHidden) = (recorded.gates, recorded.cells, recorded.resetHidden)
    splitsUnits = recorded.splitsUnits
  }

  /// Bytes the trace holds (its tensors, the result excluded).
  public var byteCount: Int {
    (([h0, c0] + sequences + gates + cells + resetHidden).map(\.count).reduce(0, +))
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

  /// A backward step's inputs for layer-direction `index` at step `t`, for sequences `rows`
  /// (all, or a worker's batch slice) in `columns` of each `width`-wide row (all of h, or a
  /// worker's units): dh = `incoming` + `carry` into `dh` `[B, width]`, and h(t−1) into row t
  /// of `previous` `[T, B, width]` — from the direction's `output` rows (`outputStride`
  /// apart), or h0 where a sequence's direction starts. Past a sequence's length both are
  /// zero. Every cell's backward starts its step here.
  func gatherStep(
    _ t: Int, index: Int, reverse: Bool, rows: Range<Int>, columns: Range<Int>, width: Int,
    incoming: Rows<Scalar>, carry: UnsafePointer<Scalar>, output: UnsafePointer<Scalar>,
    outputStride: Int, dh: UnsafeMutablePointer<Scalar>, previous: UnsafeMutablePointer<Scalar>
  ) {
    let batch = shape.batch
    let (first, n) = (columns.lowerBound, columns.count)
    let neighbour = reverse ? t + 1 : t - 1
    let start = UnsafePointer(h0.storage.base) + index * batch * width
    for b in rows {
      let (d, p) = (dh + b * width + first, previous + (t * batch + b) * width + first)
      guard isValid(t, b) else {
        d.update(repeating: 0, count: n)
        p.update(repeating: 0, count: n)
        continue
      }
      let (from, carried) = (incoming.row(time: t, batch: b) + first, carry + b * width + first)
      for j in 0..<n { d[j] = from[j] + carried[j] }
      let source =
        isFirst(t, b, reverse: reverse)
        ? start + b * width : output + (neighbour * batch + b) * outputStride
      p.update(from: source + first, count: n)
    }
  }
}

/// What ``LSTM/forwardWithTrace(_:initialState:lengths:)`` keeps for
/// ``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:inputGradient:)``: the
/// ``LSTMOutput`` and every step's activated gates and cell states.
public typealias LSTMTrace<Scalar: BLASScalar> = RecurrentLayerTrace<Scalar, LSTMOutput<Scalar>>

/// What ``GRU/forwardWithTrace(_:initialState:lengths:)`` and
/// ``RNN/forwardWithTrace(_:initialState:lengths:)`` keep for their backward: the
/// ``RecurrentOutput`` and the GRU's gate rows (the RNN's outputs suffice).
public typealias RecurrentTrace<Scalar: BLASScalar> = RecurrentLayerTrace<
  Scalar, RecurrentOutput<Scalar>
>

/// The gradients of a recurrent layer's backward, for every cell: `State` is the initial
/// state's type (``LSTMState`` or `Tensor`). Used as ``LSTMGradients`` and
/// ``RecurrentGradients`` (GRU, RNN).
///
///     let g = try lstm.backward(trace, outputGradient: dY)
///     g.input          // dL/dx, shaped like x
///     g.initialState   // dL/dh0 (and dL/dc0) when the forward had an initial state
///     g.parameters     // keyed like stateDict()
public struct RecurrentLayerGradients<Scalar: BLASScalar, State: Sendable>: Sendable {
  /// dL/dx, the shape of the forward's input; an empty `[0]` tensor when the backward was
  /// asked not to compute it (`inputGradient: false`).
  public var input: Tensor<Scalar>
  /// The gradient of the initial state, shaped like it; nil when the forward had none.
  public var initialState: State?
  /// dL/dθ for every parameter, keyed and shaped as `stateDict()`.
  public var parameters: [String: Tensor<Scalar>]
}

/// The gradients of an ``LSTM`` backward: dL/dh0 and dL/dc0 as an ``LSTMState``.
public typealias LSTMGradients<Scalar: BLASScalar> = RecurrentLayerGradients<
  Scalar, LSTMState<Scalar>
>

/// The gradients of a ``GRU`` or ``RNN`` backward: dL/dh0 as a tensor.
public typealias RecurrentGradients<Scalar: BLASScalar> = RecurrentLayerGradients<
  Scalar, Tensor<Scalar>
>
