/// The GRU cell update for one row, in Swift (Double, the portable path, and the reset-before
/// GRU): r = σ(a_r), z = σ(a_z), n = tanh(·), h = n + z·(h_old − n) (PyTorch's order of
/// operations).
///
/// Row slots are `count` apart (``RecurrentCell``): reset after `[r | z | n_h | n_x]` with
/// n = tanh(n_x + r·n_h); reset before `[r | z | n]`, run in two phases around the GEMM of
/// `r ⊙ h_old` into n. Results go through a stack block, as in ``LSTMGatePass``, so the loops
/// vectorise.
enum GRUGatePass {
  static let block = 64

  /// Reset after: h ← n + z·(h_old − n) with n = tanh(n_x + r·n_h).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func apply<Scalar: BLASScalar>(
    gates: UnsafePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    withUnsafeTemporaryAllocation(of: Scalar.self, capacity: block) { temporary in
      let newHidden = temporary.baseAddress!
      var start = 0
      while start < count {
        let n = Swift.min(block, count - start)
        let (r, z) = (gates + start, gates + count + start)
        let (nh, nx, old) = (gates + 2 * count + start, gates + 3 * count + start, hOld + start)
        for j in 0..<n {
          let candidate = Activations.tanh(nx[j] + Activations.sigmoid(r[j]) * nh[j])
          newHidden[j] = (old[j] - candidate) * Activations.sigmoid(z[j]) + candidate
        }
        (h + start).update(from: newHidden, count: n)
        start += n
      }
    }
  }

  /// The reset-after update of a traced forward (``TraceRecord``): as
  /// ``apply(gates:hOld:hidden:count:)``, and the row becomes `[r | z | n | n_h]` — the
  /// activations and `W_hn·h + b_hn` — for the backward, as the fused trace step leaves it.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func trace<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      let r = Activations.sigmoid(gates[j])
      let z = Activations.sigmoid(gates[count + j])
      let recurrentN = gates[2 * count + j]
      let candidate = Activations.tanh(gates[3 * count + j] + r * recurrentN)
      (gates[j], gates[count + j]) = (r, z)
      (gates[2 * count + j], gates[3 * count + j]) = (candidate, recurrentN)
      h[j] = (hOld[j] - candidate) * z + candidate
    }
  }

  /// Reset before, phase 1: `resetHidden` ← σ(r) ⊙ h_old, and r ← σ(r), z ← σ(z) in place (a
  /// trace's backward reads them).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func resetHidden<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    into resetHidden: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      let r = Activations.sigmoid(gates[j])
      resetHidden[j] = r * hOld[j]
      gates[j] = r
      gates[count + j] = Activations.sigmoid(gates[count + j])
    }
  }

  /// Reset before, phase 2 (after n += (r ⊙ h)·W_hnᵀ): h ← n + z·(h_old − n), n = tanh(n)
  /// (kept in place for a trace's backward), with z already σ(z).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func update<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      let candidate = Activations.tanh(gates[2 * count + j])
      gates[2 * count + j] = candidate
      h[j] = (hOld[j] - candidate) * gates[count + j] + candidate
    }
  }
}
