import Foundation

/// A loss's value and its gradient with respect to the prediction.
public struct LossValue<Scalar: BLASScalar>: Sendable {
  /// The loss (the mean over rows or elements).
  public var value: Scalar
  /// dL/d(prediction), shaped like the prediction.
  public var gradient: Tensor<Scalar>
}

/// Losses with PyTorch's definitions, each returning its value and gradient in one pass.
///
///     let ce = try Loss.crossEntropy(logits: z, targets: labels)   // z: [N, C]
///     ce.value       // mean over rows, as nn.CrossEntropyLoss()
///     ce.gradient    // [N, C]: (softmax(z) − onehot) / rows counted
public enum Loss {
  /// `nn.CrossEntropyLoss()` (reduction "mean") on `[N, C]` logits and `N` class indices;
  /// rows whose target is `ignoredIndex` count neither in the sum nor in the mean (PyTorch's
  /// `ignore_index`, default -100). Computed with a max-shifted log-sum-exp in Double.
  ///
  /// - Throws: ``TrainingError/shapeMismatch(name:expected:actual:)`` for logits that are not
  ///   `[N, C]`, ``TrainingError/invalidTargets(_:)`` for a wrong count or a class outside
  ///   `0..<C`, ``TrainingError/nonFinite(_:)`` when the loss is not finite (NaN logits, or
  ///   every row ignored).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func crossEntropy<Scalar: BLASScalar>(
    logits: Tensor<Scalar>, targets: [Int], ignoredIndex: Int = -100
  ) throws -> LossValue<Scalar> {
    guard logits.rank == 2 else {
      throw TrainingError.shapeMismatch(
        name: "logits", expected: [targets.count, -1], actual: logits.shape)
    }
    let (rows, classes) = (logits.shape[0], logits.shape[1])
    guard targets.count == rows else {
      throw TrainingError.invalidTargets(
        "expected \(rows) targets (one per row), got \(targets.count)")
    }
    if let bad = targets.firstIndex(where: { $0 != ignoredIndex && !(0..<classes).contains($0) }) {
      throw TrainingError.invalidTargets(
        "targets[\(bad)] = \(targets[bad]) is outside 0..<\(classes) (and not the ignored index \(ignoredIndex))"
      )
    }
    let z = logits.scalars
    let counted = targets.filter { $0 != ignoredIndex }.count
    var gradient = [Scalar](repeating: 0, count: rows * classes)
    var total = 0.0
    for r in 0..<rows where targets[r] != ignoredIndex {
      let row = z[(r * classes)..<((r + 1) * classes)].map(Double.init)
      let top = row.max() ?? 0
      let exps = row.map { Foundation.exp($0 - top) }
      let sum = exps.reduce(0, +)
      total += Foundation.log(sum) + top - row[targets[r]]
      for c in 0..<classes {
        let softmax = exps[c] / sum
        gradient[r * classes + c] =
          Scalar((softmax - (c == targets[r] ? 1 : 0)) / Double(counted))
      }
    }
    // Checked after the conversion: a sum finite in Double can overflow the Scalar.
    let value = Scalar(total / Double(counted))
    guard value.isFinite else { throw TrainingError.nonFinite("cross-entropy loss") }
    return LossValue(value: value, gradient: Tensor(shape: logits.shape, scalars: gradient))
  }

  /// `nn.MSELoss()`: the mean of `(prediction − target)²` over all elements; gradient
  /// `2 (prediction − target) / count`.
  ///
  /// - Throws: ``TrainingError/shapeMismatch(name:expected:actual:)`` when the shapes differ,
  ///   ``TrainingError/nonFinite(_:)`` when the loss is not finite.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func mse<Scalar: BLASScalar>(prediction: Tensor<Scalar>, target: Tensor<Scalar>)
    throws -> LossValue<Scalar>
  {
    try TrainingError.check("target", target, is: prediction.shape)
    let difference = zip(prediction.scalars, target.scalars).map { Double($0) - Double($1) }
    let count = Double(Swift.max(1, difference.count))
    // Checked after the conversion: a value finite in Double can overflow the Scalar.
    let value = Scalar(difference.reduce(0) { $0 + $1 * $1 } / count)
    let gradient = difference.map { Scalar(2 * $0 / count) }
    guard value.isFinite, gradient.allSatisfy(\.isFinite) else {
      throw TrainingError.nonFinite("mean squared error")
    }
    return LossValue(value: value, gradient: Tensor(shape: prediction.shape, scalars: gradient))
  }
}
