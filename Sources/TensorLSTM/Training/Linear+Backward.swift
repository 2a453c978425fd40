/// The gradients of a `Linear` or `Conv1d` backward.
///
///     let g = try linear.backward(input: x, outputGradient: dY)
///     g.input          // dL/dx, shaped like x
///     g.parameters     // "weight", "bias": keyed and shaped like stateDict()
public struct LayerGradients<Scalar: BLASScalar>: Sendable {
  /// dL/dx, the shape of the forward's input.
  public var input: Tensor<Scalar>
  /// dL/dθ, keyed and shaped as the layer's `stateDict()`.
  public var parameters: [String: Tensor<Scalar>]
}

extension Linear {
  /// The gradients of `y = x · weightᵀ + bias` given dL/dy.
  ///
  ///     let g = try dense.backward(input: x, outputGradient: dY)   // x [*, in], dY [*, out]
  ///
  /// Three GEMMs over all rows: `dX = dY · W`, `dW = dYᵀ · X`, and `db` the column sums of dY;
  /// `x` and `dY` are read through their strides (a view of the LSTM output is not copied when
  /// its rows merge). Allocates the results.
  /// - Throws: the forward's ``LayerError`` for `x`, and
  ///   ``TrainingError/shapeMismatch(name:expected:actual:)`` when `dY` is not `[*, out]` with
  ///   `x`'s leading axes.
  public func backward(input x: Tensor<Scalar>, outputGradient dY: Tensor<Scalar>) throws
    -> LayerGradients<Scalar>
  {
    guard x.rank >= 1, x.shape[x.rank - 1] == inFeatures else {
      throw LayerError.shapeMismatch(
        name: "input", expected: Array(x.shape.dropLast()) + [inFeatures], actual: x.shape)
    }
    try TrainingError.check(
      "outputGradient", dY, is: Array(x.shape.dropLast()) + [outFeatures])
    let rows = x.reshaped([-1, inFeatures])
    let gradientRows = dY.reshaped([-1, outFeatures])
    let dX = matmul(gradientRows, weight)
    var parameters = ["weight": matmul(gradientRows.transposed(0, 1), rows)]
    if hasBias { parameters["bias"] = columnSums(gradientRows) }
    return LayerGradients(input: dX.reshaped(x.shape), parameters: parameters)
  }
}

/// The sums over the rows of an `[N, C]` matrix: `[C]`.
func columnSums<Scalar: BLASScalar>(_ m: Tensor<Scalar>) -> Tensor<Scalar> {
  let ones = Tensor<Scalar>(repeating: 1, shape: [1, m.shape[0]])
  return matmul(ones, m).reshaped([m.shape[1]])
}
