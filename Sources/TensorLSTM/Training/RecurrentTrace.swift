/// What ``GRU/forwardWithTrace(_:initialState:lengths:)`` and
/// ``RNN/forwardWithTrace(_:initialState:lengths:)`` keep for their backward.
///
/// Size, with L layers, D directions, T steps, B sequences: the GRU's gate rows `L·D·T·B·4H`
/// (reset after: r, z, n and `W_hn·h + b_hn`) or `L·D·T·B·3H` plus `r ⊙ h` `L·D·T·B·H` (reset
/// before) — the RNN keeps none: its derivative comes from h — and every layer's input
/// sequence and the top output, time-major. A trace belongs to the weights it was made with.
public struct RecurrentTrace<Scalar: BLASScalar>: Sendable {
  /// The forward's result, as a plain call returns it.
  public let output: RecurrentOutput<Scalar>
  let weights: [DirectionWeights<Scalar>]
  let geometry: RecurrentGeometry
  let batchFirst: Bool
  let shape: ForwardShape
  let lengths: [Int]?
  let hadInitialState: Bool
  /// `[D·L, B, H]`, zeros without an initial state.
  let h0: Tensor<Scalar>
  /// Time-major contiguous `[T, B, ·]`: the input, then each layer's output.
  let sequences: [Tensor<Scalar>]
  /// Per layer-direction, the GRU's gate rows as the engine lays them out (``TraceRecord``):
  /// `[T, B, 4H]` r, z, n, `W_hn·h + b_hn` (reset after) or `[T, B, 3H]` r, z, n (reset
  /// before); empty for the RNN.
  let gates: [Tensor<Scalar>]
  /// Per layer-direction `[T, B, H]`: the reset-before GRU's `r ⊙ h(t−1)`; empty otherwise.
  let extras: [Tensor<Scalar>]

  /// Bytes the trace holds (its tensors, the result excluded).
  public var byteCount: Int {
    (([h0] + sequences + gates + extras).map(\.count).reduce(0, +)) * MemoryLayout<Scalar>.stride
  }

  func length(_ b: Int) -> Int { lengths?[b] ?? shape.steps }
}

/// The gradients of a ``GRU`` or ``RNN`` backward.
public struct RecurrentGradients<Scalar: BLASScalar>: Sendable {
  /// dL/dx, the shape of the forward's input.
  public var input: Tensor<Scalar>
  /// dL/dh0, shaped like the initial state; nil when the forward had none.
  public var initialState: Tensor<Scalar>?
  /// dL/dθ for every parameter, keyed and shaped as `stateDict()`.
  public var parameters: [String: Tensor<Scalar>]
}

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
      weights: weights, geometry: geometry, batchFirst: batchFirst, shape: s, lengths: lengths,
      hadInitialState: initial != nil, h0: traced.h0, sequences: traced.sequences,
      gates: traced.gates,
      extras: traced.resetHidden)
  }
}

/// What a traced forward returns to its caller, from its time-major layer outputs (`sequences`,
/// the input first): the top output in the call's layout, `h_n` `[D·L, B, Hout]` — each
/// sequence's h at its last processed step — and `lastStep` `[B, D·Hout]` (no batch axis
/// unbatched). The LSTM's trace adds `c_n`.
func traceResult<Scalar: BLASScalar>(
  sequences: [Tensor<Scalar>], geometry g: RecurrentGeometry, shape s: ForwardShape,
  lengths: [Int]?, batchFirst: Bool
) -> (output: Tensor<Scalar>, hidden: Tensor<Scalar>, lastStep: Tensor<Scalar>) {
  let (batch, hOut, layers, directions) = (s.batch, g.outputHiddenSize, g.layers, g.directions)
  let (rows, width) = (layers * directions, directions * hOut)
  var hN = [Scalar](repeating: 0, count: rows * batch * hOut)
  for layer in 0..<layers {
    let output = UnsafePointer(sequences[layer + 1].storage.base)
    for direction in 0..<directions {
      let index = layer * directions + direction
      for b in 0..<batch {
        let t = g.isReverse(direction) ? 0 : (lengths?[b] ?? s.steps) - 1
        let h = output + (t * batch + b) * width + direction * hOut
        for j in 0..<hOut { hN[(index * batch + b) * hOut + j] = h[j] }
      }
    }
  }
  var last = [Scalar]()
  for b in 0..<batch {
    for direction in 0..<directions {
      let start = (((layers - 1) * directions + direction) * batch + b) * hOut
      last += hN[start..<(start + hOut)]
    }
  }
  let batchAxis = s.unbatched ? [] : [batch]
  return (
    s.callLayout(sequences[layers], batchFirst: batchFirst),
    Tensor(shape: [rows] + batchAxis + [hOut], scalars: hN),
    Tensor(shape: batchAxis + [width], scalars: last)
  )
}
