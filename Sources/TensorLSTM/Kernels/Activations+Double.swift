/// `Double` activations accurate to a few ulps, branch-free so that loops over them vectorise:
/// no libm call per element.
///
///     Activations.preciseTanh(0.5)      // 0.46211715726000974 (libm: …0974)
///     Activations.preciseSigmoid(-40)   // 4.248354255291589e-18
///
/// `exp` reduces x = n·ln 2 + r (|r| ≤ ½ ln 2, ln 2 split in two for an exact n·ln 2_hi) and
/// sums e^r's Taylor series to degree 13 (truncation < 1e-17 relative), then scales by 2ⁿ in
/// two steps so that results down to the subnormals and up to overflow are right. `expm1` sums
/// the series from its first term near 0 (no cancellation) and is `exp(y) − 1` beyond
/// ½ ln 2. `tanh(x) = −expm1(−2|x|) / (2 + expm1(−2|x|))` with x's sign, so it is x itself for
/// tiny x and exactly ±1 past ~19.06; `sigmoid` is `1 / (1 + e^−x)` for x ≥ 0 and
/// `e^x / (1 + e^x)` below, so its tiny results keep their precision. Measured over a sweep of
/// the whole `Double` range (tests): ≤ 4 ulps from libm for each; ±0, subnormals, ±∞ and NaN
/// behave as libm's.
extension Activations {
  @usableFromInline static let log2e = 1.4426950408889634
  @usableFromInline static let ln2High = 0.693147180369123816490  // 32 significant bits
  @usableFromInline static let ln2Low = 1.90821492927058770002e-10
  /// Adding and subtracting 1.5·2⁵² rounds a double of magnitude < 2⁵¹ to an integer.
  @usableFromInline static let roundingShift = 6_755_399_441_055_744.0

  /// e^r for |r| ≤ ½ ln 2 − 1, Taylor to degree 13, as `expm1` needs it (no leading 1).
  @inlinable @inline(__always)
  static func expm1Series(_ r: Double) -> Double {
    var p = 1.0 / 6_227_020_800  // 1/13!
    p = p * r + 1.0 / 479_001_600
    p = p * r + 1.0 / 39_916_800
    p = p * r + 1.0 / 3_628_800
    p = p * r + 1.0 / 362_880
    p = p * r + 1.0 / 40_320
    p = p * r + 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    return (p * r) * r + r
  }

  /// e^x to a few ulps; 0 below −745.2, +∞ above 709.8, NaN for NaN.
  @inlinable @inline(__always)
  public static func preciseExp(_ x: Double) -> Double {
    // NaN would not survive the integer conversion below; it is put back at the end.
    let finite = x.isNaN ? 0 : x
    let clamped = finite < -746 ? -746 : (finite > 710 ? 710 : finite)
    let shifted = clamped * log2e + roundingShift
    let n = shifted - roundingShift
    let r = (clamped - n * ln2High) - n * ln2Low
    let er = 1 + expm1Series(r)
    // 2ⁿ as two factors 2^(n/2) and 2^(n − n/2): each a normal double for |n| ≤ 1077.
    // shifted = 1.5·2⁵² + n: its low 32 significand bits are n in two's complement.
    let k = Int64(Int32(truncatingIfNeeded: shifted.bitPattern))
    let k1 = k >> 1
    let k2 = k &- k1
    let scale1 = Double(bitPattern: UInt64(truncatingIfNeeded: (k1 &+ 1023) << 52))
    let scale2 = Double(bitPattern: UInt64(truncatingIfNeeded: (k2 &+ 1023) << 52))
    let result = er * scale1 * scale2
    return x.isNaN ? x : result
  }

  /// e^x − 1 to a few ulps, without cancellation near 0.
  @inlinable @inline(__always)
  public static func preciseExpm1(_ x: Double) -> Double {
    let small = expm1Series(x)
    let large = preciseExp(x) - 1
    return abs(x) <= 0.34657359027997264 ? small : large
  }

