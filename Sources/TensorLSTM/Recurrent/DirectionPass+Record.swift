/// What a traced forward keeps of one layer-direction for its backward: where the engine's
/// ``DirectionPass`` writes it as it runs (its record mode), in the trace's tensors.
struct TraceRecord<Scalar: BLASScalar> {
  /// `[T, B, rowGates·H]` (``RecurrentCell``, rows unpadded): every step's gate rows, left
  /// holding what the backward reads — the LSTM's σ(i), σ(f), tanh(g), σ(o); the GRU's r, z, n
  /// and, reset after, `W_hn·h + b_hn` in the fourth slot. Nil for the RNN, whose backward
  /// needs only h.
  var gates: UnsafeMutablePointer<Scalar>?
  /// The LSTM's c after every step, `[T, B, H]`.
  var cells: UnsafeMutablePointer<Scalar>?
  /// The reset-before GRU's `r ⊙ h(t−1)` of every step, `[T, B, H]`.
  var resetHidden: UnsafeMutablePointer<Scalar>?
  /// B, the rows of one step in the record: a batch slice's pass starts its pointers at its
  /// first sequence and steps over the others' rows.
  var rowsPerStep: Int

  /// The record of sequences `first…` of the batch: its pointers moved to that row.
  func slice(from first: Int, hidden: Int, rowWidth: Int) -> TraceRecord {
    TraceRecord(
      gates: gates.map { $0 + first * rowWidth }, cells: cells.map { $0 + first * hidden },
      resetHidden: resetHidden.map { $0 + first * hidden }, rowsPerStep: rowsPerStep)
  }
}

/// The record mode of a ``DirectionPass``: what a traced forward adds to the forward's time
/// loop.
extension DirectionPass {
  /// A trace's gate rows of every step and sequence (``TraceRecord/gates``): the row bias plus
  /// the input projection, one product at the caller's BLAS budget, before the pass — or its
  /// workers, or its batch slices — runs; the pass then only steps.
  func projectRecord(_ input: Rows<Scalar>) {
    weights.weightIH.withBase { weightIH in
      weights.rowBias.withBase { bias in
        projectInputs(
          input, first: 0, count: steps, rows: (gates, gateRowStride, hidden), units: 0..<hidden,
          weightIH: weightIH, bias: bias, gathering: gatheredInput)
      }
    }
  }

  /// The LSTM's `c` that step `t` updates in place, `[B, H]`: the running state, or in a trace
  /// the step's own row of the record, its `units` first filled with c(t−1) (c(0), the running
  /// state, at the direction's first step; carried unchanged through a sequence's padding).
  func stepCell(_ t: Int, units: Range<Int>) -> UnsafeMutablePointer<Scalar> {
    guard let cells = record?.cells else { return cellState }
    let row = cells + t * rowsPerStep * hidden
    let isFirst = reverse ? t == steps - 1 : t == 0
    let previous = isFirst ? cellState : cells + (reverse ? t + 1 : t - 1) * rowsPerStep * hidden
    for b in 0..<batch {
      (row + b * hidden + units.lowerBound).update(
        from: previous + b * hidden + units.lowerBound, count: units.count)
    }
    return row
  }
}
