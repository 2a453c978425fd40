import Glibc

/// The exact elementary functions (libm, in `Double`) that the reference paths and set-up code
/// use. Hot paths never call these per element; they use ``Activations`` instead.
enum Math {
  static func exp(_ x: Double) -> Double { Glibc.exp(x) }
  static func log(_ x: Double) -> Double { Glibc.log(x) }
  static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
  static func sin(_ x: Double) -> Double { Glibc.sin(x) }
  static func cos(_ x: Double) -> Double { Glibc.cos(x) }
  /// The exact logistic function 1 / (1 + e^-x), stable for large |x|.
  static func sigmoid(_ x: Double) -> Double {
    if x >= 0 { return 1 / (1 + exp(-x)) }
    let e = exp(x)
    return e / (1 + e)
  }
}