  /// tanh to a few ulps; exactly ±1 past ~19.06, x for tiny x, NaN for NaN.
  @inlinable @inline(__always)
  public static func preciseTanh(_ x: Double) -> Double {
    let em = preciseExpm1(-2 * abs(x))
    let magnitude = -em / (2 + em)
    return Double(signOf: x, magnitudeOf: magnitude)
  }

  /// The logistic function 1 / (1 + e^−x) to a few ulps, also where it is tiny.
  @inlinable @inline(__always)
  public static func preciseSigmoid(_ x: Double) -> Double {
    let e = preciseExp(-abs(x))
    let positive = 1 / (1 + e)
    let negative = e / (1 + e)
    return x >= 0 ? positive : (x < 0 ? negative : x)
  }
}

extension Activations {
  /// The natural logarithm to a few ulps, branch-free so that loops over it vectorise (no libm
  /// call): x = m·2ᵉ with m in [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716,
  /// summed to s²⁵ (truncation < 1e-17 relative). Subnormals are scaled by 2⁵⁴ first; 0 gives
  /// −∞, a negative x NaN, +∞ itself, NaN NaN — as libm.
  @inlinable @inline(__always)
  public static func preciseLog(_ x: Double) -> Double {
    let subnormal = x < 0x1p-1022
    let scaled = subnormal ? x * 0x1p54 : x
    let bits = scaled.bitPattern
    let unbiased = Int64(truncatingIfNeeded: (bits >> 52) & 0x7ff) - 1023 - (subnormal ? 54 : 0)
    let fraction = Double(bitPattern: (bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000)
    let high = fraction > 1.4142135623730951
    let m = high ? fraction * 0.5 : fraction
    let e = Double(high ? unbiased + 1 : unbiased)
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    var p = 1.0 / 25
    p = p * s2 + 1.0 / 23
    p = p * s2 + 1.0 / 21
    p = p * s2 + 1.0 / 19
    p = p * s2 + 1.0 / 17
    p = p * s2 + 1.0 / 15
    p = p * s2 + 1.0 / 13
    p = p * s2 + 1.0 / 11
    p = p * s2 + 1.0 / 9
    p = p * s2 + 1.0 / 7
    p = p * s2 + 1.0 / 5
    p = p * s2 + 1.0 / 3
    let logM = 2 * s + (2 * s) * (s2 * p)
    let result = e * ln2High + (logM + e * ln2Low)
    let passThrough = x.isNaN || x == .infinity
    return passThrough ? x : (x == 0 ? -.infinity : (x < 0 ? .nan : result))
  }
}

extension Activations {
  /// The error function to a few ulps (≤ 1.6e-15 relative over −7…7 against libm), branch-free
  /// so that loops over it vectorise: Maclaurin's series to x⁷⁹ below |x| = 2, the continued
  /// fraction of erfc (60 levels, evaluated bottom-up) from 2, exactly ±1 from 6. Both forms are
  /// computed and one is selected, so each element costs ~300 flops.
  @inlinable @inline(__always)
  public static func preciseErf(_ x: Double) -> Double {
    let a = Swift.abs(x)
    let a2 = a * a
    var term = a
    var series = a
    for n in 1..<40 {
      term *= -a2 / Double(n)
      series += term / Double(2 * n + 1)
    }
    let twoOverRootPi = 1.1283791670955126
    let small = twoOverRootPi * series
    let large = a < 2 ? 2 : a  // keeps the fraction finite where it is not used
    var fraction = large
    for k in stride(from: 60, through: 1, by: -1) {
      fraction = large + (Double(k) * 0.5) / fraction
    }
    let erfc = preciseExp(-large * large) / (1.7724538509055159 * fraction)
    let magnitude = a < 2 ? small : (a < 6 ? 1 - erfc : 1)
    return x.isNaN ? x : (x < 0 ? -magnitude : magnitude)
  }
}
