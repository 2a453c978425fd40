import TensorLSTM

#if canImport(Glibc)
  import Glibc
#endif

/// Timing and bytes copied for the view ops on a ~1M-element tensor.
enum ViewBench {
  struct Line {
    var name: String
    var nanoseconds: Double
    var bytesCopied: Int

    var row: String {
      name.padding(44) + fixed(nanoseconds, 12, digits: 0) + " ns"
        + fixed(Double(bytesCopied), 12, digits: 0)
        + " bytes copied"
    }
    var json: String {
      #"{"case":"view","op":"\#(name)","ns":\#(nanoseconds),"bytes_copied":\#(bytesCopied)}"#
    }
  }

  static func run(repeats: Int) -> [Line] {
    let t = Tensor<Float>.randomNormal(shape: [64, 128, 128], seed: 3)  // [B, T, H]
    let ops: [(String, () -> Tensor<Float>)] = [
      ("reshaped([64, -1])", { t.reshaped([64, -1]) }),
      ("permuted([0, 2, 1])", { t.permuted([0, 2, 1]) }),
      ("selected(axis: 1, index: -1)", { t.selected(axis: 1, index: -1) }),
      ("flattened(startAxis: 1)", { t.flattened(startAxis: 1) }),
      (
        "sliced(axis: 1, range: 0..<128, step: -2)", { t.sliced(axis: 1, range: 0..<128, step: -2) }
      ),
      ("permuted([0, 2, 1]).contiguous()", { t.permuted([0, 2, 1]).contiguous() }),
    ]
    return ops.map { name, op in
      var result = op()
      let ms = Timing.medianMilliseconds(repeats: repeats) { result = op() }
      let copied = result.sharesStorage(with: t) ? 0 : result.count * MemoryLayout<Float>.stride
      return Line(name: name, nanoseconds: ms * 1e6, bytesCopied: copied)
    }
  }
}

/// Writes a progress line to stderr.
func printError(_ message: String) {
  let line = Array((message + "\n").utf8)
  _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
