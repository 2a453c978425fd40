/// Matrix products through BLAS, reading operands through their strides.
///
/// A transposed or permuted operand becomes `CblasTrans` plus a leading dimension, not a copy.
/// Only an operand whose last two axes have no unit stride (a broadcast row, a negative or
/// doubly strided slice) is copied first. Products with one output row or column go to gemv.

/// The matrix product of `a` and `b` with PyTorch's `matmul` rules: 2-D × 2-D is a GEMM, N-D
/// operands are batches of matrices whose leading axes broadcast, and a 1-D operand is a
/// vector whose axis is dropped from the result.
///
///     let y = matmul(x, w.transposed(0, 1))   // [N, in] · [in, out] → [N, out], no copy of w
///
/// Allocates the result; copies an operand only when its last two axes have no unit stride.
/// - Precondition: inner sizes agree and batch axes broadcast.
public func matmul<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
  let plan = MatmulPlan(a, b)
  var result = Tensor<Scalar>.zeros(shape: plan.batchShape + [plan.m, plan.n])
  plan.run(into: &result, alpha: 1, beta: 0)
  return result.reshaped(plan.resultShape)
}

/// `c ← alpha · matmul(a, b) + beta · c`, PyTorch's `addmm`/`baddbmm` form.
///
///     matmul(h, wHH.transposed(0, 1), into: &gates, beta: 1)   // gates += h · W_hhᵀ
///
/// Writes through `c`'s strides when one of its last two axes has unit stride (copy-on-write
/// first if its storage is shared); otherwise computes into a temporary and adds (copies).
/// - Precondition: `c.shape` is the shape `matmul(a, b)` would return.
public func matmul<Scalar: BLASScalar>(
  _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, into c: inout Tensor<Scalar>, alpha: Scalar = 1,
  beta: Scalar = 0
) {
  let plan = MatmulPlan(a, b)
  require(
    c.shape == plan.resultShape,
    "matmul(into:): c has shape \(c.shape) but \(a.shape) · \(b.shape) gives \(plan.resultShape)")
  // Re-view c in place (only size-1 axes differ, so a view always exists): a second
  // reference would defeat the uniqueness check and copy c on every call.
  let resultLayout = c.layout
  c.layout = c.layout.reshapedView(plan.batchShape + [plan.m, plan.n])!
  c.makeUniquelyWritable()
  // The same rule as for the operands: BLAS writes c in place only when it could read it.
  if MatmulPlan.blasForm(of: c) != nil {
    plan.run(into: &c, alpha: alpha, beta: beta)
    c.layout = c.layout.reshapedView(resultLayout.shape)!
  } else {
    c.layout = c.layout.reshapedView(resultLayout.shape)!
    let product = matmul(a, b)
    c = Tensor(
      shape: c.shape,
      scalars: zip(product.scalars, c.scalars).map { alpha * $0 + (beta == 0 ? 0 : beta * $1) })
  }
}

/// Shapes and operand forms of one (batched) matmul, decided before any work.
struct MatmulPlan<Scalar: BLASScalar> {
  var a: Tensor<Scalar>
  var b: Tensor<Scalar>
  var m: Int
  var k: Int
  var n: Int
  var batchShape: [Int]
  var resultShape: [Int]

  init(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) {
    require(
      a.rank >= 1 && b.rank >= 1,
      "matmul: operands need at least one axis, got \(a.shape) and \(b.shape)")
    let (aIsVector, bIsVector) = (a.rank == 1, b.rank == 1)
    var a = aIsVector ? a.unsqueezed(axis: 0) : a
    var b = bIsVector ? b.unsqueezed(axis: -1) : b
    (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
    require(
      b.shape[b.rank - 2] == k,
      "matmul: inner sizes differ: \(a.shape) · \(b.shape) (\(k) vs \(b.shape[b.rank - 2]))")
    batchShape = MatmulPlan.broadcast(
      Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), a.shape, b.shape)
    // PyTorch drops the axis a 1-D operand was promoted with.
    resultShape = batchShape + (aIsVector ? [] : [m]) + (bIsVector ? [] : [n])
    // Operands BLAS cannot read as they are get one contiguous copy (before broadcasting).
    if Self.blasForm(of: a) == nil { a = a.contiguous() }
    if Self.blasForm(of: b) == nil { b = b.contiguous() }
    self.a = a.expanded(to: batchShape + [m, k])
    self.b = b.expanded(to: batchShape + [k, n])
  }

  static func broadcast(_ x: [Int], _ y: [Int], _ aShape: [Int], _ bShape: [Int]) -> [Int] {
    let rank = Swift.max(x.count, y.count)
    let x = [Int](repeating: 1, count: rank - x.count) + x
    let y = [Int](repeating: 1, count: rank - y.count) + y
    return zip(x, y).map { p, q in
      require(
        p == q || p == 1 || q == 1,
        "matmul: batch axes of \(aShape) and \(bShape) do not broadcast (\(p) vs \(q))")
      return p == 1 ? q : p
    }
  }

  /// How BLAS reads the last two axes of `t` in place, or nil when it needs a copy.
  static func blasForm(of t: Tensor<Scalar>) -> (transposed: Bool, leading: Int)? {
    let r = t.rank
    return StridedMatrix<Scalar>.blasForm(
      rows: t.shape[r - 2], columns: t.shape[r - 1], rowStride: t.strides[r - 2],
      columnStride: t.strides[r - 1])
  }

  /// The last two axes of `t` as a matrix starting at `base`.
  static func matrix(of t: Tensor<Scalar>, base: UnsafePointer<Scalar>) -> StridedMatrix<Scalar> {
    let r = t.rank
    return StridedMatrix(
      base: base, rows: t.shape[r - 2], columns: t.shape[r - 1], rowStride: t.strides[r - 2],
      columnStride: t.strides[r - 1])
  }

  func run(into c: inout Tensor<Scalar>, alpha: Scalar, beta: Scalar) {
    let batchRank = batchShape.count
    let cStrides = c.strides
    let aLayout = a.layout
    let bLayout = b.layout
    c.withMutableBase { cBase in
      a.withBase { aBase in
        b.withBase { bBase in
          var index = [Int](repeating: 0, count: batchRank)
          let batches = batchShape.reduce(1, *)
          for _ in 0..<batches {
            var (ao, bo, co) = (0, 0, 0)
            for axis in 0..<batchRank {
              ao += index[axis] * aLayout.strides[axis]
              bo += index[axis] * bLayout.strides[axis]
              co += index[axis] * cStrides[axis]
            }
            BLAS.gemm(
              Self.matrix(of: a, base: aBase + ao), Self.matrix(of: b, base: bBase + bo),
              into: cBase + co, rowStride: cStrides[batchRank],
              columnStride: cStrides[batchRank + 1],
              alpha: alpha, beta: beta)
            var axis = batchRank - 1
            while axis >= 0 {
              index[axis] += 1
              if index[axis] < batchShape[axis] { break }
              index[axis] = 0
              axis -= 1
            }
          }
        }
      }
    }
  }
}
