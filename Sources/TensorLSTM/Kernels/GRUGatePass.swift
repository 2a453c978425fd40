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

  /// Reset before, phase 1: `resetHidden` ← σ(r) ⊙ h_old, and z ← σ(z) in place.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func resetHidden<Scalar: BLASScalar>(
    gates: UnsafeMutablePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    into resetHidden: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      resetHidden[j] = Activations.sigmoid(gates[j]) * hOld[j]
      gates[count + j] = Activations.sigmoid(gates[count + j])
    }
  }

  /// Reset before, phase 2 (after n += (r ⊙ h)·W_hnᵀ): h ← n + z·(h_old − n), n = tanh(n),
  /// with z already σ(z).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func update<Scalar: BLASScalar>(
    gates: UnsafePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    for j in 0..<count {
      let candidate = Activations.tanh(gates[2 * count + j])
      h[j] = (hOld[j] - candidate) * gates[count + j] + candidate
    }
  }
}
