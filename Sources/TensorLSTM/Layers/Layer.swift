/// A layer whose parameters have PyTorch names and can be saved and restored as a state dict.
///
///     var lstm = LSTM<Float>(inputSize: 4, hiddenSize: 8)
///     try lstm.loadStateDict(weights, prefix: "encoder.lstm.")
public protocol StateDictLayer<Scalar> {
  /// The parameters' scalar type.
  associatedtype Scalar: BLASScalar
  /// Every parameter's PyTorch name and shape, in PyTorch's registration order.
  var parameterShapes: [(name: String, shape: [Int])] { get }
  /// The parameters by PyTorch name; O(parameters), shares storage.
  func stateDict() -> [String: Tensor<Scalar>]
  /// Replaces every parameter; validates all names and shapes before changing anything.
  mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws
}

extension StateDictLayer {
  /// Loads the entries of `dict` whose keys start with `prefix` (e.g. `"encoder.lstm."`),
  /// with the prefix removed; other keys are ignored. Copies the tensors it keeps.
  ///
  /// - Throws: ``LayerError`` naming the full key when a parameter is missing or misshapen.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>], prefix: String) throws {
    var selected: [String: Tensor<Scalar>] = [:]
    for (key, value) in dict where key.hasPrefix(prefix) {
      selected[String(key.dropFirst(prefix.count))] = value
    }
    do {
      try loadStateDict(selected)
    } catch let error as LayerError {
      throw error.prefixed(prefix)
    }
  }
}

extension LayerError {
  func prefixed(_ prefix: String) -> LayerError {
    switch self {
    case .shapeMismatch(let name, let expected, let actual):
      return .shapeMismatch(name: prefix + name, expected: expected, actual: actual)
    case .missingKey(let key, let expected): return .missingKey(prefix + key, expected: expected)
    case .unexpectedKey(let key, let actual): return .unexpectedKey(prefix + key, actual: actual)
    default: return self
    }
  }
}

/// Stops with a message naming `layer` when a parameter shape's element count does not fit in
/// `Int` (a programmer mistake: sizes far beyond any memory).
func requireCountable(_ shapes: [[Int]], _ layer: @autoclosure () -> String) {
  for shape in shapes {
    require(
      TensorLayout.addressableCount(shape) != nil,
      "\(layer()): a parameter of shape \(shape) has more elements than Int can count; use smaller sizes"
    )
  }
}

/// Draws PyTorch's default `Linear`/`Conv1d` initialisation: U(−1/√fanIn, 1/√fanIn) for the
/// weight (kaiming_uniform with a = √5) and the bias.
func uniformParameters<Scalar: BLASScalar>(
  shapes: [[Int]], fanIn: Int, seed: UInt64
) -> [Tensor<Scalar>] {
  var generator = SeededGenerator(seed: seed)
  let bound = 1 / Scalar(Swift.max(fanIn, 1)).squareRoot()
  return shapes.map { .randomUniform(shape: $0, in: -bound...bound, using: &generator) }
}

/// The state-dict logic shared by layers whose parameters are a `weight` and an optional
/// `bias` (`Linear`, `Conv1d`).
enum WeightAndBias {
  static func stateDict<Scalar>(_ weight: Tensor<Scalar>, _ bias: Tensor<Scalar>?)
    -> [String: Tensor<Scalar>]
  {
    var result = ["weight": weight]
    result["bias"] = bias
    return result
  }

  /// Validates `dict` against `expected`, then returns contiguous copies of its tensors.
  static func load<Scalar>(
    _ dict: [String: Tensor<Scalar>], expected: [(name: String, shape: [Int])]
  ) throws -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>?) {
    try StateDictCheck.validate(dict, expected: expected)
    return (dict["weight"]!.contiguous(), dict["bias"]?.contiguous())
  }
}

/// Checks a state dict against the expected names and shapes, throwing the first problem.
enum StateDictCheck {
  static func validate<Scalar>(
    _ dict: [String: Tensor<Scalar>], expected: [(name: String, shape: [Int])]
  ) throws {
    for (name, shape) in expected {
      guard let tensor = dict[name] else { throw LayerError.missingKey(name, expected: shape) }
      if tensor.shape != shape {
        throw LayerError.shapeMismatch(name: name, expected: shape, actual: tensor.shape)
      }
    }
    let known = Set(expected.map(\.name))
    if let extra = dict.keys.sorted().first(where: { !known.contains($0) }) {
      throw LayerError.unexpectedKey(extra, actual: dict[extra]!.shape)
    }
  }
}
