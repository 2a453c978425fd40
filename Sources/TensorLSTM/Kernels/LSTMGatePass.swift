/// The fused LSTM cell update for one row: i, f, o = σ(·), g = tanh(·), c = f·c + i·g,
/// h = o·tanh(c).
///
/// A plain loop over the row's pointers is vectorised by LLVM, but behind runtime alias checks
/// that fail here, so its scalar copy ran (callgrind: ~99 instructions per element). Writing
/// each block of 64 results to a stack temporary, which provably aliases nothing, lets the
/// vector loop run; two short copies then move the block to `cell` and `h`.
enum LSTMGatePass {
  static let block = 64

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func apply<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, cell: UnsafeMutablePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    // 2 × 64 scalars ≤ 1 KiB: within the stack-allocation limit, so no heap allocation.
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: 2 * block) { temporary in
      let newCell = temporary.baseAddress!
      let newHidden = newCell + block
      var start = 0
      while start < count {
        let n = Swift.min(block, count - start)
        let (i, f) = (gates + start, gates + count + start)
        let (g, o, c) = (gates + 2 * count + start, gates + 3 * count + start, cell + start)
        for j in 0..<n {
          let cj =
            Activations.sigmoid(f[j]) * c[j] + Activations.sigmoid(i[j]) * Activations.tanh(g[j])
          newCell[j] = cj
          newHidden[j] = Activations.sigmoid(o[j]) * Activations.tanh(cj)
        }
        c.update(from: newCell, count: n)
        (h + start).update(from: newHidden, count: n)
        start += n
      }
    }
  }

  /// The update of a traced forward (``TraceRecord``): as ``apply(gates:cell:hidden:count:)``,
  /// and the row's pre-activations become σ(i), σ(f), tanh(g), σ(o) in place for the backward.
  /// `cell` holds c(t−1) on entry and c(t) after.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func trace<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, cell: UnsafeMutablePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      let i = Activations.sigmoid(gates[j])
      let f = Activations.sigmoid(gates[count + j])
      let g = Activations.tanh(gates[2 * count + j])
      let o = Activations.sigmoid(gates[3 * count + j])
      let c = f * cell[j] + i * g
      (gates[j], gates[count + j], gates[2 * count + j], gates[3 * count + j]) = (i, f, g, o)
      cell[j] = c
      h[j] = o * Activations.tanh(c)
    }
  }
}
