/// Why a safetensors file was rejected. Every malformed input throws one of these; none traps,
/// reads out of bounds, or allocates more than the file's own size.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible {
  /// Fewer bytes than the format needs (under 8 bytes, or a header past the end).
  case truncated(String)
  /// The header is not a JSON object of tensor entries, with the reason.
  case invalidHeader(String)
  /// A tensor has a dtype this library does not read.
  case unknownDType(tensor: String, dtype: String)
  /// A tensor's shape × dtype size differs from its byte range.
  case sizeMismatch(
    tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
  /// A tensor's byte range lies outside the data section.
  case offsetsOutOfRange(tensor: String, begin: Int, end: Int, dataSize: Int)
  /// Two tensors claim overlapping bytes.
  case overlapping(String, String)

  /// A sentence naming the tensor, what was expected and what was found.
  public var description: String {
    switch self {
    case .truncated(let reason): return "safetensors: truncated file: \(reason)"
    case .invalidHeader(let reason): return "safetensors: invalid header: \(reason)"
    case .unknownDType(let tensor, let dtype):
      return
        "safetensors: tensor '\(tensor)' has unsupported dtype '\(dtype)' (F64, F32, F16, BF16, I64, I32 are read)"
    case .sizeMismatch(let tensor, let shape, let dtype, let expected, let actual):
      return
        "safetensors: tensor '\(tensor)' of shape \(shape) and dtype \(dtype) needs \(expected) bytes but its offsets span \(actual)"
    case .offsetsOutOfRange(let tensor, let begin, let end, let size):
      return
        "safetensors: tensor '\(tensor)' spans bytes \(begin)..<\(end) but the data section has \(size)"
    case .overlapping(let a, let b): return "safetensors: tensors '\(a)' and '\(b)' overlap"
    }
  }
}

/// Reading and writing the safetensors format: `[u64 little-endian header size][JSON header]
/// [data]`, the header mapping each name to `dtype`, `shape` and `data_offsets`.
///
///     let weights: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: "lstm.safetensors")
///     try SafeTensors.write(["weight": w], to: "out.safetensors")
///
/// F64, F32, F16, BF16, I64 and I32 tensors are converted to the requested scalar type on read.
public enum SafeTensors {
  /// The largest header accepted (the reference implementation's limit).
  public static let maximumHeaderSize = 100_000_000

  static let dtypeSizes: [String: Int] = [
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
  ]

  /// Reads every tensor of a safetensors file; copies them into new storage.
  ///
  /// - Throws: ``FileError`` when the file cannot be read, ``SafeTensorsError`` when it is
  ///   malformed.
  public static func read<Scalar: BLASScalar>(
    contentsOf path: String, as _: Scalar.Type = Scalar.self
  ) throws -> [String: Tensor<Scalar>] {
    try decode(FileBytes.read(path))
  }

  /// Decodes safetensors bytes into tensors by name; copies.
  ///
  /// - Throws: ``SafeTensorsError`` for any malformed input.
  public static func decode<Scalar: BLASScalar>(_ bytes: [UInt8], as _: Scalar.Type = Scalar.self)
    throws(SafeTensorsError) -> [String: Tensor<Scalar>]
  {
    let entries = try header(bytes)
    var result: [String: Tensor<Scalar>] = [:]
    for entry in entries {
      result[entry.name] = bytes.withUnsafeBytes { raw in
        convert(raw, from: entry.begin, count: entry.count, dtype: entry.dtype, shape: entry.shape)
      }
    }
    return result
  }

  /// The `__metadata__` strings of a safetensors header, without reading tensor data.
  public static func metadata(_ bytes: [UInt8]) throws(SafeTensorsError) -> [String: String] {
    guard case .object(let members) = try headerJSON(bytes).json else { return [:] }
    var result: [String: String] = [:]
    if case .object(let pairs)? = members.first(where: { $0.0 == "__metadata__" })?.1 {
      for (key, value) in pairs { if case .string(let text) = value { result[key] = text } }
    }
    return result
  }

