/// Plain scalar-loop reference implementations: no BLAS, no stride tricks, exact libm
/// functions, accumulation in `Double`.
///
/// They are the oracle in the tests and the baseline in the benchmarks, so they are written
/// to be obviously correct, not fast. Each reads its operands in logical order (``Tensor/scalars``)
/// and returns a new contiguous tensor.
public enum Naive {
  /// The matrix product with ``matmul(_:_:)``'s shape rules, by the textbook triple loop.
  ///
  ///     Naive.matmul(a, b)   // same shape and (to rounding) same values as matmul(a, b)
  ///
  /// Copies both operands into dense arrays; O(batch · m · n · k).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func matmul<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>)
    -> Tensor<Scalar>
  {
    let plan = MatmulPlan(a, b)
    let (m, k, n) = (plan.m, plan.k, plan.n)
    let left = plan.a.scalars
    let right = plan.b.scalars
    let batches = plan.batchShape.reduce(1, *)
    var result = [Scalar](repeating: 0, count: batches * m * n)
    for batch in 0..<batches {
      for i in 0..<m {
        for j in 0..<n {
          var sum = 0.0
          for p in 0..<k {
            sum +=
              Double(left[batch * m * k + i * k + p]) * Double(right[batch * k * n + p * n + j])
          }
          result[batch * m * n + i * n + j] = Scalar(sum)
        }
      }
    }
    return Tensor(shape: plan.resultShape, scalars: result)
  }
}
