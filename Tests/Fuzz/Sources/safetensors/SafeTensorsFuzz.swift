import TensorLSTM

/// libFuzzer entry point for the safetensors parser; built by Tests/Fuzz/Package.swift against the
/// library (tools/fuzz.sh builds and runs it). Any trap, out-of-bounds read or oversized
/// allocation is a finding; thrown errors are the expected outcome for malformed input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  _ = try? SafeTensors.decode(bytes, as: Float.self)
  _ = try? SafeTensors.metadata(bytes)
  return 0
}