  /// The `__metadata__` strings of a safetensors file.
  ///
  /// - Throws: ``FileError`` or ``SafeTensorsError``.
  public static func metadata(contentsOf path: String) throws -> [String: String] {
    try metadata(FileBytes.read(path))
  }

  struct Entry {
    var name: String
    var dtype: String
    var shape: [Int]
    var begin: Int
    var count: Int
  }

  static func headerJSON(_ bytes: [UInt8]) throws(SafeTensorsError) -> (
    json: JSONValue, dataStart: Int
  ) {
    guard bytes.count >= 8 else {
      throw .truncated("\(bytes.count) bytes, but the header size alone takes 8")
    }
    var declared: UInt64 = 0
    for i in (0..<8).reversed() { declared = declared << 8 | UInt64(bytes[i]) }
    guard declared <= UInt64(bytes.count - 8) else {
      throw .truncated("the header claims \(declared) bytes but only \(bytes.count - 8) follow")
    }
    guard declared <= UInt64(maximumHeaderSize) else {
      throw .invalidHeader("header of \(declared) bytes exceeds \(maximumHeaderSize)")
    }
    let headerEnd = 8 + Int(declared)
    let json: JSONValue
    do {
      json = try JSONParser.parse(Array(bytes[8..<headerEnd]))
    } catch {
      throw .invalidHeader("JSON error at byte \(error.offset): \(error.reason)")
    }
    return (json, headerEnd)
  }

  static func header(_ bytes: [UInt8]) throws(SafeTensorsError) -> [Entry] {
    let (json, dataStart) = try headerJSON(bytes)
    guard case .object(let members) = json else {
      throw .invalidHeader("the header is not a JSON object")
    }
    let dataSize = bytes.count - dataStart
    var entries: [Entry] = []
    var seen = Set<String>()
    for (name, value) in members where name != "__metadata__" {
      guard seen.insert(name).inserted else { throw .invalidHeader("duplicate tensor '\(name)'") }
      guard case .object(let fields) = value,
        case .string(let dtype)? = fields.first(where: { $0.0 == "dtype" })?.1,
        case .array(let shapeValues)? = fields.first(where: { $0.0 == "shape" })?.1,
        case .array(let offsetValues)? = fields.first(where: { $0.0 == "data_offsets" })?.1
      else {
        throw .invalidHeader("tensor '\(name)' needs dtype, shape and data_offsets")
      }
      guard let elementSize = dtypeSizes[dtype] else {
        throw .unknownDType(tensor: name, dtype: dtype)
      }
      var shape: [Int] = []
      for dimension in shapeValues {
        guard let size = dimension.integer, size >= 0 else {
          throw .invalidHeader("tensor '\(name)' has a shape entry that is not a size ≥ 0")
        }
        shape.append(size)
      }
      guard let count = TensorLayout.addressableCount(shape) else {
        throw .invalidHeader(
          "tensor '\(name)': shape \(shape) has more elements than Int can address")
      }
      guard offsetValues.count == 2, let begin = offsetValues[0].integer,
        let end = offsetValues[1].integer, begin >= 0, end >= begin
      else {
        throw .invalidHeader("tensor '\(name)' needs data_offsets [begin, end] with begin ≤ end")
      }
      guard end <= dataSize else {
        throw .offsetsOutOfRange(tensor: name, begin: begin, end: end, dataSize: dataSize)
      }
      let (bytesNeeded, overflow) = count.multipliedReportingOverflow(by: elementSize)
      guard !overflow, bytesNeeded == end - begin else {
        throw .sizeMismatch(
          tensor: name, shape: shape, dtype: dtype, expectedBytes: overflow ? Int.max : bytesNeeded,
          actualBytes: end - begin)
      }
      entries.append(
        Entry(name: name, dtype: dtype, shape: shape, begin: dataStart + begin, count: count))
    }
    // Every pair of non-empty byte ranges, in one pass: sorted by start, each must begin at or
    // after the furthest end so far (empty tensors own no bytes and are left out, not skipped
    // over).
    let ordered = entries.filter { $0.count > 0 }.sorted { $0.begin < $1.begin }
    var furthest: (end: Int, name: String)? = nil
    for entry in ordered {
      if let furthest, entry.begin < furthest.end {
        throw .overlapping(furthest.name, entry.name)
      }
      let end = entry.begin + entry.count * dtypeSizes[entry.dtype]!
      if end > furthest?.end ?? Int.min { furthest = (end, entry.name) }
    }
    return entries
  }

