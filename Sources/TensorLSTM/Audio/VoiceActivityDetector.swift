/// Voice activity detection with a Silero VAD ONNX model (`silero_vad.onnx` and its op15 /
/// op18 variants): the probability of speech per chunk, and speech segments from them with
/// Silero's `get_speech_timestamps` rules.
///
///     let vad = try VoiceActivityDetector(contentsOfFile: "silero_vad.onnx")
///     let audio = try WAVAudio(contentsOfFile: "talk.wav").resampled(to: 16000)
///     let p = try vad.probabilities(audio.samples, sampleRate: 16000)   // one per 32 ms
///     for s in VoiceActivityDetector.segments(p, sampleRate: 16000, sampleCount: audio.samples.count) {
///       print(s.startSeconds(16000), s.endSeconds(16000))
///     }
///
/// Chunks are fed as Silero's `OnnxWrapper` feeds them: 512 samples at 16 kHz (256 at 8 kHz)
/// after the previous chunk's last 64 (32) samples, the state carried; the last partial chunk is
/// zero-padded. Cost: one planned model run per chunk (allocation per step, no per-chunk plan).
public struct VoiceActivityDetector: Sendable {
  /// A stretch of speech, in samples: `start..<end`.
  public struct Segment: Sendable, Equatable {
    /// First sample of speech.
    public var start: Int
    /// One past the last sample of speech.
    public var end: Int

    /// `start` in seconds at `sampleRate`.
    public func startSeconds(_ sampleRate: Int) -> Double { Double(start) / Double(sampleRate) }
    /// `end` in seconds at `sampleRate`.
    public func endSeconds(_ sampleRate: Int) -> Double { Double(end) / Double(sampleRate) }
  }

  /// The thresholds and durations of Silero's `get_speech_timestamps`, with its defaults.
  public struct Options: Sendable, Equatable {
    /// Speech starts when a chunk's probability reaches this.
    public var threshold: Float = 0.5
    /// Speech may end when a chunk's probability falls below this (nil: threshold − 0.15).
    public var negativeThreshold: Float? = nil
    /// Shorter speech is dropped.
    public var minSpeechDurationMs = 250
    /// Silence shorter than this does not end speech.
    public var minSilenceDurationMs = 100
    /// Padding added to each side of a segment (split between close segments).
    public var speechPadMs = 30

    /// The defaults.
    public init() {}
  }

  /// The ONNX model.
  public let model: ONNXModel

  /// A detector on a loaded Silero model.
  ///
  /// - Throws: ``ONNXError/invalidModel(_:)`` when the model does not take `input`, `state`
  ///   and `sr` and give `output` and `stateN`.
  public init(model: ONNXModel) throws(ONNXError) {
    guard Set(model.inputs.map(\.name)) == ["input", "state", "sr"],
      Set(model.outputs.map(\.name)).isSuperset(of: ["output", "stateN"])
    else {
      throw ONNXError.invalidModel(
        "a Silero VAD model takes input, state and sr and gives output and stateN; this one takes \(model.inputs.map(\.name)) and gives \(model.outputs.map(\.name))"
      )
    }
    self.model = model
  }

  /// A detector on the Silero model in the ONNX file at `path`.
  public init(contentsOfFile path: String) throws(ONNXError) {
    try self.init(model: try ONNXModel(contentsOfFile: path))
  }

  /// Samples per chunk at `sampleRate` (512 at 16 kHz, 256 at 8 kHz).
  public static func chunkSize(sampleRate: Int) -> Int { sampleRate == 16000 ? 512 : 256 }

