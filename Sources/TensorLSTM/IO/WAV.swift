import Glibc

/// A WAV file that could not be read, naming what was expected and what the file holds.
public enum WAVError: Error, Equatable, CustomStringConvertible {
  /// The bytes are not a well-formed RIFF/WAVE file (`reason` names the chunk or field).
  case malformed(String)
  /// A well-formed file in an encoding this reader does not decode (e.g. μ-law, ADPCM).
  case unsupported(String)
  /// The file could not be read.
  case file(FileError)

  /// The error in one sentence.
  public var description: String {
    switch self {
    case .malformed(let reason): "malformed WAV file: \(reason)"
    case .unsupported(let reason): "unsupported WAV file: \(reason)"
    case .file(let error): "WAV file \(error)"
    }
  }
}

/// Audio from a WAV file as mono Float samples in [−1, 1] (channels averaged).
///
///     let audio = try WAVAudio(contentsOfFile: "speech.wav")
///     let at16k = audio.resampled(to: 16000)     // what Silero VAD expects
///
/// Reads RIFF/WAVE with PCM integer samples of 8 (unsigned), 16, 24 or 32 bits, or IEEE float of
/// 32 or 64 bits (`WAVE_FORMAT_EXTENSIBLE` too); every chunk length and field is checked against
/// the file, and a file that is not one of these throws ``WAVError`` naming the field.
public struct WAVAudio: Sendable, Equatable {
  /// Mono samples in [−1, 1].
  public var samples: [Float]
  /// Samples per second.
  public var sampleRate: Int
  /// The channels the file held (averaged into ``samples``).
  public var channels: Int

  /// Audio from samples; no file involved.
  public init(samples: [Float], sampleRate: Int, channels: Int = 1) {
    (self.samples, self.sampleRate, self.channels) = (samples, sampleRate, channels)
  }

  /// Reads the WAV file at `path`.
  public init(contentsOfFile path: String) throws(WAVError) {
    let bytes: [UInt8]
    do { bytes = try FileBytes.read(path) } catch { throw WAVError.file(error) }
    try self.init(bytes: bytes)
  }

