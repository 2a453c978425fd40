import Foundation
import TensorLSTM
import Testing

/// The AVX2+FMA kernels (`RecurrentKernels.automatic` for Float) against the portable path and the
/// naive oracle, over the sizes that exercise their edges: a unit count that is not a multiple
/// of 8 (masked tails), an odd batch (the one-row kernel after the row pairs), row counts that
/// are not a multiple of 6 (the projection's row blocks), and more than 128 recurrent or 256
/// input features (several passes over the packed panels, partial sums in between).
@Suite("LSTM: fused AVX2 kernels")
struct FusedKernelTests {
  @Test("the CPU check agrees with /proc/cpuinfo's flags")
  func detection() throws {
    let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    let flags =
      cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }
      .map { Set($0.split(separator: " ")) } ?? []
    #expect(RecurrentKernels.isFusedSupported == (flags.contains("avx2") && flags.contains("fma")))
  }

  @Test(
    "automatic matches portable and the oracle",
    arguments: [1, 2, 3, 6], [5, 8, 13, 136])
  func matches(batch: Int, hidden: Int) throws {
    var random = TestRandom(seed: UInt64(batch * 1000 + hidden))
    let steps = 6
    let features = hidden > 128 ? 300 : 9
    for variant in ["plain", "projected", "lengths", "bidirectional"] {
      var model = LSTM<Float>(
        inputSize: features, hiddenSize: hidden, bidirectional: variant == "bidirectional",
        projSize: variant == "projected" ? hidden / 2 : 0, seed: UInt64(hidden))
      // Batch-first data read time-major: strided rows for the projection.
      let x: Tensor<Float> = random.tensor([batch, steps, features]).permuted([1, 0, 2])
      let lengths = variant == "lengths" ? (0..<batch).map { 1 + $0 % steps } : nil
      let rows = model.directions
      let state = LSTMState<Float>(
        hidden: random.tensor([rows, batch, model.outputHiddenSize]),
        cell: random.tensor([rows, batch, hidden]))
      let oracle = try Naive.lstm(model, x, initialState: state, lengths: lengths)
      for kernels in [RecurrentKernels.automatic, .portable] {
        model.kernels = kernels
        let out = try model(x, initialState: state, lengths: lengths)
        let context = "\(variant) \(kernels)"
        expectClose(out.output, oracle.output, "output \(context)")
        expectClose(out.hidden, oracle.hidden, "hidden \(context)")
        expectClose(out.cell, oracle.cell, "cell \(context)")
      }
    }
  }

  @Test(
    "long sequences stay within tolerance of the oracle (errors do not build up)",
    arguments: [false, true])
  func longSequence(batchFirst: Bool) throws {
    var random = TestRandom(seed: 77)
    let model = LSTM<Float>(
      inputSize: 9, hiddenSize: 136, batchFirst: batchFirst, seed: 5)
    // Batch-first, 8 × 1100 steps take five gate chunks, with the input rows gathered per chunk.
    let x: Tensor<Float> = random.tensor(batchFirst ? [8, 1100, 9] : [300, 3, 9])
    let fast = try model(x)
    let slow = try Naive.lstm(model, x)
    expectClose(fast.output, slow.output, absolute: 1e-4, relative: 1e-4)
    expectClose(fast.cell, slow.cell, absolute: 1e-4, relative: 1e-4)
  }
}
