import Foundation
import TensorLSTM
import Testing

/// WAV decoding (every sample format, built here from known values), the resampler, and the
/// voice activity detector against silero-vad's own Python `get_speech_timestamps` (fixture by
/// tools/make_onnx_fixtures.py).
@Suite struct VoiceActivityTests {
  /// A RIFF/WAVE file of `frames` (per frame, per channel, already encoded little-endian).
  static func wav(
    format: Int, channels: Int, rate: Int, bits: Int, data: [UInt8], extra: [UInt8] = []
  )
    -> [UInt8]
  {
    func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * $0)) & 0xff) } }
    let align = channels * bits / 8
    var fmt = le(format, 2) + le(channels, 2) + le(rate, 4) + le(rate * align, 4) + le(align, 2)
    fmt += le(bits, 2)
    var body = Array("WAVE".utf8) + Array("fmt ".utf8) + le(fmt.count, 4) + fmt + extra
    body += Array("data".utf8) + le(data.count, 4) + data
    return Array("RIFF".utf8) + le(body.count, 4) + body
  }

  static let values: [Double] = [0, 0.5, -0.5, 0.25, -1, 0.999]

  @Test(arguments: [(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64)])
  func decodesEverySampleFormat(format: Int, bits: Int) throws {
    var data: [UInt8] = []
    for v in Self.values {
      let encoded: UInt64
      switch (format, bits) {
      case (1, 8): encoded = UInt64(Int((v * 128).rounded(.down)) + 128)
      case (1, _):
        let scale = Double(1 << (bits - 1))
        encoded = UInt64(bitPattern: Int64((v * scale).rounded(.down)))
      case (3, 32): encoded = UInt64(Float(v).bitPattern)
      default: encoded = v.bitPattern
      }
      data += (0..<(bits / 8)).map { UInt8((encoded >> (8 * UInt64($0))) & 0xff) }
    }
    let audio = try WAVAudio(
      bytes: Self.wav(format: format, channels: 1, rate: 8000, bits: bits, data: data))
    #expect(audio.sampleRate == 8000 && audio.channels == 1)
    #expect(audio.samples.count == Self.values.count)
    for (got, want) in zip(audio.samples, Self.values) {
      #expect(abs(Double(got) - want) <= 1.0 / 128 + 1e-7, "\(format)/\(bits): \(got) vs \(want)")
    }
  }

  @Test func averagesChannelsAndSkipsOtherChunks() throws {
    // Stereo 16-bit: (0.5, -0.25) and (1 − 2⁻¹⁵, 0), after an odd-sized LIST chunk (padded).
    let data: [UInt8] = [0x00, 0x40, 0x00, 0xE0, 0xFF, 0x7F, 0x00, 0x00]
    var bytes = Self.wav(format: 1, channels: 2, rate: 44100, bits: 16, data: data)
    let list: [UInt8] = Array("LIST".utf8) + [3, 0, 0, 0, 1, 2, 3, 0]
    bytes.insert(contentsOf: list, at: 12)
    bytes.replaceSubrange(
      4..<8, with: [UInt8]((0..<4).map { UInt8(((bytes.count - 8) >> (8 * $0)) & 0xff) }))
    let audio = try WAVAudio(bytes: bytes)
    #expect(audio.channels == 2 && audio.sampleRate == 44100)
    #expect(audio.samples == [0.125, Float(32767) / 65536])
  }

  @Test func refusesMalformedFiles() throws {
    let good = Self.wav(format: 1, channels: 1, rate: 16000, bits: 16, data: [0, 0, 1, 0])
    func refuses(_ bytes: [UInt8], _ fragment: String) {
      #expect {
        _ = try WAVAudio(bytes: bytes)
      } throws: { error in
        "\(error)".contains(fragment)
      }
    }
    refuses(Array(good.prefix(11)), "RIFF header")
    refuses(Array(good.prefix(45)), "data chunk claims 4 bytes but the file has 1")
    refuses(Self.wav(format: 2, channels: 1, rate: 16000, bits: 16, data: [0, 0]), "format 2")
    refuses(Self.wav(format: 1, channels: 0, rate: 16000, bits: 16, data: [0, 0]), "0 channels")
    refuses(Self.wav(format: 1, channels: 1, rate: 0, bits: 16, data: [0, 0]), "sample rate 0")
    var noData = good
    noData.replaceSubrange(36..<40, with: Array("junk".utf8))
    refuses(noData, "no data chunk")
  }

  @Test func resamplingKeepsATone() throws {
    // A 440 Hz tone at 48 kHz resampled to 16 kHz is the same tone (away from the edges).
    let tone = (0..<4800).map { Float(sin(2 * Double.pi * 440 * Double($0) / 48000)) }
    let audio = WAVAudio(samples: tone, sampleRate: 48000).resampled(to: 16000)
    #expect(audio.samples.count == 1600 && audio.sampleRate == 16000)
    for n in 100..<1500 {
      #expect(abs(Double(audio.samples[n]) - sin(2 * Double.pi * 440 * Double(n) / 16000)) < 2e-3)
    }
  }

  @Test func matchesSileroGetSpeechTimestamps() throws {
    let vad = try VoiceActivityDetector(
      contentsOfFile: "\(ONNXModelTests.sileroDirectory)/silero_vad.onnx")
    let audio = try WAVAudio(contentsOfFile: "\(Fixtures.directory)/speech16k.wav")
    #expect(audio.sampleRate == 16000 && audio.samples.count == 64000)
    let probabilities = try vad.probabilities(audio.samples, sampleRate: 16000)
    let (fixture, _) = try Fixtures.load("onnx_vad")
    #expect(ONNXModelTests.maxDifference(probabilities, fixture["probs"]!.scalars) < 1e-4)
    let segments = VoiceActivityDetector.segments(
      probabilities, sampleRate: 16000, sampleCount: audio.samples.count)
    let expected = fixture["segments"]!
    #expect(segments.count == expected.shape[0])
    #expect(segments.flatMap { [Float($0.start), Float($0.end)] } == expected.scalars)
    #expect(!segments.isEmpty)
  }

  @Test func refusesOtherRatesAndModels() throws {
    let vad = try VoiceActivityDetector(
      contentsOfFile: "\(ONNXModelTests.sileroDirectory)/silero_vad.onnx")
    #expect(throws: ONNXError.self) { _ = try vad.probabilities([0, 0], sampleRate: 44100) }
    let sequence = try ONNXModel(
      contentsOfFile: "\(ONNXModelTests.sileroDirectory)/silero_vad_16k_sequence.onnx")
    #expect(throws: ONNXError.self) { _ = try VoiceActivityDetector(model: sequence) }
  }
}
