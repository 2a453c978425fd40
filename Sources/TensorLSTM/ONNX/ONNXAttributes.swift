/// A node's attributes by name with typed getters that throw ``ONNXError/invalidModel(_:)``
/// naming the node and attribute when one has the wrong type; each getter marks its attribute
/// read, so an attribute the loader does not know can be refused rather than ignored.
struct ONNXAttributes {
  let node: String
  let byName: [String: ONNXProto.Attribute]

  init(_ node: ONNXProto.Node) throws(ONNXError) {
    self.node = node.name.isEmpty ? node.opType : node.name
    var byName: [String: ONNXProto.Attribute] = [:]
    for a in node.attributes {
      if a.refAttributeName != nil {
        throw ONNXError.unsupported(
          "node '\(self.node)': attribute '\(a.name)' refers to a function attribute (ref_attr_name); functions are not supported"
        )
      }
      guard byName.updateValue(a, forKey: a.name) == nil else {
        throw ONNXError.invalidModel("node '\(self.node)': attribute '\(a.name)' appears twice")
      }
    }
    self.byName = byName
  }

  func fail(_ name: String, _ expected: String) -> ONNXError {
    .invalidModel("node '\(node)': attribute '\(name)' must be \(expected)")
  }

  func int(_ name: String) throws(ONNXError) -> Int? {
    guard let a = byName[name] else { return nil }
    guard let v = a.int, a.type == 0 || a.type == 2 else { throw fail(name, "an int") }
    guard let i = Int(exactly: v) else { throw fail(name, "an int") }
    return i
  }

  func int(_ name: String, default value: Int) throws(ONNXError) -> Int {
    try int(name) ?? value
  }

  func float(_ name: String) throws(ONNXError) -> Float? {
    guard let a = byName[name] else { return nil }
    guard let v = a.float, a.type == 0 || a.type == 1 else { throw fail(name, "a float") }
    return v
  }

  func ints(_ name: String) throws(ONNXError) -> [Int]? {
    guard let a = byName[name] else { return nil }
    guard a.type == 0 || a.type == 7 else { throw fail(name, "a list of ints") }
    return a.ints.map { Int($0) }
  }

  func floats(_ name: String) throws(ONNXError) -> [Float]? {
    guard let a = byName[name] else { return nil }
    guard a.type == 0 || a.type == 6 else { throw fail(name, "a list of floats") }
    return a.floats
  }

  func string(_ name: String) throws(ONNXError) -> String? {
    guard let a = byName[name] else { return nil }
    guard let bytes = a.string, a.type == 0 || a.type == 3,
      let text = String(validating: bytes, as: UTF8.self)
    else { throw fail(name, "a UTF-8 string") }
    return text
  }

  func strings(_ name: String) throws(ONNXError) -> [String]? {
    guard let a = byName[name] else { return nil }
    guard a.type == 0 || a.type == 8 else { throw fail(name, "a list of strings") }
    var result: [String] = []
    for bytes in a.strings {
      guard let text = String(validating: bytes, as: UTF8.self) else {
        throw fail(name, "a list of UTF-8 strings")
      }
      result.append(text)
    }
    return result
  }

  func tensor(_ name: String) throws(ONNXError) -> ONNXValue? {
    guard let a = byName[name] else { return nil }
    guard let t = a.tensor, a.type == 0 || a.type == 4 else { throw fail(name, "a tensor") }
    return try t.value()
  }

  func graph(_ name: String) throws(ONNXError) -> ONNXProto.Graph? {
    guard let a = byName[name] else { return nil }
    guard let g = a.graph, a.type == 0 || a.type == 5 else { throw fail(name, "a graph") }
    return g
  }

  /// Refuses attributes outside `known`: an attribute that changes the meaning must not be
  /// silently ignored.
  func allowOnly(_ known: Set<String>, op: String) throws(ONNXError) {
    for name in byName.keys.sorted() where !known.contains(name) {
      throw ONNXError.unsupported(
        "node '\(node)': \(op) attribute '\(name)' is not supported (known: \(known.sorted().joined(separator: ", ")))"
      )
    }
  }
}
