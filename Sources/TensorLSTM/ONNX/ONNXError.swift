/// Why an ONNX file could not be loaded or a run could not start, naming what was expected
/// and what the file or the caller gave.
///
///     do { let model = try ONNXModel(contentsOf: url) }
///     catch let error as ONNXError { print(error) }   // e.g. "malformed ONNX file: …"
///
/// Loading checks everything it can (the wire format, every length and index, opsets,
/// operators, attributes, constant shapes) so that a model that loads only fails at run time on
/// data that contradicts it; nothing is half-loaded.
public enum ONNXError: Error, Equatable, CustomStringConvertible {
  /// The bytes are not a well-formed `ModelProto`: `field` names where (e.g.
  /// "graph.node[3].attribute[0].t.dims"), `reason` what was wrong.
  case malformed(field: String, reason: String)
  /// Operators this loader does not run, each as "domain::op_type (node 'name')", all of them.
  case unsupportedOperators([String])
  /// A construct the loader understands but does not run (external data, a tensor type, an
  /// attribute value), with what to do about it.
  case unsupported(String)
  /// The graph contradicts itself: a value used before it is defined, a wrong input count, an
  /// attribute out of range, a constant of the wrong shape.
  case invalidModel(String)
  /// The inputs given to ``ONNXModel/run(_:)`` do not match the model's: names missing or
  /// unknown, a wrong element type, a shape that contradicts a fixed dimension.
  case invalidInput(name: String, expected: String, actual: String)
  /// A node's inputs at run time contradict what it needs (`node` is its name or op type).
  case runtime(node: String, reason: String)
  /// The file could not be read.
  case file(FileError)

  /// The error in one sentence.
  public var description: String {
    switch self {
    case .malformed(let field, let reason): "malformed ONNX file: \(field): \(reason)"
    case .unsupportedOperators(let ops):
      "unsupported ONNX operators (\(ops.count)): \(ops.joined(separator: ", "))"
    case .unsupported(let reason): "unsupported ONNX construct: \(reason)"
    case .invalidModel(let reason): "invalid ONNX model: \(reason)"
    case .invalidInput(let name, let expected, let actual):
      "ONNX input '\(name)': expected \(expected), got \(actual)"
    case .runtime(let node, let reason): "ONNX node '\(node)': \(reason)"
    case .file(let error): "ONNX file \(error)"
    }
  }
}

/// The most elements an operator may create from sizes it reads out of the model's data
/// (`ConstantOfShape`, `Expand`, `Range`, `Pad`): 2²⁸ at run time; 2²² while folding constants
/// at load, where a larger value is left to be computed at run time instead (so a hostile file
/// cannot make loading allocate gigabytes).
enum ONNXLimits {
  @TaskLocal static var elements = 1 << 28
  static let folding = 1 << 22

  static func check(_ count: Int, _ node: String) throws(ONNXError) {
    if count > elements {
      throw ONNXError.runtime(
        node: node,
        reason:
          "would create \(count == .max ? "more than 2⁶³" : "\(count)") elements, more than the \(elements) allowed"
      )
    }
  }
}
