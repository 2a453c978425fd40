/// The vectorised sigmoid and tanh that the LSTM's fused gate pass uses: no libm call.
///
///     Activations.tanh(0.5 as Float)      // 0.46211714…
///     Activations.sigmoid(-2.0 as Float)  // 0.11920292…
///
/// `tanh` is the odd rational minimax approximation p(x)/q(x) of degrees 13/6 used by Eigen and
/// onnxruntime's MLAS, with x clamped to ±7.905 (where tanh rounds to ±1 in `Float`);
/// `sigmoid(x) = ½ + ½·tanh(x/2)`. Measured error against the exact functions over the whole
/// `Float` range (tests sweep it): under 1e-6 absolute, ±1 and 0/1 at saturation, ±∞ saturate,
/// NaN propagates. For `Double` both are the precise forms (``preciseTanh(_:)``,
/// ``preciseSigmoid(_:)``: a few ulps over the whole range), so a `Double` model is accurate
/// to double precision. The scalar forms are written so that loops over them vectorise; the
/// LSTM's gate pass is such a loop.
public enum Activations {
  // Numerator p(x) = x · (α1 + α3 x² + … + α13 x¹²), denominator q(x) = β0 + β2 x² + … + β6 x⁶.
  @usableFromInline static let alpha13 = -2.76076847742355e-16
  @usableFromInline static let alpha11 = 2.00018790482477e-13
  @usableFromInline static let alpha9 = -8.60467152213735e-11
  @usableFromInline static let alpha7 = 5.12229709037114e-08
  @usableFromInline static let alpha5 = 1.48572235717979e-05
  @usableFromInline static let alpha3 = 6.37261928875436e-04
  @usableFromInline static let alpha1 = 4.89352455891786e-03
  @usableFromInline static let beta6 = 1.19825839466702e-06
  @usableFromInline static let beta4 = 1.18534705686654e-04
  @usableFromInline static let beta2 = 2.26843463243900e-03
  @usableFromInline static let beta0 = 4.89352518554385e-03
  @usableFromInline static let clamp = 7.90531110763549805

  /// tanh of one scalar: for `Float`, clamp, then p(x)/q(x) (~25 flops, no branch once
  /// vectorised); for `Double`, ``preciseTanh(_:)``.
  ///
  /// The clamp is two selects, which keep NaN (both comparisons are false), so NaN propagates
  /// through p/q without a separate check. Written per element so that LLVM vectorises the
  /// loops that call it.
  @inlinable @inline(__always)
  public static func tanh<S: BLASScalar>(_ x: S) -> S {
    if S.self == Double.self {
      // Folded away when specialised: Double takes the precise form.
      return unsafeBitCast(preciseTanh(unsafeBitCast(x, to: Double.self)), to: S.self)
    }
    let limit = S(clamp)
    var v = x < -limit ? -limit : x
    v = v > limit ? limit : v
    let v2 = v * v
    var p = S(alpha13) * v2 + S(alpha11)
    p = p * v2 + S(alpha9)
    p = p * v2 + S(alpha7)
    p = p * v2 + S(alpha5)
    p = p * v2 + S(alpha3)
    p = p * v2 + S(alpha1)
    var q = S(beta6) * v2 + S(beta4)
    q = q * v2 + S(beta2)
    q = q * v2 + S(beta0)
    return (p * v) / q
  }

  /// The logistic function 1 / (1 + e^-x) of one scalar: for `Float` as ½ + ½·tanh(x/2), for
  /// `Double` ``preciseSigmoid(_:)``.
  @inlinable @inline(__always)
  public static func sigmoid<S: BLASScalar>(_ x: S) -> S {
    if S.self == Double.self {
      return unsafeBitCast(preciseSigmoid(unsafeBitCast(x, to: Double.self)), to: S.self)
    }
    return 0.5 + 0.5 * tanh(0.5 * x)
  }

  /// tanh of every lane, with the scalar form's results.
  @inlinable
  public static func tanh<V: SIMD>(_ x: V) -> V where V.Scalar: BLASScalar {
    var result = x
    for i in x.indices { result[i] = tanh(x[i]) }
    return result
  }

  /// sigmoid of every lane, with the scalar form's results.
  @inlinable
  public static func sigmoid<V: SIMD>(_ x: V) -> V where V.Scalar: BLASScalar {
    var result = x
    for i in x.indices { result[i] = sigmoid(x[i]) }
    return result
  }
}
