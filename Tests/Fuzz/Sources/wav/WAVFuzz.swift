import TensorLSTM

/// libFuzzer entry point for the WAV reader: decoding, then resampling short audio between
/// ordinary rates. Thrown errors are the expected outcome for malformed input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWAV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let audio = try? WAVAudio(bytes: bytes) else { return 0 }
  if audio.samples.count <= 2048 && (4000...192_000).contains(audio.sampleRate) {
    _ = audio.resampled(to: 16000)
  }
  return 0
}
