/// Why a `.npy` file was rejected. Malformed input throws one of these; none traps, reads out
/// of bounds, or allocates more than the file's own size.
public enum NumPyError: Error, Equatable, CustomStringConvertible {
  /// Not a `.npy` file, or an unsupported format version.
  case notNumPy(String)
  /// The header dictionary is malformed, with the reason.
  case invalidHeader(String)
  /// A dtype other than little/big-endian float32/float64.
  case unsupportedDType(String)
  /// The data is shorter or longer than shape × dtype size.
  case sizeMismatch(shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)

  /// A sentence naming what was expected and what was found.
  public var description: String {
    switch self {
    case .notNumPy(let reason): return "npy: not a NumPy file: \(reason)"
    case .invalidHeader(let reason): return "npy: invalid header: \(reason)"
    case .unsupportedDType(let dtype):
      return "npy: unsupported dtype '\(dtype)' (<f4, >f4, <f8, >f8 are read)"
    case .sizeMismatch(let shape, let dtype, let expected, let actual):
      return "npy: shape \(shape) of \(dtype) needs \(expected) data bytes, the file has \(actual)"
    }
  }
}

/// Reading and writing NumPy's `.npy` format (versions 1–3): float32/float64, little or big
/// endian, C or Fortran order.
///
///     let x: Tensor<Float> = try NumPy.read(contentsOf: "x.npy")
///     try NumPy.write(x, to: "copy.npy")
///
/// A Fortran-order array becomes a tensor with column-major strides (a transposed view of its
/// storage), not a copy into C order.
public enum NumPy {
  static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

  /// Reads one array from a `.npy` file; copies its data into new storage.
  ///
  /// - Throws: ``FileError`` or ``NumPyError``.
  public static func read<Scalar: BLASScalar>(
    contentsOf path: String, as _: Scalar.Type = Scalar.self
  ) throws -> Tensor<Scalar> {
    try decode(FileBytes.read(path))
  }

  /// Decodes `.npy` bytes; copies.
  ///
  /// - Throws: ``NumPyError`` for any malformed input.
  public static func decode<Scalar: BLASScalar>(_ bytes: [UInt8], as _: Scalar.Type = Scalar.self)
    throws(NumPyError) -> Tensor<Scalar>
  {
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
      throw .notNumPy("missing the \\x93NUMPY magic")
    }
    let major = bytes[6]
    let (headerLength, headerStart): (Int, Int)
    switch major {
    case 1:
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    case 2, 3:
      guard bytes.count >= 12 else { throw .notNumPy("truncated version \(major) preamble") }
      headerLength = (8..<12).reversed().reduce(0) { $0 << 8 | Int(bytes[$1]) }
      headerStart = 12
    default:
      throw .notNumPy("format version \(major) is not 1, 2 or 3")
    }
    guard headerLength <= bytes.count - headerStart else {
      throw .notNumPy(
        "the header claims \(headerLength) bytes, \(bytes.count - headerStart) follow")
    }
    guard
      let header = String(
        validating: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    else { throw .invalidHeader("not UTF-8") }
    let fields = try HeaderDictionary.parse(header)
    guard let descr = fields.descr, let fortran = fields.fortranOrder, let shape = fields.shape
    else {
      throw .invalidHeader("needs 'descr', 'fortran_order' and 'shape'")
    }
    let elementSize: Int
    let bigEndian: Bool
    switch descr {
    case "<f4", "=f4": (elementSize, bigEndian) = (4, false)
    case ">f4": (elementSize, bigEndian) = (4, true)
    case "<f8", "=f8": (elementSize, bigEndian) = (8, false)
    case ">f8": (elementSize, bigEndian) = (8, true)
    default: throw .unsupportedDType(descr)
    }
    guard let count = TensorLayout.addressableCount(shape) else {
      throw .invalidHeader("shape \(shape) has more elements than Int can address")
    }
    let dataStart = headerStart + headerLength
    let (needed, overflow) = count.multipliedReportingOverflow(by: elementSize)
    guard !overflow, needed == bytes.count - dataStart else {
      throw .sizeMismatch(
        shape: shape, dtype: descr, expectedBytes: overflow ? Int.max : needed,
        actualBytes: bytes.count - dataStart)
    }
    let storage = TensorStorage<Scalar>(zeroedCount: count)
    bytes.withUnsafeBytes { raw in
      let base = raw.baseAddress! + dataStart
      for i in 0..<count {
        if elementSize == 4 {
          let bits = base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
          storage.base[i] = Scalar(
            Float(bitPattern: bigEndian ? UInt32(bigEndian: bits) : UInt32(littleEndian: bits)))
        } else {
          let bits = base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
          storage.base[i] = Scalar(
            Double(bitPattern: bigEndian ? UInt64(bigEndian: bits) : UInt64(littleEndian: bits)))
        }
      }
    }
    // Fortran order: the storage is column-major, so the first axis has stride 1.
    let layout =
      fortran
      ? TensorLayout(
        shape: shape,
        strides: TensorLayout.rowMajorStrides(for: shape.reversed()).reversed(), offset: 0)
      : TensorLayout(contiguous: shape)
    return Tensor(storage: storage, layout: layout)
  }

