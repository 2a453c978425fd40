/// libFuzzer entry point for the safetensors parser; built by tools/fuzz.sh together with the
/// library's sources (not a SwiftPM target). Any trap, out-of-bounds read or oversized
/// allocation is a finding; thrown errors are the expected outcome for malformed input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  _ = try? SafeTensors.decode(bytes, as: Float.self)
  _ = try? SafeTensors.metadata(bytes)
  return 0
}