  /// Decodes the bytes of a WAV file.
  public init(bytes: [UInt8]) throws(WAVError) {
    func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
    func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
    func tag(_ i: Int) -> String { String(decoding: bytes[i..<(i + 4)], as: UTF8.self) }
    guard bytes.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else {
      throw WAVError.malformed("expected a RIFF header with form type WAVE in the first 12 bytes")
    }
    var position = 12
    var format: (code: Int, channels: Int, rate: Int, align: Int, bits: Int)?
    var data: Range<Int>?
    while position + 8 <= bytes.count {
      let (id, size) = (tag(position), u32(position + 4))
      let start = position + 8
      let available = bytes.count - start
      if id == "data" {
        // Streaming writers leave the size unknown (0 or 0xFFFFFFFF): the rest of the file.
        if size == 0xFFFF_FFFF || (size == 0 && available > 0) {
          data = start..<bytes.count
        } else {
          guard size <= available else {
            throw WAVError.malformed(
              "the data chunk claims \(size) bytes but the file has \(available) after its header")
          }
          data = start..<(start + size)
        }
        break
      }
      guard size <= available else {
        throw WAVError.malformed(
          "chunk '\(id)' at byte \(position) claims \(size) bytes but the file has \(available) after its header"
        )
      }
      if id == "fmt " {
        guard size >= 16 else {
          throw WAVError.malformed("the fmt chunk has \(size) bytes, at least 16 expected")
        }
        var code = u16(start)
        if code == 0xFFFE {
          guard size >= 40 else {
            throw WAVError.malformed(
              "WAVE_FORMAT_EXTENSIBLE needs a 40-byte fmt chunk, got \(size)")
          }
          code = u16(start + 24)
        }
        format = (code, u16(start + 2), u32(start + 4), u16(start + 12), u16(start + 14))
      }
      position = start + size + size % 2
    }
    guard let format else { throw WAVError.malformed("no fmt chunk before the data chunk") }
    guard let data else { throw WAVError.malformed("no data chunk") }
    let (code, channels, rate, bits) = (format.code, format.channels, format.rate, format.bits)
    guard channels >= 1, channels <= 64 else {
      throw WAVError.malformed("\(channels) channels; 1 to 64 expected")
    }
    guard rate >= 1, rate <= 1_000_000 else {
      throw WAVError.malformed("sample rate \(rate) Hz; 1 Hz to 1 MHz expected")
    }
    let size = bits / 8
    let valid =
      (code == 1 && [8, 16, 24, 32].contains(bits)) || (code == 3 && (bits == 32 || bits == 64))
    guard valid, bits % 8 == 0 else {
      throw WAVError.unsupported(
        "format \(code) with \(bits)-bit samples; PCM (1) of 8, 16, 24 or 32 bits or IEEE float (3) of 32 or 64 bits are read"
      )
    }
    guard format.align == size * channels else {
      throw WAVError.malformed(
        "block align \(format.align) but \(channels) channels of \(bits) bits need \(size * channels)"
      )
    }
    let frames = data.count / format.align
    var samples = [Float](repeating: 0, count: frames)
    let scale = 1 / Float(channels)
    for f in 0..<frames {
      var sum: Float = 0
      for c in 0..<channels {
        let i = data.lowerBound + f * format.align + c * size
        let value: Float
        switch (code, bits) {
        case (1, 8): value = (Float(bytes[i]) - 128) / 128
        case (1, 16): value = Float(Int16(truncatingIfNeeded: u16(i))) / 32768
        case (1, 24):
          value =
            Float(Int32(truncatingIfNeeded: u16(i) << 8 | Int(bytes[i + 2]) << 24) >> 8) / 8_388_608
        case (1, _): value = Float(Int32(truncatingIfNeeded: u32(i))) / 2_147_483_648
        case (3, 32): value = Float(bitPattern: UInt32(u32(i)))
        default: value = Float(Double(bitPattern: UInt64(u32(i)) | UInt64(u32(i + 4)) << 32))
        }
        sum += value
      }
      samples[f] = sum * scale
    }
    self.init(samples: samples, sampleRate: rate, channels: channels)
  }

  /// The audio at `rate` samples per second: a windowed-sinc (Hann, 16 zero crossings)
  /// resampler whose cutoff is the lower Nyquist frequency, as torchaudio's default; the
  /// same audio when the rate already matches. O(samples · 32 · max(1, rate ratio)).
  ///
  /// - Precondition: `rate` is positive.
  public func resampled(to rate: Int) -> WAVAudio {
    require(rate > 0, "resampled(to: \(rate)): the rate must be positive")
    if rate == sampleRate || samples.isEmpty { return self }
    let ratio = Double(rate) / Double(sampleRate)
    let cutoff = Swift.min(1, ratio)  // of the input's Nyquist frequency
    let zeros = 16.0
    let halfWidth = zeros / cutoff  // in input samples
    let count = Int((Double(samples.count) * ratio).rounded(.down))
    var result = [Float](repeating: 0, count: count)
    for n in 0..<count {
      let center = Double(n) / ratio
      let first = Swift.max(0, Int((center - halfWidth).rounded(.up)))
      let last = Swift.min(samples.count - 1, Int((center + halfWidth).rounded(.down)))
      var sum = 0.0
      if first <= last {
        for k in first...last {
          let t = (Double(k) - center) * cutoff
          let sinc = t == 0 ? 1 : sin(Double.pi * t) / (Double.pi * t)
          let window = 0.5 + 0.5 * cos(Double.pi * t / zeros)
          sum += Double(samples[k]) * sinc * window * cutoff
        }
      }
      result[n] = Float(sum)
    }
    return WAVAudio(samples: result, sampleRate: rate, channels: channels)
  }
}
