/// Why a backward pass or an optimizer step refused its arguments. Thrown before anything is
/// written: weights, optimizer state and gradients are left as they were.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
  /// The trace was made with other weights than the model now holds.
  case staleTrace(String)
  /// A gradient or parameter has the wrong shape.
  case shapeMismatch(name: String, expected: [Int], actual: [Int])
  /// `step` got a gradient for a parameter it was not given.
  case unknownParameter(String)
  /// `step` got no gradient for a parameter.
  case missingGradient(String)
  /// A loss or gradient holds NaN or an infinity; `name` says which.
  case nonFinite(String)
  /// Targets that do not fit the logits (count, or a class outside `0..<C`).
  case invalidTargets(String)
  /// An optimizer checkpoint that cannot be this optimizer's state: a `step` that is not a
  /// whole number ≥ 0, an unknown entry, a moment without its partner.
  case invalidOptimizerState(String)

  /// A sentence naming what was expected and what arrived.
  public var description: String {
    switch self {
    case .staleTrace(let reason): return "trace: \(reason)"
    case .shapeMismatch(let name, let expected, let actual):
      return "\(name): expected shape \(expected), got \(actual)"
    case .unknownParameter(let name):
      return "step: gradient '\(name)' names no parameter"
    case .missingGradient(let name): return "step: no gradient for parameter '\(name)'"
    case .nonFinite(let name): return "\(name) is not finite (NaN or infinity)"
    case .invalidTargets(let reason): return "targets: \(reason)"
    case .invalidOptimizerState(let reason): return "optimizer state: \(reason)"
    }
  }
}

extension TrainingError {
  /// Throws ``shapeMismatch(name:expected:actual:)`` unless `tensor` has `shape`.
  static func check(_ name: String, _ tensor: Tensor<some BLASScalar>, is shape: [Int]) throws {
    if tensor.shape != shape {
      throw TrainingError.shapeMismatch(name: name, expected: shape, actual: tensor.shape)
    }
  }
}

extension TrainingError {
  /// Throws ``staleTrace(_:)`` unless the trace was made by a model of this geometry holding
  /// these very weights (compared by storage: `loadStateDict` and optimizer steps make new
  /// storage, so any change of weights is seen).
  static func checkTrace<Scalar>(
    model: (geometry: RecurrentGeometry, weights: [DirectionWeights<Scalar>]),
    trace: (geometry: RecurrentGeometry, weights: [DirectionWeights<Scalar>]), name: String
  ) throws {
    let (current, traced) = (
      model.weights.flatMap(\.parameters), trace.weights.flatMap(\.parameters)
    )
    guard model.geometry == trace.geometry, current.count == traced.count,
      zip(current, traced).allSatisfy({ $0.sharesStorage(with: $1) })
    else {
      throw TrainingError.staleTrace(
        "the \(name)'s weights changed since forwardWithTrace (or the trace is another model's); run forwardWithTrace again"
      )
    }
  }
}
