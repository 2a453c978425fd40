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

@Suite("Activations: Double precision")
struct DoubleActivationTests {
  /// Every 2⁴⁵-th finite bit pattern of each sign (~260 K values), plus the edges: ±0, the
  /// smallest subnormals, the boundaries of each formula, the overflow and underflow limits.
  static func sweep() -> [Double] {
    var values: [Double] = [
      0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
      .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.34657359027997264, 19.06, 19.1,
      709.78, 709.79, -745.13, -745.14, -708.4, 1e-300, 0x1p-1070,
    ]
    var bits: UInt64 = 0
    while bits < 0x7FF0_0000_0000_0000 {
      let v = Double(bitPattern: bits)
      values += [v, -v]
      bits += 1 << 45
    }
    return values
  }

  /// |a − reference| in units of the reference's last place (subnormal spacing below).
  static func ulps(_ a: Double, _ reference: Float80) -> Double {
    let r = Double(reference)
    if a == r || (a.isNaN && r.isNaN) { return 0 }
    if a.isNaN || r.isNaN || a.isInfinite || r.isInfinite { return .infinity }
    let unit = max(r.ulp, Double.leastNonzeroMagnitude)
    return Double(abs(Float80(a) - reference) / Float80(unit))
  }

  @Test("exp, expm1, tanh and sigmoid stay within 4 ulps of the exact values (Float80 libm)")
  func accuracy() {
    var worst: [String: (ulps: Double, x: Double)] = [:]
    func record(_ name: String, _ ulps: Double, _ x: Double) {
      if ulps > worst[name]?.ulps ?? -1 { worst[name] = (ulps, x) }
    }
    for x in Self.sweep() {
      let wide = Float80(x)
      record("exp", Self.ulps(Activations.preciseExp(x), Foundation.exp(wide)), x)
      record("expm1", Self.ulps(Activations.preciseExpm1(x), Foundation.expm1(wide)), x)
      record("tanh", Self.ulps(Activations.preciseTanh(x), Foundation.tanh(wide)), x)
      record(
        "sigmoid", Self.ulps(Activations.preciseSigmoid(x), 1 / (1 + Foundation.exp(-wide))), x)
    }
    for (name, (ulps, x)) in worst.sorted(by: { $0.key < $1.key }) {
      #expect(ulps <= 4, "\(name): \(ulps) ulps at x = \(x)")
    }
  }

  @Test("signs, saturation and specials as libm's")
  func edges() {
    #expect(Activations.preciseTanh(-0.0).sign == .minus && Activations.preciseTanh(-0.0) == 0)
    #expect(Activations.preciseTanh(.infinity) == 1 && Activations.preciseTanh(-.infinity) == -1)
    #expect(
      Activations.preciseSigmoid(.infinity) == 1 && Activations.preciseSigmoid(-.infinity) == 0)
    #expect(
      Activations.preciseExp(.infinity) == .infinity && Activations.preciseExp(-.infinity) == 0)
    #expect(Activations.preciseExp(710) == .infinity && Activations.preciseExp(-746) == 0)
    for f in [
      Activations.preciseExp, Activations.preciseExpm1, Activations.preciseTanh,
      Activations.preciseSigmoid,
    ] as [(Double) -> Double] {
      #expect(f(.nan).isNaN)
    }
    // The generic entry points take the precise forms for Double.
    #expect(Activations.tanh(0.5 as Double) == Activations.preciseTanh(0.5))
    #expect(Activations.sigmoid(-3 as Double) == Activations.preciseSigmoid(-3))
  }
}