  /// The probability of speech for each chunk of `samples` (mono, [−1, 1]).
  ///
  /// - Throws: ``ONNXError/invalidInput(name:expected:actual:)`` for a rate other than 8000 or
  ///   16000 Hz (resample first: ``WAVAudio/resampled(to:)``), and the model's errors.
  public func probabilities(_ samples: [Float], sampleRate: Int) throws(ONNXError) -> [Float] {
    guard sampleRate == 16000 || sampleRate == 8000 else {
      throw ONNXError.invalidInput(
        name: "sr", expected: "8000 or 16000 Hz (resample the audio first)",
        actual: "\(sampleRate) Hz")
    }
    let chunk = Self.chunkSize(sampleRate: sampleRate)
    let context = sampleRate == 16000 ? 64 : 32
    let sr = ONNXValue.int64([Int64(sampleRate)], shape: [])
    var state = Tensor<Float>.zeros(shape: [2, 1, 128])
    var window = [Float](repeating: 0, count: context + chunk)
    var result: [Float] = []
    result.reserveCapacity((samples.count + chunk - 1) / chunk)
    var start = 0
    while start < samples.count {
      // The previous window's last `context` samples, then this chunk (zero-padded at the end).
      for i in 0..<context { window[i] = window[chunk + i] }
      for i in 0..<chunk {
        window[context + i] = start + i < samples.count ? samples[start + i] : 0
      }
      let out = try model.run([
        "input": .float(Tensor(shape: [1, context + chunk], scalars: window)),
        "state": .float(state), "sr": sr,
      ])
      guard let p = out["output"]?.float, p.count == 1, let next = out["stateN"]?.float else {
        throw ONNXError.runtime(node: "output", reason: "expected one probability and a state")
      }
      result.append(p.scalars[0])
      state = next
      start += chunk
    }
    return result
  }

  /// Speech segments from per-chunk probabilities, by Silero's `get_speech_timestamps` rules:
  /// speech starts at a chunk at or above `threshold`, ends after `minSilenceDurationMs` below
  /// the negative threshold, is dropped when shorter than `minSpeechDurationMs`, and is padded
  /// by `speechPadMs` on each side (close segments share the silence between them).
  public static func segments(
    _ probabilities: [Float], sampleRate: Int, sampleCount: Int, options: Options = Options()
  ) -> [Segment] {
    let window = chunkSize(sampleRate: sampleRate)
    let minSpeech = sampleRate * options.minSpeechDurationMs / 1000
    let minSilence = sampleRate * options.minSilenceDurationMs / 1000
    let pad = sampleRate * options.speechPadMs / 1000
    let negative = options.negativeThreshold ?? Swift.max(options.threshold - 0.15, 0.01)
    var speeches: [Segment] = []
    var triggered = false
    var start = 0
    var tentativeEnd = 0
    for (i, p) in probabilities.enumerated() {
      let position = window * i
      if p >= options.threshold && tentativeEnd != 0 { tentativeEnd = 0 }
      if p >= options.threshold && !triggered {
        triggered = true
        start = position
        continue
      }
      if p < negative && triggered {
        if tentativeEnd == 0 { tentativeEnd = position }
        if position - tentativeEnd < minSilence { continue }
        if tentativeEnd - start > minSpeech {
          speeches.append(Segment(start: start, end: tentativeEnd))
        }
        (tentativeEnd, triggered) = (0, false)
      }
    }
    if triggered && sampleCount - start > minSpeech {
      speeches.append(Segment(start: start, end: sampleCount))
    }
    for i in speeches.indices {
      if i == 0 { speeches[i].start = Swift.max(0, speeches[i].start - pad) }
      if i + 1 < speeches.count {
        let silence = speeches[i + 1].start - speeches[i].end
        if silence < 2 * pad {
          speeches[i].end += silence / 2
          speeches[i + 1].start = Swift.max(0, speeches[i + 1].start - silence / 2)
        } else {
          speeches[i].end = Swift.min(sampleCount, speeches[i].end + pad)
          speeches[i + 1].start = Swift.max(0, speeches[i + 1].start - pad)
        }
      } else {
        speeches[i].end = Swift.min(sampleCount, speeches[i].end + pad)
      }
    }
    return speeches
  }
}
