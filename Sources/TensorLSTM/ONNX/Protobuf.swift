/// A reader of protobuf's wire format over a byte buffer: varints, fixed 32/64-bit words and
/// length-delimited fields, every length and position checked against the buffer's end.
///
/// It knows nothing of ONNX: ``ONNXProto`` asks it for fields by number. Errors name the field
/// path the caller gives (`"graph.node[3].input"`), so a bad file says where it is bad.
struct ProtobufReader {
  /// The wire types protobuf defines (3 and 4, groups, are refused).
  enum WireType: UInt64 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
  }

  let bytes: UnsafeRawBufferPointer
  var position: Int
  let end: Int
  /// Where this reader's message sits, for errors.
  let path: String

  init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>, path: String) {
    self.bytes = bytes
    self.position = range.lowerBound
    self.end = range.upperBound
    self.path = path
  }

  var isAtEnd: Bool { position >= end }

  func error(_ field: String, _ reason: String) -> ONNXError {
    .malformed(field: path.isEmpty ? field : path + "." + field, reason: reason)
  }

  /// The next field's number and wire type.
  mutating func nextKey() throws(ONNXError) -> (number: Int, wire: WireType) {
    let start = position
    let key = try varint("field key at byte \(start)")
    let number = key >> 3
    guard number >= 1, number <= 536_870_911 else {
      throw error("field key at byte \(start)", "field number \(number) is out of range")
    }
    guard let wire = WireType(rawValue: key & 7) else {
      throw error(
        "field \(number) at byte \(start)",
        "wire type \(key & 7) is not one of 0, 1, 2, 5 (groups are not used by ONNX)")
    }
    return (Int(number), wire)
  }

  /// A base-128 varint of at most 10 bytes.
  mutating func varint(_ field: String) throws(ONNXError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard position < end else { throw error(field, "the varint runs past the end of the data") }
      let byte = bytes[position]
      position += 1
      if shift == 63 && byte > 1 {
        throw error(field, "the varint does not fit in 64 bits")
      }
      result |= UInt64(byte & 0x7f) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
      if shift > 63 { throw error(field, "the varint is longer than 10 bytes") }
    }
  }

  /// A little-endian word of `size` bytes (4 or 8).
  mutating func fixed(_ size: Int, _ field: String) throws(ONNXError) -> UInt64 {
    guard end - position >= size else {
      throw error(field, "needs \(size) bytes, \(end - position) remain")
    }
    var value: UInt64 = 0
    for i in 0..<size { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
    position += size
    return value
  }

  /// The byte range of a length-delimited field's payload.
  mutating func lengthDelimited(_ field: String) throws(ONNXError) -> Range<Int> {
    let length = try varint(field + " length")
    guard length <= UInt64(end - position) else {
      throw error(field, "claims \(length) bytes, \(end - position) remain")
    }
    let range = position..<(position + Int(length))
    position = range.upperBound
    return range
  }

  /// Skips a field of `wire` type that the caller does not read.
  mutating func skip(_ wire: WireType, _ field: String) throws(ONNXError) {
    switch wire {
    case .varint: _ = try varint(field)
    case .fixed64: _ = try fixed(8, field)
    case .fixed32: _ = try fixed(4, field)
    case .lengthDelimited: _ = try lengthDelimited(field)
    }
  }

  /// A nested message's reader.
  mutating func message(_ field: String) throws(ONNXError) -> ProtobufReader {
    let range = try lengthDelimited(field)
    return ProtobufReader(bytes, range: range, path: path.isEmpty ? field : path + "." + field)
  }

  /// A UTF-8 string (invalid sequences are refused: ONNX names are text).
  mutating func string(_ field: String) throws(ONNXError) -> String {
    let range = try lengthDelimited(field)
    let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
    guard let text = String(validating: slice, as: UTF8.self) else {
      throw error(field, "is not valid UTF-8")
    }
    return text
  }

  /// The raw bytes of a length-delimited field.
  mutating func data(_ field: String) throws(ONNXError) -> [UInt8] {
    let range = try lengthDelimited(field)
    return Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
  }

  /// A signed 64-bit integer field (two's-complement varint).
  mutating func int64(_ wire: WireType, _ field: String) throws(ONNXError) -> Int64 {
    guard wire == .varint else { throw error(field, "expected a varint, got wire type \(wire)") }
    return Int64(bitPattern: try varint(field))
  }

  /// A repeated varint field, packed or not: appends to `values`, at most `limit` in all.
  mutating func repeatedVarints(
    _ wire: WireType, _ field: String, into values: inout [Int64], limit: Int
  ) throws(ONNXError) {
    if wire == .varint {
      guard values.count < limit else { throw error(field, "more than \(limit) values") }
      values.append(Int64(bitPattern: try varint(field)))
      return
    }
    guard wire == .lengthDelimited else {
      throw error(field, "expected varints, got wire type \(wire)")
    }
    let range = try lengthDelimited(field)
    var inner = ProtobufReader(bytes, range: range, path: path)
    while !inner.isAtEnd {
      guard values.count < limit else { throw error(field, "more than \(limit) values") }
      values.append(Int64(bitPattern: try inner.varint(field)))
    }
  }

  /// A repeated float field, packed or not.
  mutating func repeatedFloats(
    _ wire: WireType, _ field: String, into values: inout [Float], limit: Int
  ) throws(ONNXError) {
    try repeatedFixed(wire, size: 4, "floats", field, into: &values, limit: limit) {
      Float(bitPattern: UInt32($0))
    }
  }

  /// A repeated double field, packed or not.
  mutating func repeatedDoubles(
    _ wire: WireType, _ field: String, into values: inout [Double], limit: Int
  ) throws(ONNXError) {
    try repeatedFixed(wire, size: 8, "doubles", field, into: &values, limit: limit) {
      Double(bitPattern: $0)
    }
  }

  /// A repeated field of `size`-byte little-endian words (4: fixed32, 8: fixed64), packed or
  /// not, each converted by `make`; at most `limit` values in all. `kind` names them in errors.
  mutating func repeatedFixed<T>(
    _ wire: WireType, size: Int, _ kind: String, _ field: String, into values: inout [T],
    limit: Int,
    _ make: (UInt64) -> T
  ) throws(ONNXError) {
    let single: WireType = size == 4 ? .fixed32 : .fixed64
    if wire == single {
      guard values.count < limit else { throw error(field, "more than \(limit) values") }
      values.append(make(try fixed(size, field)))
      return
    }
    guard wire == .lengthDelimited else {
      throw error(field, "expected \(size * 8)-bit floats, got wire type \(wire)")
    }
    let range = try lengthDelimited(field)
    guard range.count % size == 0 else {
      throw error(
        field, "packed \(kind) take \(range.count) bytes, not a multiple of \(size)")
    }
    guard values.count + range.count / size <= limit else {
      throw error(field, "more than \(limit) values")
    }
    var inner = ProtobufReader(bytes, range: range, path: path)
    while !inner.isAtEnd { values.append(make(try inner.fixed(size, field))) }
  }
}