  /// Encodes a tensor as a `.npy` (little-endian `<f4`/`<f8`, C order); copies. Format
  /// version 1.0, or 2.0 when the header needs more than 65,535 bytes (NumPy's rule).
  public static func encode<Scalar: BLASScalar>(_ tensor: Tensor<Scalar>) -> [UInt8] {
    let descr = Scalar.precision == .single ? "<f4" : "<f8"
    let shape =
      tensor.shape.count == 1
      ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
    let dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
    // Pad so that the data starts on a 64-byte boundary; the header ends with a newline. The
    // preamble is magic, version and a 2-byte length (version 1) or a 4-byte one (version 2).
    func padded(preamble: Int) -> [UInt8] {
      let unpadded = preamble + dictionary.utf8.count + 1
      return Array(dictionary.utf8) + [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
        + [0x0A]
    }
    var header = padded(preamble: 10)
    var bytes: [UInt8]
    if header.count <= Int(UInt16.max) {
      bytes = magic + [1, 0] + [UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
    } else {
      header = padded(preamble: 12)
      bytes = magic + [2, 0] + (0..<4).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
    }
    bytes += header
    for value in tensor.scalars {
      switch Scalar.precision {
      case .single: withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { bytes += $0 }
      case .double: withUnsafeBytes(of: Double(value).bitPattern.littleEndian) { bytes += $0 }
      }
    }
    return bytes
  }

  /// Writes a tensor to a `.npy` file atomically.
  ///
  /// - Throws: ``FileError`` when the file cannot be written.
  public static func write<Scalar: BLASScalar>(_ tensor: Tensor<Scalar>, to path: String) throws {
    try FileBytes.write(encode(tensor), to: path)
  }
}

/// The three fields of a `.npy` header, a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
struct HeaderDictionary {
  var descr: String?
  var fortranOrder: Bool?
  var shape: [Int]?

  static func parse(_ text: String) throws(NumPyError) -> HeaderDictionary {
    var scanner = Scanner(Array(text.utf8))
    var result = HeaderDictionary()
    try scanner.expect(UInt8(ascii: "{"))
    while true {
      scanner.skipSpaces()
      if scanner.take(UInt8(ascii: "}")) { break }
      let key = try scanner.quoted()
      scanner.skipSpaces()
      try scanner.expect(UInt8(ascii: ":"))
      scanner.skipSpaces()
      switch key {
      case "descr": result.descr = try scanner.quoted()
      case "fortran_order": result.fortranOrder = try scanner.boolean()
      case "shape": result.shape = try scanner.tuple()
      default: throw .invalidHeader("unknown key '\(key)'")
      }
      scanner.skipSpaces()
      if scanner.take(UInt8(ascii: ",")) { continue }
      scanner.skipSpaces()
      try scanner.expect(UInt8(ascii: "}"))
      break
    }
    return result
  }

  struct Scanner {
    var bytes: [UInt8]
    var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpaces() {
      while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A {
        position += 1
      }
    }

    mutating func take(_ byte: UInt8) -> Bool {
      guard position < bytes.count, bytes[position] == byte else { return false }
      position += 1
      return true
    }

    mutating func expect(_ byte: UInt8) throws(NumPyError) {
      guard take(byte) else {
        throw .invalidHeader("expected '\(Character(Unicode.Scalar(byte)))' at byte \(position)")
      }
    }

    mutating func quoted() throws(NumPyError) -> String {
      guard position < bytes.count, bytes[position] == 0x27 || bytes[position] == 0x22 else {
        throw .invalidHeader("expected a quoted string at byte \(position)")
      }
      let quote = bytes[position]
      position += 1
      let start = position
      while position < bytes.count, bytes[position] != quote { position += 1 }
      guard position < bytes.count else { throw .invalidHeader("unterminated string") }
      position += 1
      return String(decoding: bytes[start..<(position - 1)], as: UTF8.self)
    }

    mutating func boolean() throws(NumPyError) -> Bool {
      for (word, value) in [("True", true), ("False", false)] {
        let utf8 = Array(word.utf8)
        if position + utf8.count <= bytes.count,
          Array(bytes[position..<(position + utf8.count)]) == utf8
        {
          position += utf8.count
          return value
        }
      }
      throw .invalidHeader("expected True or False at byte \(position)")
    }

    mutating func tuple() throws(NumPyError) -> [Int] {
      try expect(UInt8(ascii: "("))
      var values: [Int] = []
      while true {
        skipSpaces()
        if take(UInt8(ascii: ")")) { return values }
        let start = position
        while position < bytes.count, (0x30...0x39).contains(bytes[position]) { position += 1 }
        guard position > start, position - start <= 18,
          let value = Int(String(decoding: bytes[start..<position], as: UTF8.self))
        else { throw .invalidHeader("expected a size at byte \(start)") }
        values.append(value)
        skipSpaces()
        if take(UInt8(ascii: ",")) { continue }
        skipSpaces()
        try expect(UInt8(ascii: ")"))
        return values
      }
    }
  }
}
