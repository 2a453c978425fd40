import TensorLSTM

/// libFuzzer entry point for the .npy parser; built by Tests/Fuzz/Package.swift against the
/// library (tools/fuzz.sh builds and runs it).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let tensor = try? NumPy.decode(bytes, as: Double.self) {
    // Read every element through the layout, so a wrong stride would be caught by ASan.
    _ = tensor.scalars
  }
  return 0
}
