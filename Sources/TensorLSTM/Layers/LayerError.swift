/// Why a layer rejected data that came from outside: an input, an initial state, `lengths`, or
/// a state dict. Thrown before anything is written, so the layer stays usable.
public enum LayerError: Error, Equatable, CustomStringConvertible {
  /// A tensor (named by `name`: "input", "initialState.hidden", a state-dict key, …) has the
  /// wrong shape.
  case shapeMismatch(name: String, expected: [Int], actual: [Int])
  /// A tensor has the wrong number of axes; `expected` describes the accepted layouts.
  case rankMismatch(name: String, expected: String, actual: [Int])
  /// A state dict lacks a parameter the layer needs.
  case missingKey(String, expected: [Int])
  /// A state dict has a parameter the layer does not know.
  case unexpectedKey(String, actual: [Int])
  /// `lengths` has the wrong count or a value outside `1...steps`.
  case invalidLengths(String)
  /// A request the layer cannot serve, with the reason.
  case unsupported(String)
  /// A value the layer cannot take (a token id outside the vocabulary, or not a whole number).
  case invalidValue(name: String, reason: String)

  /// A sentence naming what was expected and what arrived.
  public var description: String {
    switch self {
    case .shapeMismatch(let name, let expected, let actual):
      return "\(name): expected shape \(expected), got \(actual)"
    case .rankMismatch(let name, let expected, let actual):
      return "\(name): expected \(expected), got shape \(actual)"
    case .missingKey(let key, let expected):
      return "state dict: missing key '\(key)' (expected shape \(expected))"
    case .unexpectedKey(let key, let actual):
      return "state dict: unexpected key '\(key)' (shape \(actual))"
    case .invalidLengths(let reason):
      return "lengths: \(reason)"
    case .unsupported(let reason):
      return reason
    case .invalidValue(let name, let reason):
      return "\(name): \(reason)"
    }
  }
}

extension LayerError {
  /// Throws ``shapeMismatch(name:expected:actual:)`` unless `tensor` has `shape`.
  static func check(_ name: String, _ tensor: Tensor<some BLASScalar>, is shape: [Int]) throws {
    if tensor.shape != shape {
      throw LayerError.shapeMismatch(name: name, expected: shape, actual: tensor.shape)
    }
  }
}
