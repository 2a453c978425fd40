import Foundation
import TensorLSTM
import Testing

@Suite("Activations: the vectorised approximations")
struct ActivationTests {
  /// Every 97th Float bit pattern that is finite, plus specials: the whole range, both signs.
  static func sweep() -> [Float] {
    var values: [Float] = [0, -0, .infinity, -.infinity, .greatestFiniteMagnitude, 7.905, 9, 20]
    var bits: UInt32 = 0
    while bits < 0x7F80_0000 {
      let v = Float(bitPattern: bits)
      values.append(v)
      values.append(-v)
      bits += 97 * 113
    }
    return values
  }

  @Test("tanh and sigmoid stay within 1e-6 absolute of the exact functions")
  func accuracy() {
    var worstTanh = 0.0
    var worstSigmoid = 0.0
    for x in Self.sweep() {
      let exactTanh = Foundation.tanh(Double(x))
      let exactSigmoid = 1 / (1 + Foundation.exp(-Double(x)))
      worstTanh = max(worstTanh, abs(Double(Activations.tanh(x)) - exactTanh))
      worstSigmoid = max(worstSigmoid, abs(Double(Activations.sigmoid(x)) - exactSigmoid))
      let vector = Activations.tanh(SIMD8<Float>(repeating: x))
      #expect(vector[3] == Activations.tanh(x), "vector and scalar forms agree at \(x)")
    }
    #expect(worstTanh <= 1e-6, "worst tanh error \(worstTanh)")
    #expect(worstSigmoid <= 1e-6, "worst sigmoid error \(worstSigmoid)")
  }

  @Test("saturation is exact and in range; NaN propagates")
  func edges() {
    #expect(Activations.tanh(Float.infinity) == 1)
    #expect(Activations.tanh(-Float.infinity) == -1)
    #expect(Activations.sigmoid(Float.infinity) == 1)
    #expect(Activations.sigmoid(-Float.infinity) == 0)
    for x: Float in [8, 50, 1e30] {
      #expect(abs(Activations.tanh(x)) <= 1 && Activations.tanh(x) >= 0.9999999)
      #expect(Activations.sigmoid(-x) >= 0 && Activations.sigmoid(x) <= 1)
    }
    #expect(Activations.tanh(Float.nan).isNaN)
    #expect(Activations.sigmoid(Float.nan).isNaN)
    #expect(Activations.tanh(Double.nan).isNaN)
    let mixed = Activations.tanh(SIMD8<Float>(0, .nan, 1, -1, 0, .nan, 3, -3))
    #expect(mixed[1].isNaN && mixed[5].isNaN && !mixed[0].isNaN && mixed[2] > 0.76)
  }
}
