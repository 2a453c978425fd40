import TensorLSTM

/// libFuzzer entry point for the ONNX reader and executor: the bytes are loaded as a model
/// (protobuf decoding, operator parsing, constant folding, layer lowering); a model that loads
/// is run once on inputs built from its declared shapes (symbolic dimensions 2, at most 4096
/// elements per input), so every operator's checks meet hostile attributes and shapes. Thrown
/// errors are the expected outcome; traps, out-of-bounds accesses and huge allocations are
/// findings.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let model = try? ONNXModel(bytes: bytes) else { return 0 }
  _ = model.description
  var inputs: [String: ONNXValue] = [:]
  for (k, info) in model.inputs.enumerated() {
    let shape = info.shape.map { $0 ?? 2 }
    guard shape.allSatisfy({ $0 >= 0 && $0 <= 4096 }),
      shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= 4096
    else { return 0 }
    let count = shape.reduce(1, *)
    switch info.elementType {
    case .int64: inputs[info.name] = .int64((0..<count).map { Int64(($0 + k) % 3) }, shape: shape)
    case .bool: inputs[info.name] = .bool((0..<count).map { $0 % 2 == 0 }, shape: shape)
    default:
      inputs[info.name] = .float(
        Tensor(shape: shape, scalars: (0..<count).map { Float(($0 + k) % 5) - 2 }))
    }
  }
  _ = try? model.run(inputs)
  _ = try? model.run(inputs)  // the planned path
  return 0
}
