/// A parsed JSON value: just enough JSON for file headers (safetensors, npy dictionaries).
enum JSONValue: Equatable {
  case object([(String, JSONValue)])
  case array([JSONValue])
  case string(String)
  case number(Double, isInteger: Bool, integer: Int?)
  case bool(Bool)
  case null

  static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case (.object(let x), .object(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    case (.array(let x), .array(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.number(let x, _, _), .number(let y, _, _)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    case (.null, .null): return true
    default: return false
    }
  }

  /// The exact integer this number holds, if it is one that fits `Int`.
  var integer: Int? {
    if case .number(_, true, let value) = self { return value }
    return nil
  }
}

/// A strict recursive-descent JSON parser over UTF-8 bytes for file headers; every malformed
/// input throws ``JSONError`` (never traps).
///
/// Memory stays a small multiple of the input (within 12×, asserted by a test): at most
/// one value per ``bytesPerValue`` input bytes, arrays of at most ``maximumArrayLength``
/// elements (headers hold shapes and offsets), nesting at most ``maximumDepth``. Duplicate
/// keys in an object are refused, as the Rust safetensors reader does, rather than silently
/// taking the first or the last.
struct JSONParser {
  private let bytes: [UInt8]
  private var position = 0
  private var depth = 0
  /// Values still allowed: every value costs at least this much input in a real header.
  private var valueBudget: Int
  static let maximumDepth = 64
  static let maximumArrayLength = 64
  static let bytesPerValue = 4

  /// Parses one complete JSON document.
  static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
    var parser = JSONParser(bytes: bytes)
    let value = try parser.value()
    parser.skipWhitespace()
    if parser.position != bytes.count { throw parser.error("trailing characters") }
    return value
  }

  private init(bytes: [UInt8]) {
    self.bytes = bytes
    valueBudget = bytes.count / JSONParser.bytesPerValue + 64
  }

  private func error(_ reason: String) -> JSONError { JSONError(offset: position, reason: reason) }

  private mutating func skipWhitespace() {
    while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) {
      position += 1
    }
  }

  private mutating func value() throws(JSONError) -> JSONValue {
    valueBudget -= 1
    if valueBudget < 0 {
      throw error("more values than a header of \(bytes.count) bytes holds")
    }
    skipWhitespace()
    guard position < bytes.count else { throw error("unexpected end") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try object()
    case UInt8(ascii: "["): return try array()
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .null)
    default: return try number()
    }
  }

  private mutating func literal(_ word: String, _ result: JSONValue) throws(JSONError) -> JSONValue
  {
    let utf8 = Array(word.utf8)
    guard position + utf8.count <= bytes.count,
      Array(bytes[position..<(position + utf8.count)]) == utf8
    else { throw error("invalid literal") }
    position += utf8.count
    return result
  }

  private mutating func nest() throws(JSONError) {
    depth += 1
    if depth > JSONParser.maximumDepth {
      throw error("nesting deeper than \(JSONParser.maximumDepth)")
    }
  }

  private mutating func object() throws(JSONError) -> JSONValue {
    try nest()
    position += 1
    var members: [(String, JSONValue)] = []
    var keys = Set<String>()
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
      position += 1
      depth -= 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
        throw error("expected a string key")
      }
      let keyOffset = position
      let key = try string()
      guard keys.insert(key).inserted else {
        throw JSONError(offset: keyOffset, reason: "duplicate key \(JSONValue.quoted(key))")
      }
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
        throw error("expected ':'")
      }
      position += 1
      members.append((key, try value()))
      skipWhitespace()
      guard position < bytes.count else { throw error("unterminated object") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
      } else if bytes[position] == UInt8(ascii: "}") {
        position += 1
        depth -= 1
        return .object(members)
      } else {
        throw error("expected ',' or '}'")
      }
    }
  }

  private mutating func array() throws(JSONError) -> JSONValue {
    try nest()
    position += 1
    var elements: [JSONValue] = []
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
      position += 1
      depth -= 1
      return .array(elements)
    }
    while true {
      guard elements.count < JSONParser.maximumArrayLength else {
        throw error("an array of more than \(JSONParser.maximumArrayLength) elements")
      }
      elements.append(try value())
      skipWhitespace()
      guard position < bytes.count else { throw error("unterminated array") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
      } else if bytes[position] == UInt8(ascii: "]") {
        position += 1
        depth -= 1
        return .array(elements)
      } else {
        throw error("expected ',' or ']'")
      }
    }
  }

  private mutating func string() throws(JSONError) -> String {
    position += 1
    var scalars = String.UnicodeScalarView()
    var run: [UInt8] = []
    func flush() throws(JSONError) {
      guard let text = String(validating: run, as: UTF8.self) else {
        throw JSONError(offset: position, reason: "string is not valid UTF-8")
      }
      scalars.append(contentsOf: text.unicodeScalars)
      run.removeAll(keepingCapacity: true)
    }
    while position < bytes.count {
      let byte = bytes[position]
      position += 1
      if byte == UInt8(ascii: "\"") {
        try flush()
        return String(scalars)
      }
      if byte < 0x20 { throw error("control character in string") }
      if byte != UInt8(ascii: "\\") {
        run.append(byte)
        continue
      }
      try flush()
      guard position < bytes.count else { break }
      let escape = bytes[position]
      position += 1
      switch escape {
      case UInt8(ascii: "\""): scalars.append("\"")
      case UInt8(ascii: "\\"): scalars.append("\\")
      case UInt8(ascii: "/"): scalars.append("/")
      case UInt8(ascii: "b"): scalars.append("\u{08}")
      case UInt8(ascii: "f"): scalars.append("\u{0C}")
      case UInt8(ascii: "n"): scalars.append("\n")
      case UInt8(ascii: "r"): scalars.append("\r")
      case UInt8(ascii: "t"): scalars.append("\t")
      case UInt8(ascii: "u"):
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
          // A surrogate pair: \uD83D\uDE00.
          guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
            bytes[position + 1] == UInt8(ascii: "u")
          else { throw error("unpaired surrogate") }
          position += 2
          let low = try hex4()
          guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
        scalars.append(scalar)
      default:
        throw error("invalid escape")
      }
    }
    throw error("unterminated string")
  }

  private mutating func hex4() throws(JSONError) -> UInt32 {
    guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
    var code: UInt32 = 0
    for byte in bytes[position..<(position + 4)] {
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw error("invalid hex digit")
      }
      code = code * 16 + UInt32(digit)
    }
    position += 4
    return code
  }

  private mutating func number() throws(JSONError) -> JSONValue {
    let start = position
    if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
    var isInteger = true
    var sawDigit = false
    while position < bytes.count {
      let byte = bytes[position]
      if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
        sawDigit = true
      } else if [
        UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"),
        UInt8(ascii: "-"),
      ]
      .contains(byte) {
        isInteger = false
      } else {
        break
      }
      position += 1
    }
    guard sawDigit, let text = String(validating: bytes[start..<position], as: UTF8.self),
      let value = Double(text)
    else {
      position = start
      throw error("invalid value")
    }
    return .number(value, isInteger: isInteger, integer: isInteger ? Int(text) : nil)
  }
}

/// Malformed JSON, with the byte offset where parsing stopped.
struct JSONError: Error, Equatable {
  var offset: Int
  var reason: String
}

extension JSONValue {
  /// Serialises a string with JSON escapes.
  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}
