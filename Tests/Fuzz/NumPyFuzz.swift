/// libFuzzer entry point for the .npy parser; built by tools/fuzz.sh together with the
/// library's sources (not a SwiftPM target).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let tensor = try? NumPy.decode(bytes, as: Double.self) {
    // Read every element through the layout, so a wrong stride would be caught by ASan.
    _ = tensor.scalars
  }
  return 0
}
