/// A value an ONNX model takes or gives: a float32 tensor, or int64 or bool elements with their
/// shape (row-major).
///
///     let out = try model.run(["input": .float(chunk), "sr": .int64([16000], shape: [])])
///     let probability = out["output"]!.float!   // Tensor<Float>
///
/// float16 and float64 initializers are widened/narrowed to float32 at load; int8, uint8, int16
/// and int32 initializers become int64. A scalar has shape `[]`.
public enum ONNXValue: Sendable {
  /// A float32 tensor (any layout; views are fine).
  case float(Tensor<Float>)
  /// int64 elements in row-major order and their shape.
  case int64([Int64], shape: [Int])
  /// bool elements in row-major order and their shape.
  case bool([Bool], shape: [Int])

  /// The tensor of a `.float` value, else nil.
  public var float: Tensor<Float>? {
    if case .float(let t) = self { return t }
    return nil
  }

  /// The elements of an `.int64` value, else nil.
  public var int64Elements: [Int64]? {
    if case .int64(let v, _) = self { return v }
    return nil
  }

  /// The elements of a `.bool` value, else nil.
  public var boolElements: [Bool]? {
    if case .bool(let v, _) = self { return v }
    return nil
  }

  /// The shape.
  public var shape: [Int] {
    switch self {
    case .float(let t): t.shape
    case .int64(_, let shape), .bool(_, let shape): shape
    }
  }

  /// The element type.
  public var elementType: ONNXModel.ElementType {
    switch self {
    case .float: .float
    case .int64: .int64
    case .bool: .bool
    }
  }

  /// The number of elements.
  var count: Int { shape.reduce(1, *) }
}

extension ONNXModel {
  /// An ONNX tensor element type, by the names of onnx.proto's `TensorProto.DataType`.
  public enum ElementType: Sendable, Equatable, CustomStringConvertible {
    /// `FLOAT` (1).
    case float
    /// `INT64` (7).
    case int64
    /// `BOOL` (9).
    case bool
    /// Another type, by its number (e.g. 10 `FLOAT16`, 6 `INT32`); a model input of such a type
    /// cannot be given.
    case other(Int32)

    init(onnx code: Int32) {
      switch code {
      case 1: self = .float
      case 7: self = .int64
      case 9: self = .bool
      default: self = .other(code)
      }
    }

    /// "float", "int64", "bool" or "type N".
    public var description: String {
      switch self {
      case .float: "float"
      case .int64: "int64"
      case .bool: "bool"
      case .other(let code): "type \(code)"
      }
    }
  }
}

extension ONNXProto.TensorData {
  /// The value these bytes hold, after checking that the data matches the dims exactly.
  func value() throws(ONNXError) -> ONNXValue {
    let field = path.isEmpty ? "tensor '\(name)'" : path
    if external {
      throw ONNXError.unsupported(
        "\(field): tensor '\(name)' keeps its data in an external file; save the model with the data inside (onnx.save_model(model, path, save_as_external_data=False))"
      )
    }
    var shape: [Int] = []
    var count = 1
    for d in dims {
      guard d >= 0, d <= Int64(Int32.max) else {
        throw ONNXError.malformed(field: field + ".dims", reason: "dimension \(d) is out of range")
      }
      shape.append(Int(d))
      let (next, overflow) = count.multipliedReportingOverflow(by: Int(d))
      guard !overflow, next <= 1 << 31 else {
        throw ONNXError.malformed(field: field + ".dims", reason: "\(dims) holds too many elements")
      }
      count = next
    }
    func check(_ have: Int, _ what: String) throws(ONNXError) {
      guard have == count else {
        throw ONNXError.malformed(
          field: field, reason: "dims \(dims) need \(count) elements, \(what) holds \(have)")
      }
    }
    func raw(_ size: Int) throws(ONNXError) -> [UInt8]? {
      guard let rawData else { return nil }
      guard rawData.count == count * size else {
        throw ONNXError.malformed(
          field: field + ".raw_data",
          reason: "dims \(dims) need \(count * size) bytes, raw_data holds \(rawData.count)")
      }
      return rawData
    }
    func word(_ bytes: [UInt8], _ i: Int, _ size: Int) -> UInt64 {
      var v: UInt64 = 0
      for k in 0..<size { v |= UInt64(bytes[i * size + k]) << (8 * UInt64(k)) }
      return v
    }
    switch dataType {
    case 1:
      if let bytes = try raw(4) {
        return .float(
          Tensor(
            shape: shape, scalars: (0..<count).map { Float(bitPattern: UInt32(word(bytes, $0, 4))) }
          ))
      }
      try check(floatData.count, "float_data")
      return .float(Tensor(shape: shape, scalars: floatData))
    case 10:
      let bits: [UInt16]
      if let bytes = try raw(2) {
        bits = (0..<count).map { UInt16(word(bytes, $0, 2)) }
      } else {
        try check(int32Data.count, "int32_data")
        bits = int32Data.map { UInt16(truncatingIfNeeded: $0) }
      }
      return .float(Tensor(shape: shape, scalars: bits.map { Float(Float16(bitPattern: $0)) }))
    case 11:
      if let bytes = try raw(8) {
        return .float(
          Tensor(
            shape: shape, scalars: (0..<count).map { Float(Double(bitPattern: word(bytes, $0, 8))) }
          ))
      }
      try check(doubleData.count, "double_data")
      return .float(Tensor(shape: shape, scalars: doubleData.map { Float($0) }))
    case 7:
      if let bytes = try raw(8) {
        return .int64((0..<count).map { Int64(bitPattern: word(bytes, $0, 8)) }, shape: shape)
      }
      try check(int64Data.count, "int64_data")
      return .int64(int64Data, shape: shape)
    case 2, 3, 4, 5, 6:
      // uint8, int8, uint16, int16, int32: widened to int64.
      let size = [2: 1, 3: 1, 4: 2, 5: 2, 6: 4][Int(dataType)]!
      let signed = dataType != 2 && dataType != 4
      if let bytes = try raw(size) {
        return .int64(
          (0..<count).map { i in
            let v = word(bytes, i, size)
            let bits = UInt64(size * 8)
            if signed && v >> (bits - 1) == 1 { return Int64(bitPattern: v | (~0 << bits)) }
            return Int64(v)
          }, shape: shape)
      }
      try check(int32Data.count, "int32_data")
      return .int64(int32Data.map { Int64(Int32(truncatingIfNeeded: $0)) }, shape: shape)
    case 9:
      if let bytes = try raw(1) { return .bool(bytes.map { $0 != 0 }, shape: shape) }
      try check(int32Data.count, "int32_data")
      return .bool(int32Data.map { $0 != 0 }, shape: shape)
    default:
      throw ONNXError.unsupported(
        "\(field): element type \(dataType) (onnx TensorProto.DataType) is not supported; float, float16, double, int8–int64 and bool are"
      )
    }
  }
}