  static func convert<Scalar: BLASScalar>(
    _ raw: UnsafeRawBufferPointer, from begin: Int, count: Int, dtype: String, shape: [Int]
  ) -> Tensor<Scalar> {
    let storage = TensorStorage<Scalar>(zeroedCount: count)
    let base = raw.baseAddress! + begin
    for i in 0..<count {
      let value: Scalar
      switch dtype {
      case "F64":
        value = Scalar(
          Double(
            bitPattern: UInt64(
              littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
      case "F32":
        value = Scalar(
          Float(
            bitPattern: UInt32(
              littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
      case "F16":
        value = Scalar(
          halfToFloat(
            UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
      case "BF16":
        let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        value = Scalar(Float(bitPattern: UInt32(bits) << 16))
      case "I64":
        value = Scalar(
          Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
      default:  // I32
        value = Scalar(
          Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
      }
      storage.base[i] = value
    }
    return Tensor(storage: storage, layout: TensorLayout(contiguous: shape))
  }

  /// IEEE binary16 bits → Float, including subnormals, infinities and NaN.
  static func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int(bits >> 10 & 0x1F)
    let fraction = Float(bits & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default:
      return sign * (1 + fraction / 1024)
        * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
  }

  /// Encodes tensors as safetensors bytes (F32 for `Float`, F64 for `Double`), names sorted,
  /// header padded to 8 bytes; copies.
  ///
  /// - Throws: ``SafeTensorsError/invalidHeader(_:)`` for a tensor named `__metadata__`, the
  ///   header's reserved key (it would be lost on read).
  public static func encode<Scalar: BLASScalar>(
    _ tensors: [String: Tensor<Scalar>], metadata: [String: String] = [:]
  ) throws(SafeTensorsError) -> [UInt8] {
    if tensors["__metadata__"] != nil {
      throw .invalidHeader(
        "a tensor may not be named '__metadata__': the name is reserved for the header's metadata")
    }
    let dtype = Scalar.precision == .single ? "F32" : "F64"
    let size = MemoryLayout<Scalar>.size
    var entries: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map {
        "\(JSONValue.quoted($0)):\(JSONValue.quoted(metadata[$0]!))"
      }
      entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    let names = tensors.keys.sorted()
    for name in names {
      let tensor = tensors[name]!
      let end = offset + tensor.count * size
      entries.append(
        "\(JSONValue.quoted(name)):{\"dtype\":\"\(dtype)\",\"shape\":\(tensor.shape),\"data_offsets\":[\(offset),\(end)]}"
      )
      offset = end
    }
    var header = Array("{\(entries.joined(separator: ","))}".utf8)
    while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: header)
    for name in names {
      for value in tensors[name]!.scalars {
        switch Scalar.precision {
        case .single:
          withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .double:
          withUnsafeBytes(of: Double(value).bitPattern.littleEndian) {
            bytes.append(contentsOf: $0)
          }
        }
      }
    }
    return bytes
  }

  /// Writes tensors to a safetensors file atomically (a temporary file renamed into place).
  ///
  /// - Throws: ``FileError`` when the file cannot be written, ``SafeTensorsError`` for a tensor
  ///   named `__metadata__`; nothing is written then.
  public static func write<Scalar: BLASScalar>(
    _ tensors: [String: Tensor<Scalar>], to path: String, metadata: [String: String] = [:]
  ) throws {
    try FileBytes.write(encode(tensors, metadata: metadata), to: path)
  }
}
