import Foundation
import TensorLSTM
import Testing

/// The fused Double kernels: their precise activations lane by lane against libm, and the
/// fused steps (every cell, tails, register tiles, passes over the inputs, the hidden split)
/// against the portable path, which the float64 fixtures hold to PyTorch.
@Suite("Double fused kernels")
struct DoubleKernelTests {
  /// Units per layer: two full AVX-512 Double vectors (four AVX2 ones) and a tail of 3.
  static let hidden = 19

  /// Unit u scales its input by 2^(u − 8), exactly, so every lane sees its own value.
  static func scale(_ unit: Int) -> Double {
    Double(sign: .plus, exponent: unit - 8, significand: 1)
  }

  /// Pre-activations over the Double range: subnormal to ~1e300, both signs, around the
  /// series/exp boundary (|2x| = ½ ln 2), where tanh reaches ±1 (~19.06) and σ underflows
  /// (−745), and a sweep of ordinary values.
  static let finite: [Double] = {
    var values: [Double] = [
      0, 5e-324, 1e-310, 1e-200, 1e-20, 1e-8, 0.17328679513998632, 0.1733, 19.06, 40,
    ]
    values += [700, 745, 746, 1e300]
    values += stride(from: -12.0, through: 12.0, by: 0.37).map { $0 }
    return values + values.map { -$0 }
  }()

  /// The distance of `actual` from `expected` in units of `expected`'s last place (0 for equal
  /// values, both NaN included).
  static func ulps(_ actual: Double, _ expected: Double) -> Double {
    if actual == expected || (actual.isNaN && expected.isNaN) { return 0 }
    if actual.isNaN || expected.isNaN || actual.isInfinite || expected.isInfinite {
      return .infinity
    }
    return abs(actual - expected) / expected.ulp
  }

  @Test(
    "tanh and relu RNN steps: within 4 ulps of libm's tanh on every lane, ±∞ and NaN as libm",
    arguments: RecurrentKernels.supported, [RNNNonlinearity.tanh, .relu])
  func rnnActivation(kernels: RecurrentKernels, nonlinearity: RNNNonlinearity) throws {
    let h = Self.hidden
    var rnn = RNN<Double>(inputSize: 1, hiddenSize: h, nonlinearity: nonlinearity, bias: false)
    try rnn.loadStateDict([
      "weight_ih_l0": Tensor(shape: [h, 1], scalars: (0..<h).map(Self.scale)),
      "weight_hh_l0": Tensor.zeros(shape: [h, h]),
    ])
    rnn.kernels = kernels
    let values = Self.finite + [.infinity, -.infinity, .nan]
    let out = try rnn(Tensor(shape: [1, values.count, 1], scalars: values)).output.scalars
    var worst = 0.0
    for (b, value) in values.enumerated() {
      for u in 0..<h {
        let a = value * Self.scale(u)
        let expected = nonlinearity == .tanh ? Foundation.tanh(a) : (a.isNaN ? a : Swift.max(0, a))
        let distance = Self.ulps(out[b * h + u], expected)
        worst = Swift.max(worst, distance)
        #expect(distance <= 4, "\(nonlinearity)(\(a)) = \(out[b * h + u]), libm \(expected)")
      }
    }
    #expect(worst <= 4)
  }

  @Test(
    "σ in the LSTM step: within 8 ulps of libm's σ(x) · tanh(1) on every lane",
    arguments: RecurrentKernels.supported)
  func sigmoid(kernels: RecurrentKernels) throws {
    let h = Self.hidden
    // i and g saturate (σ(800) = tanh(800) = 1), f multiplies c0 = 0: c = 1 and h = σ(o)·tanh(1),
    // o being the scaled input.
    var lstm = LSTM<Double>(inputSize: 1, hiddenSize: h)
    let zeros = [Double](repeating: 0, count: h)
    let saturated = [Double](repeating: 800, count: h)
    try lstm.loadStateDict([
      "weight_ih_l0": Tensor(
        shape: [4 * h, 1], scalars: zeros + zeros + zeros + (0..<h).map(Self.scale)),
      "weight_hh_l0": Tensor.zeros(shape: [4 * h, h]),
      "bias_ih_l0": Tensor(shape: [4 * h], scalars: saturated + zeros + saturated + zeros),
      "bias_hh_l0": Tensor.zeros(shape: [4 * h]),
    ])
    lstm.kernels = kernels
    let values = Self.finite
    let out = try lstm(Tensor(shape: [1, values.count, 1], scalars: values)).output.scalars
    for (b, value) in values.enumerated() {
      for u in 0..<h {
        let a = value * Self.scale(u)
        // e^a / (1 + e^a) below 0, where 1 / (1 + e^−a) would overflow to 0 before σ does.
        let e = Foundation.exp(-abs(a))
        let expected = (a < 0 ? e / (1 + e) : 1 / (1 + e)) * Foundation.tanh(1)
        let distance = Self.ulps(out[b * h + u], expected)
        #expect(distance <= 8, "σ(\(a))·tanh(1) = \(out[b * h + u]), libm \(expected)")
      }
    }
  }

  /// One layer type of each cell, stacked and bidirectional (the LSTM with a projection too).
  static func models(kernels: RecurrentKernels, threads: Int) -> [(
    String, any RecurrentLayer<Double>
  )] {
    var lstm = LSTM<Double>(
      inputSize: 11, hiddenSize: 100, numLayers: 2, bidirectional: true, seed: 3)
    var projected = LSTM<Double>(inputSize: 11, hiddenSize: 37, projSize: 13, seed: 4)
    var gru = GRU<Double>(
      inputSize: 11, hiddenSize: 100, numLayers: 2, bidirectional: true, seed: 5)
    var tanh = RNN<Double>(inputSize: 11, hiddenSize: 100, nonlinearity: .tanh, seed: 6)
    var relu = RNN<Double>(inputSize: 11, hiddenSize: 37, nonlinearity: .relu, seed: 7)
    (lstm.kernels, projected.kernels, gru.kernels, tanh.kernels, relu.kernels) = (
      kernels, kernels, kernels, kernels, kernels
    )
    (lstm.threads, gru.threads, tanh.threads) = (threads, threads, threads)
    return [
      ("lstm", lstm), ("lstm proj", projected), ("gru", gru), ("rnn tanh", tanh),
      ("rnn relu", relu),
    ]
  }

  @Test(
    "fused Double steps equal the portable path within 1e-13 (B 1, 7: tiles of 4 + 3 and two passes over 100 inputs; 13; 2 threads split the units)",
    arguments: RecurrentKernels.supported.filter { $0 != .portable }, [1, 7, 13])
  func fusedMatchesPortable(kernels: RecurrentKernels, batch: Int) throws {
    let x = Tensor<Double>.randomNormal(shape: [20, batch, 11], seed: UInt64(batch))
    let reference = Self.models(kernels: .portable, threads: 1)
    for threads in [1, 2] {
      for ((name, fused), (_, portable)) in zip(
        Self.models(kernels: kernels, threads: threads), reference)
      {
        let (a, b) = (try fused.forward(x, lengths: nil), try portable.forward(x, lengths: nil))
        expectClose(a, b, absolute: 1e-13, relative: 1e-12, "\(name) \(kernels) threads \(threads)")
      }
    }
  }
}
