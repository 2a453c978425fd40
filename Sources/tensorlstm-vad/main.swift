// Voice activity detection on a WAV file with Silero VAD's ONNX model, run by ONNXModel: speech
// segments (seconds) with silero-vad's get_speech_timestamps rules, or the probability of
// speech per 32 ms chunk.
//
//   bash tools/ensure-silero.sh          # the pinned silero-vad wheel's models, once
//   swift run -c release tensorlstm-vad talk.wav
//   swift run -c release tensorlstm-vad talk.wav --probabilities --model my_silero.onnx
import Foundation
import TensorLSTM

struct Options {
  var file = ""
  var model = ".build/models/silero_vad/data/silero_vad.onnx"
  var vad = VoiceActivityDetector.Options()
  var probabilities = false
  var time = false

  init(_ arguments: [String]) {
    if let path = ProcessInfo.processInfo.environment["TENSORLSTM_SILERO"] { model = path }
    var i = 1
    func value() -> String {
      i += 1
      guard i < arguments.count else { fail("missing value after \(arguments[i - 1])") }
      return arguments[i]
    }
    func number<T: LosslessStringConvertible>(_: T.Type) -> T {
      let text = value()
      guard let v = T(text) else { fail("\(arguments[i - 1]) expects a number, got '\(text)'") }
      return v
    }
    while i < arguments.count {
      switch arguments[i] {
      case "--model": model = value()
      case "--threshold": vad.threshold = number(Float.self)
      case "--min-speech-ms": vad.minSpeechDurationMs = number(Int.self)
      case "--min-silence-ms": vad.minSilenceDurationMs = number(Int.self)
      case "--speech-pad-ms": vad.speechPadMs = number(Int.self)
      case "--probabilities": probabilities = true
      case "--time": time = true
      case "--help", "-h":
        print(
          """
          tensorlstm-vad FILE.wav [--model silero_vad.onnx] [--threshold 0.5] [--min-speech-ms 250]
                         [--min-silence-ms 100] [--speech-pad-ms 30] [--probabilities] [--time]

          Prints one speech segment per line, "start<TAB>end" in seconds (or, with
          --probabilities, "time<TAB>probability" per chunk). Audio at rates other than 8 or
          16 kHz is resampled to 16 kHz; channels are averaged. The model defaults to
          $TENSORLSTM_SILERO or .build/models/silero_vad/data/silero_vad.onnx (tools/ensure-silero.sh).
          --time prints the audio's duration, the time taken and the real-time factor to stderr.
          """)
        exit(0)
      default:
        if arguments[i].hasPrefix("--") || !file.isEmpty {
          fail("unknown argument \(arguments[i]); see --help")
        }
        file = arguments[i]
      }
      i += 1
    }
    if file.isEmpty { fail("give a WAV file; see --help") }
  }
}

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("tensorlstm-vad: \(message)\n".utf8))
  exit(1)
}

let options = Options(CommandLine.arguments)
do {
  let detector: VoiceActivityDetector
  do {
    detector = try VoiceActivityDetector(contentsOfFile: options.model)
  } catch {
    if case .file = error {
      fail("\(error)\n(fetch Silero's models with `bash tools/ensure-silero.sh`, or pass --model)")
    }
    throw error
  }
  var audio = try WAVAudio(contentsOfFile: options.file)
  if audio.sampleRate != 16000 && audio.sampleRate != 8000 { audio = audio.resampled(to: 16000) }
  let clock = ContinuousClock()
  let start = clock.now
  let probabilities = try detector.probabilities(audio.samples, sampleRate: audio.sampleRate)
  let elapsed = clock.now - start
  let rate = audio.sampleRate
  if options.probabilities {
    let chunk = VoiceActivityDetector.chunkSize(sampleRate: rate)
    for (i, p) in probabilities.enumerated() {
      print(String(format: "%.3f\t%.4f", Double(i * chunk) / Double(rate), p))
    }
  } else {
    for s in VoiceActivityDetector.segments(
      probabilities, sampleRate: rate, sampleCount: audio.samples.count, options: options.vad)
    {
      print(String(format: "%.3f\t%.3f", s.startSeconds(rate), s.endSeconds(rate)))
    }
  }
  if options.time {
    let seconds = Double(audio.samples.count) / Double(rate)
    let taken = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    FileHandle.standardError.write(
      Data(
        String(
          format: "%.2f s of audio in %.1f ms (%d chunks, %.1f µs each): %.0f× real time\n",
          seconds, taken * 1e3, probabilities.count,
          taken * 1e6 / Double(max(probabilities.count, 1)),
          seconds / taken
        ).utf8))
  }
} catch {
  fail("\(error)")
}
