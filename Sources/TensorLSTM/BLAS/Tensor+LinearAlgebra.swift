/// Why LAPACK could not solve a system. Carries LAPACK's `info` for diagnostics.
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
  /// `solve`: `U[info-1, info-1]` is exactly zero, so `A` is singular (LAPACK `?gesv` info > 0).
  case singular(info: Int)
  /// `lstsq`: the `info`-th diagonal element of the triangular factor is zero (LAPACK `?gels`
  /// info > 0) or below max(m, n) · ε of the largest one, so `A` does not have full rank.
  case rankDeficient(info: Int)

  /// A sentence naming the failure and LAPACK's `info`.
  public var description: String {
    switch self {
    case .singular(let info):
      return
        "solve: the matrix is singular (LAPACK gesv info = \(info): U[\(info - 1), \(info - 1)] is zero)"
    case .rankDeficient(let info):
      return "lstsq: the matrix does not have full rank (LAPACK gels info = \(info))"
    }
  }
}

/// The solution `X` of `A · X = B` for square `A` (LAPACK `?gesv`, LU with partial pivoting).
///
///     let x = try solve(a, b)   // a: [n, n], b: [n, k] or [n] → x: [n, k] or [n]
///
/// Copies `A` and `B` (LAPACK overwrites its inputs); the originals are untouched.
/// - Throws: ``LinearAlgebraError/singular(info:)`` when `A` is singular.
/// - Precondition: `A` is square and `B` has as many rows as `A`.
public func solve<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) throws
  -> Tensor<Scalar>
{
  require(
    a.rank == 2 && a.shape[0] == a.shape[1],
    "solve: A must be square [n, n], got \(a.shape)")
  let n = a.shape[0]
  require(
    (b.rank == 1 || b.rank == 2) && b.shape[0] == n,
    "solve: B must be [\(n)] or [\(n), k] for A of shape \(a.shape), got \(b.shape)")
  var lu = a.copied()
  var x = b.copied()
  let rightHandSides = b.rank == 2 ? b.shape[1] : 1
  let info = lu.withMutableBase { aBase in
    x.withMutableBase { xBase in
      BLAS.gesv(n: n, rightHandSides: rightHandSides, a: aBase, b: xBase)
    }
  }
  require(info >= 0, "solve: LAPACK gesv rejected argument \(-info)")
  if info > 0 { throw LinearAlgebraError.singular(info: info) }
  return x
}

/// The least-squares solution `X` minimising ‖A · X − B‖ (or the minimum-norm one when `A` is
/// wide), PyTorch's `linalg.lstsq(A, B).solution` for full-rank `A` (LAPACK `?gels`, QR/LQ).
///
///     let x = try lstsq(a, b)   // a: [m, n], b: [m, k] or [m] → x: [n, k] or [n]
///
/// Copies `A` and `B`; the originals are untouched.
/// - Throws: ``LinearAlgebraError/rankDeficient(info:)`` when `A` lacks full rank.
/// - Precondition: `A` is 2-D and `B` has as many rows as `A`.
public func lstsq<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) throws
  -> Tensor<Scalar>
{
  require(a.rank == 2, "lstsq: A must be 2-D [m, n], got \(a.shape)")
  let (m, n) = (a.shape[0], a.shape[1])
  require(
    (b.rank == 1 || b.rank == 2) && b.shape[0] == m,
    "lstsq: B must be [\(m)] or [\(m), k] for A of shape \(a.shape), got \(b.shape)")
  let rightHandSides = b.rank == 2 ? b.shape[1] : 1
  var factor = a.copied()
  // gels needs room for max(m, n) rows in B; the solution is its first n rows.
  var work = Tensor<Scalar>.zeros(shape: [Swift.max(m, n), rightHandSides])
  work.withMutableBase { base in
    let rows = b.reshaped([m, rightHandSides])
    Tensor.copyElements(
      from: rows.storage.base, rows.layout, to: base, TensorLayout(contiguous: rows.shape))
  }
  let info = factor.withMutableBase { aBase in
    work.withMutableBase { bBase in
      BLAS.gels(rows: m, columns: n, rightHandSides: rightHandSides, a: aBase, b: bBase)
    }
  }
  require(info >= 0, "lstsq: LAPACK gels rejected argument \(-info)")
  if info > 0 { throw LinearAlgebraError.rankDeficient(info: info) }
  // gels only notices an exactly zero pivot; rounding usually leaves a tiny one instead. Treat
  // |R[i, i]| ≤ max(m, n) · ε · max|R[j, j]| as zero (numpy's default rcond).
  let diagonal = (0..<Swift.min(m, n)).map { abs(factor[scalarAt: [$0, $0]]) }
  let cutoff = Scalar(Swift.max(m, n)) * Scalar.ulpOfOne * (diagonal.max() ?? 0)
  if let dependent = diagonal.firstIndex(where: { $0 <= cutoff }) {
    throw LinearAlgebraError.rankDeficient(info: dependent + 1)
  }
  let solution = work.sliced(axis: 0, range: 0..<n).contiguous()
  return b.rank == 1 ? solution.reshaped([n]) : solution
}
