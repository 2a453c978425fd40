/// Elementwise arithmetic and activations with NumPy/PyTorch broadcasting.
///
///     let y = (x + b) * Tensor<Float>(repeating: 2, shape: [1])   // [B, T, H] + [H] → [B, T, H]
///     let z = y.relu().sqrt()
///
/// Operands are read through their strides (permuted, stepped and broadcast views cost no
/// copy); the result is a new contiguous tensor of the broadcast shape. Cost: one pass over
/// the result, the innermost axis a plain loop that vectorises when both operands have unit
/// or zero stride there. `exp`, `log`, `sigmoid`, `tanh` and `pow` call no libm function per
/// element (``Activations``); `Float` computes `exp` and `log` through the `Double` forms and
/// rounds once.
extension Tensor {
  /// The shape two shapes broadcast to (NumPy's rules: aligned from the last axis, sizes equal
  /// or one of them 1).
  ///
  /// - Precondition: the shapes broadcast; the message names both and the fix.
  public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = Swift.max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for axis in 0..<rank {
      let x = axis < rank - a.count ? 1 : a[axis - (rank - a.count)]
      let y = axis < rank - b.count ? 1 : b[axis - (rank - b.count)]
      require(
        x == y || x == 1 || y == 1,
        "broadcasting: shapes \(a) and \(b) differ at axis \(axis) of \(rank) (\(x) vs \(y)); sizes must be equal or 1 — reshape or unsqueeze one operand"
      )
      result[axis] = x == 1 ? y : x
    }
    return result
  }

  /// `op` of the broadcast pair `(a, b)`, elementwise, into a new contiguous tensor.
  @inline(__always)
  static func zipped(
    _ a: Tensor, _ b: Tensor, _ op: (Scalar, Scalar) -> Scalar
  ) -> Tensor {
    let shape = broadcastShape(a.shape, b.shape)
    let result = Tensor.zeros(shape: shape)
    zipped(a, a.layout.expanded(to: shape), b, b.layout.expanded(to: shape), into: result, op)
    return result
  }

  /// `op` of `a` and `b` read through `aLayout` and `bLayout` (their layouts expanded to the
  /// result's shape) into `result`, which must not share storage with either; no allocation.
  @inline(__always)
  static func zipped(
    _ a: Tensor, _ aLayout: TensorLayout, _ b: Tensor, _ bLayout: TensorLayout,
    into result: Tensor, _ op: (Scalar, Scalar) -> Scalar
  ) {
    let out = result.storage.base
    withExtendedLifetime((a, b, result)) {
      let (x, y) = (a.storage.base, b.storage.base)
      StridedWalk.forEachRow(aLayout, bLayout, result.layout, merging: true) {
        i, j, k, n, si, sj, sk in
        if si == 1 && sj == 1 && sk == 1 {
          for t in 0..<n { out[k + t] = op(x[i + t], y[j + t]) }
        } else if si == 1 && sj == 0 && sk == 1 {
          let v = y[j]
          for t in 0..<n { out[k + t] = op(x[i + t], v) }
        } else if si == 0 && sj == 1 && sk == 1 {
          let u = x[i]
          for t in 0..<n { out[k + t] = op(u, y[j + t]) }
        } else {
          for t in 0..<n { out[k + t * sk] = op(x[i + t * si], y[j + t * sj]) }
        }
      }
    }
  }

  /// `op` of every element, into a new contiguous tensor of this shape.
  @inline(__always)
  func mapped(_ op: (Scalar) -> Scalar) -> Tensor {
    let result = Tensor.zeros(shape: shape)
    let out = result.storage.base
    withExtendedLifetime(self) {
      let x = storage.base
      StridedWalk.forEachRow(layout, result.layout, merging: true) { i, k, n, si, _ in
        if si == 1 {
          for t in 0..<n { out[k + t] = op(x[i + t]) }
        } else {
          for t in 0..<n { out[k + t] = op(x[i + t * si]) }
        }
      }
    }
    return result
  }

  /// Elementwise sum with broadcasting; O(result count).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func + (a: Tensor, b: Tensor) -> Tensor { zipped(a, b) { $0 + $1 } }

  /// Elementwise difference with broadcasting; O(result count).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func - (a: Tensor, b: Tensor) -> Tensor { zipped(a, b) { $0 - $1 } }

  /// Elementwise product with broadcasting; O(result count).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func * (a: Tensor, b: Tensor) -> Tensor { zipped(a, b) { $0 * $1 } }

  /// Elementwise quotient with broadcasting (IEEE: x/0 is ±∞ or NaN); O(result count).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func / (a: Tensor, b: Tensor) -> Tensor { zipped(a, b) { $0 / $1 } }

  /// `a + s` for every element.
  public static func + (a: Tensor, s: Scalar) -> Tensor { a + Tensor(repeating: s, shape: []) }
  /// `s + a` for every element.
  public static func + (s: Scalar, a: Tensor) -> Tensor { Tensor(repeating: s, shape: []) + a }
  /// `a − s` for every element.
  public static func - (a: Tensor, s: Scalar) -> Tensor { a - Tensor(repeating: s, shape: []) }
  /// `s − a` for every element.
  public static func - (s: Scalar, a: Tensor) -> Tensor { Tensor(repeating: s, shape: []) - a }
  /// `a · s` for every element.
  public static func * (a: Tensor, s: Scalar) -> Tensor { a * Tensor(repeating: s, shape: []) }
  /// `s · a` for every element.
  public static func * (s: Scalar, a: Tensor) -> Tensor { Tensor(repeating: s, shape: []) * a }
  /// `a / s` for every element.
  public static func / (a: Tensor, s: Scalar) -> Tensor { a / Tensor(repeating: s, shape: []) }
  /// `s / a` for every element.
  public static func / (s: Scalar, a: Tensor) -> Tensor { Tensor(repeating: s, shape: []) / a }

  /// Every element negated (PyTorch's `neg`).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static prefix func - (a: Tensor) -> Tensor { a.mapped { -$0 } }

  /// Every element negated (PyTorch's `neg`); the same as prefix `-`.
  public func negated() -> Tensor { -self }

  /// |x| of every element.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func abs() -> Tensor { mapped { Swift.abs($0) } }

  /// √x of every element (the hardware instruction; NaN below 0).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func sqrt() -> Tensor { mapped { $0.squareRoot() } }

  /// eˣ of every element (``Activations/preciseExp(_:)``).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func exp() -> Tensor { mapped { Scalar(Activations.preciseExp(Double($0))) } }

  /// ln x of every element (``Activations/preciseLog(_:)``): −∞ at 0, NaN below.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func log() -> Tensor { mapped { Scalar(Activations.preciseLog(Double($0))) } }

  /// max(x, 0) of every element (NaN stays NaN, as PyTorch's `relu`).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func relu() -> Tensor { mapped { $0 < 0 ? 0 : $0 } }

  /// The logistic function of every element (``Activations/sigmoid(_:)``).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func sigmoid() -> Tensor { mapped { Activations.sigmoid($0) } }

  /// tanh of every element (``Activations/tanh(_:)``).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func tanh() -> Tensor { mapped { Activations.tanh($0) } }

  /// `x · Φ(x) = ½ x (1 + erf(x/√2))` of every element, PyTorch's exact `gelu`
  /// (``Activations/preciseErf(_:)``, in `Double`).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func gelu() -> Tensor {
    mapped {
      let x = Double($0)
      return Scalar(0.5 * x * (1 + Activations.preciseErf(x * 0.7071067811865476)))
    }
  }

  /// `xʸ` elementwise with broadcasting, as `torch.pow`: a negative base with a whole exponent
  /// keeps its sign rule (`(−2)³ = −8`), with any other exponent gives NaN; `x⁰ = 1`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func pow(_ exponent: Tensor) -> Tensor {
    Tensor.zipped(self, exponent) { Tensor.power($0, $1) }
  }

  /// `xʸ` of every element for one exponent; see ``pow(_:)-(Tensor)``.
  public func pow(_ exponent: Scalar) -> Tensor {
    if exponent == 2 { return mapped { $0 * $0 } }
    return pow(Tensor(repeating: exponent, shape: []))
  }

  /// `xʸ` through `exp(y · ln|x|)` in `Double`, with the sign of a negative base under a whole
  /// exponent; branch-free.
  @inline(__always)
  static func power(_ x: Scalar, _ y: Scalar) -> Scalar {
    let (base, exponent) = (Double(x), Double(y))
    let magnitude = Activations.preciseExp(exponent * Activations.preciseLog(Swift.abs(base)))
    let whole = exponent.rounded(.towardZero) == exponent
    let odd = whole && (exponent * 0.5).rounded(.towardZero) != exponent * 0.5
    let signed = base < 0 ? (whole ? (odd ? -magnitude : magnitude) : .nan) : magnitude
    return Scalar(exponent == 0 ? 1 : signed)
  }
}
