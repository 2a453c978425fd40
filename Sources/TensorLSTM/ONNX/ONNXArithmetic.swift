import Glibc

/// Elementwise, comparison, selection, casting, normalisation and matrix products of
/// ``ONNXValue``s with ONNX's broadcasting and type rules: both operands of a binary op have
/// one element type (float, int64 or bool), comparisons give bool.
enum ONNXArithmetic {
  static func unary(_ op: ONNXOperator.Unary, _ x: ONNXValue, _ node: String) throws(ONNXError)
    -> ONNXValue
  {
    switch (op, x) {
    case (.not, .bool(let v, let shape)): return .bool(v.map { !$0 }, shape: shape)
    case (.abs, .int64(let v, let shape)):
      return .int64(v.map { $0 == .min ? .min : Swift.abs($0) }, shape: shape)
    case (.neg, .int64(let v, let shape)): return .int64(v.map { 0 &- $0 }, shape: shape)
    case (.relu, .int64(let v, let shape)): return .int64(v.map { Swift.max($0, 0) }, shape: shape)
    case (_, .float(let t)) where op != .not:
      let x = t.contiguous()
      let y = Tensor<Float>.unfilled(shape: t.shape)
      withExtendedLifetime(x) {
        apply(op, x.storage.base + x.layout.offset, into: y.storage.base, count: y.count)
      }
      return .float(y)
    default: break
    }
    throw ONNXError.runtime(node: node, reason: "\(op) is not defined for \(x.elementType) input")
  }

  /// `op` of `count` contiguous floats into `y`: the one loop of every float activation, in
  /// a plan's replay and in a traced run alike.
  static func apply(
    _ op: ONNXOperator.Unary, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
    count n: Int
  ) {
    switch op {
    case .relu: for i in 0..<n { y[i] = x[i] < 0 ? 0 : x[i] }
    case .sigmoid: for i in 0..<n { y[i] = Activations.sigmoid(x[i]) }
    case .tanh: for i in 0..<n { y[i] = Activations.tanh(x[i]) }
    case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
    case .exp: for i in 0..<n { y[i] = Float(Activations.preciseExp(Double(x[i]))) }
    case .log: for i in 0..<n { y[i] = Float(Activations.preciseLog(Double(x[i]))) }
    case .abs: for i in 0..<n { y[i] = Swift.abs(x[i]) }
    case .neg: for i in 0..<n { y[i] = -x[i] }
    // glibc's erff (< 1 ulp): the Double series of Activations.preciseErf costs ~100
    // dependent divisions per element, which dominated small exported GELU heads.
    case .erf: for i in 0..<n { y[i] = erff(x[i]) }
    case .gelu:
      for i in 0..<n {
        let v = Double(x[i])
        y[i] = Float(0.5 * v * (1 + Activations.preciseErf(v * 0.7071067811865476)))
      }
    case .reciprocal: for i in 0..<n { y[i] = 1 / x[i] }
    case .not: break
    }
  }

  /// Float arithmetic of `a` and `b` read through `aLayout` and `bLayout` (expanded to the
  /// result's shape) into `y`; no allocation. The operator is chosen once per row, and rows
  /// of unit stride (the usual case once axes are merged) run as plain loops the compiler
  /// vectorises: no closure call per element.
  static func floatBinary(
    _ op: ONNXOperator.Binary, _ a: Tensor<Float>, _ aLayout: TensorLayout, _ b: Tensor<Float>,
    _ bLayout: TensorLayout, into y: Tensor<Float>
  ) {
    // Pow by a constant 2 or ½ (Silero's magnitude) is a product or a square root.
    let exponent = op == .pow && b.count == 1 ? b.storage.base[b.layout.offset] : .nan
    let out = y.storage.base
    withExtendedLifetime((a, b, y)) {
      let (x, z) = (UnsafePointer(a.storage.base), UnsafePointer(b.storage.base))
      StridedWalk.forEachRow(aLayout, bLayout, y.layout, merging: true) {
        i, j, k, n, si, sj, sk in
        let (p, q, r) = (x + i, z + j, out + k)
        if si == 1 && sj == 1 && sk == 1 {
          switch op {
          case .add: for t in 0..<n { r[t] = p[t] + q[t] }
          case .sub: for t in 0..<n { r[t] = p[t] - q[t] }
          case .mul: for t in 0..<n { r[t] = p[t] * q[t] }
          case .div: for t in 0..<n { r[t] = p[t] / q[t] }
          default: powerRow(p, 1, q, 1, r, 1, n, exponent)
          }
        } else {
          switch op {
          case .add: for t in 0..<n { r[t &* sk] = p[t &* si] + q[t &* sj] }
          case .sub: for t in 0..<n { r[t &* sk] = p[t &* si] - q[t &* sj] }
          case .mul: for t in 0..<n { r[t &* sk] = p[t &* si] * q[t &* sj] }
          case .div: for t in 0..<n { r[t &* sk] = p[t &* si] / q[t &* sj] }
          default: powerRow(p, si, q, sj, r, sk, n, exponent)
          }
        }
      }
    }
  }

  /// One row of `Pow`; `exponent` is the exponent when it is one constant, else NaN.
  @inline(__always)
  private static func powerRow(
    _ p: UnsafePointer<Float>, _ si: Int, _ q: UnsafePointer<Float>, _ sj: Int,
    _ r: UnsafeMutablePointer<Float>, _ sk: Int, _ n: Int, _ exponent: Float
  ) {
    if exponent == 2 {
      for t in 0..<n { r[t &* sk] = p[t &* si] * p[t &* si] }
    } else if exponent == 0.5 {
      for t in 0..<n { r[t &* sk] = p[t &* si].squareRoot() }
    } else {
      for t in 0..<n { r[t &* sk] = Tensor.power(p[t &* si], q[t &* sj]) }
    }
  }

  /// `op(a[i], b[j])` over the broadcast of two row-major shapes.
  static func zipped<T, U>(
    _ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int], shape: [Int], _ op: (T, T) -> U
  ) -> [U] {
    let aLayout = TensorLayout(contiguous: aShape).expanded(to: shape)
    let bLayout = TensorLayout(contiguous: bShape).expanded(to: shape)
    var result: [U] = []
    result.reserveCapacity(TensorLayout(contiguous: shape).count)
    StridedWalk.forEachRow(aLayout, bLayout, merging: true) { i, j, n, si, sj in
      for t in 0..<n { result.append(op(a[i + t * si], b[j + t * sj])) }
    }
    return result
  }

  static func binary(
    _ op: ONNXOperator.Binary, _ a: ONNXValue, _ b: ONNXValue, _ node: String
  ) throws(ONNXError) -> ONNXValue {
    let shape = try ONNXLayout.broadcast(a.shape, b.shape, node)
    func fail() -> ONNXError {
      .runtime(node: node, reason: "\(op) of \(a.elementType) and \(b.elementType) is not defined")
    }
    switch (a, b) {
    case (.float(let x), .float(let y)):
      switch op {
      case .add, .sub, .mul, .div, .pow:
        let result = Tensor<Float>.unfilled(shape: shape)
        floatBinary(
          op, x, x.layout.expanded(to: shape), y, y.layout.expanded(to: shape), into: result)
        return .float(result)
      case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual:
        let compare = comparison(op, Float.self)
        return .bool(
          zipped(x.scalars, x.shape, y.scalars, y.shape, shape: shape, compare), shape: shape)
      case .and, .or: throw fail()
      }
    case (.int64(let x, let xs), .int64(let y, let ys)):
      let arithmetic: ((Int64, Int64) -> Int64)?
      switch op {
      case .add: arithmetic = { $0 &+ $1 }
      case .sub: arithmetic = { $0 &- $1 }
      case .mul: arithmetic = { $0 &* $1 }
      case .div:
        guard !y.contains(0) else {
          throw ONNXError.runtime(node: node, reason: "integer division by zero")
        }
        arithmetic = { $0 == .min && $1 == -1 ? .min : $0 / $1 }
      case .pow:
        arithmetic = { base, exponent in
          if exponent < 0 { return 0 }
          var (r, p, e) = (Int64(1), base, exponent)
          while e > 0 {
            if e & 1 == 1 { r = r &* p }
            p = p &* p
            e >>= 1
          }
          return r
        }
      default: arithmetic = nil
      }
      if let arithmetic {
        return .int64(zipped(x, xs, y, ys, shape: shape, arithmetic), shape: shape)
      }
      guard op != .and && op != .or else { throw fail() }
      return .bool(zipped(x, xs, y, ys, shape: shape, comparison(op, Int64.self)), shape: shape)
    case (.bool(let x, let xs), .bool(let y, let ys)):
      switch op {
      case .and: return .bool(zipped(x, xs, y, ys, shape: shape) { $0 && $1 }, shape: shape)
      case .or: return .bool(zipped(x, xs, y, ys, shape: shape) { $0 || $1 }, shape: shape)
      case .equal: return .bool(zipped(x, xs, y, ys, shape: shape) { $0 == $1 }, shape: shape)
      default: throw fail()
      }
    default:
      throw fail()
    }
  }

  static func comparison<T: Comparable>(_ op: ONNXOperator.Binary, _: T.Type) -> (T, T) -> Bool {
    switch op {
    case .less: { $0 < $1 }
    case .greater: { $0 > $1 }
    case .lessOrEqual: { $0 <= $1 }
    case .greaterOrEqual: { $0 >= $1 }
    default: { $0 == $1 }
    }
  }

  /// `Where(condition, x, y)`.
  static func select(_ c: ONNXValue, _ x: ONNXValue, _ y: ONNXValue, _ node: String)
    throws(ONNXError) -> ONNXValue
  {
    guard case .bool(let cv, let cs) = c else {
      throw ONNXError.runtime(
        node: node, reason: "the condition must be bool, got \(c.elementType)")
    }
    let shape = try ONNXLayout.broadcast(try ONNXLayout.broadcast(cs, x.shape, node), y.shape, node)
    let cLayout = TensorLayout(contiguous: cs).expanded(to: shape)
    func choose<T>(_ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int]) -> [T] {
      let aLayout = TensorLayout(contiguous: aShape).expanded(to: shape)
      let bLayout = TensorLayout(contiguous: bShape).expanded(to: shape)
      var result: [T] = []
      result.reserveCapacity(TensorLayout(contiguous: shape).count)
      StridedWalk.forEachRow(cLayout, aLayout, bLayout, merging: true) {
        k, i, j, n, sk, si, sj in
        for t in 0..<n { result.append(cv[k + t * sk] ? a[i + t * si] : b[j + t * sj]) }
      }
      return result
    }
    switch (x, y) {
    case (.float(let a), .float(let b)):
      return .float(Tensor(shape: shape, scalars: choose(a.scalars, a.shape, b.scalars, b.shape)))
    case (.int64(let a, let s), .int64(let b, let t)):
      return .int64(choose(a, s, b, t), shape: shape)
    case (.bool(let a, let s), .bool(let b, let t)): return .bool(choose(a, s, b, t), shape: shape)
    default:
      throw ONNXError.runtime(node: node, reason: "Where of \(x.elementType) and \(y.elementType)")
    }
  }

  /// `Cast(to:)`: float → int64 truncates toward zero (saturating; NaN → 0), anything → bool is
  /// `≠ 0`; int32 is kept as int64 (wrapped to 32 bits), float16 and double as float (rounded
  /// through float16 for the former).
  static func cast(_ x: ONNXValue, to: Int32) -> ONNXValue {
    switch (x, to) {
    case (.float(let t), 1), (.float(let t), 11): return .float(t)
    case (.float(let t), 10): return .float(t.mapped { Float(Float16($0)) })
    case (.float(let t), 6), (.float(let t), 7):
      let v = t.scalars.map { f -> Int64 in
        if f.isNaN { return 0 }
        if f >= 9.223372e18 { return .max }
        if f <= -9.223372e18 { return .min }
        return Int64(f.rounded(.towardZero))
      }
      return .int64(to == 6 ? v.map { Int64(Int32(truncatingIfNeeded: $0)) } : v, shape: t.shape)
    case (.float(let t), _): return .bool(t.scalars.map { $0 != 0 }, shape: t.shape)
    case (.int64(let v, let s), 1), (.int64(let v, let s), 10), (.int64(let v, let s), 11):
      return .float(Tensor(shape: s, scalars: v.map { Float($0) }))
    case (.int64(let v, let s), 6):
      return .int64(v.map { Int64(Int32(truncatingIfNeeded: $0)) }, shape: s)
    case (.int64(let v, let s), 7): return .int64(v, shape: s)
    case (.int64(let v, let s), _): return .bool(v.map { $0 != 0 }, shape: s)
    case (.bool(let v, let s), 1), (.bool(let v, let s), 10), (.bool(let v, let s), 11):
      return .float(Tensor(shape: s, scalars: v.map { $0 ? 1 : 0 }))
    case (.bool(let v, let s), 6), (.bool(let v, let s), 7):
      return .int64(v.map { $0 ? 1 : 0 }, shape: s)
    case (.bool, _): return x
    }
  }

  /// `LayerNormalization` over the axes from `axis` on, with the mean and variance in Double.
  static func layerNorm(
    _ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>?, axis: Int, epsilon: Float,
    _ node: String
  ) throws(ONNXError) -> Tensor<Float> {
    let a = try ONNXLayout.axis(axis, rank: x.rank, node)
    let normalizedShape = Array(x.shape[a...])
    let inner = normalizedShape.reduce(1, *)
    for (name, p) in [("Scale", scale), ("B", bias)] {
      guard let p else { continue }
      guard (try? ONNXLayout.broadcast(p.shape, normalizedShape, node)) == normalizedShape else {
        throw ONNXError.runtime(
          node: node, reason: "\(name) \(p.shape) does not broadcast to \(normalizedShape)")
      }
    }
    let s = scale.expanded(to: normalizedShape).contiguous()
    let b = bias.map { $0.expanded(to: normalizedShape).contiguous() }
    let v = x.contiguous()
    let y = Tensor<Float>.unfilled(shape: x.shape)
    layerNormRows(v, scale: s, bias: b, inner: inner, epsilon: epsilon, into: y)
    return y
  }

  /// LayerNormalization of contiguous `x`'s rows of `inner` elements into `y`, with contiguous
  /// `scale` and `bias` of `inner` elements; mean and variance in Double. Allocates nothing.
  static func layerNormRows(
    _ x: Tensor<Float>, scale: Tensor<Float>, bias: Tensor<Float>?, inner: Int, epsilon: Float,
    into y: Tensor<Float>
  ) {
    guard inner > 0 else { return }
    withExtendedLifetime((x, scale, bias, y)) {
      let v = x.storage.base + x.layout.offset
      let out = y.storage.base + y.layout.offset
      let s = scale.storage.base + scale.layout.offset
      let b = bias.map { $0.storage.base + $0.layout.offset }
      for row in 0..<(x.count / inner) {
        let base = row * inner
        var mean = 0.0
        for i in 0..<inner { mean += Double(v[base + i]) }
        mean /= Double(inner)
        var variance = 0.0
        for i in 0..<inner {
          let d = Double(v[base + i]) - mean
          variance += d * d
        }
        let inverse = 1 / (variance / Double(inner) + Double(epsilon)).squareRoot()
        for i in 0..<inner {
          let n = Float((Double(v[base + i]) - mean) * inverse) * s[i]
          out[base + i] = b.map { n + $0[i] } ?? n
        }
      }
    }
  }

  /// numpy's `matmul`: 1-D operands gain and lose an axis, batch axes broadcast.
  static func matmul(_ a: Tensor<Float>, _ b: Tensor<Float>, _ node: String) throws(ONNXError)
    -> Tensor<Float>
  {
    guard a.rank >= 1, b.rank >= 1 else {
      throw ONNXError.runtime(node: node, reason: "MatMul of scalars \(a.shape) and \(b.shape)")
    }
    let x = a.rank == 1 ? a.unsqueezed(axis: 0) : a
    let y = b.rank == 1 ? b.unsqueezed(axis: -1) : b
    guard x.shape[x.rank - 1] == y.shape[y.rank - 2] else {
      throw ONNXError.runtime(
        node: node, reason: "MatMul: \(a.shape) and \(b.shape) do not multiply")
    }
    _ = try ONNXLayout.broadcast(Array(x.shape.dropLast(2)), Array(y.shape.dropLast(2)), node)
    var result = TensorLSTM.matmul(x, y)
    if a.rank == 1 { result = result.squeezed(axis: result.rank - 2) }
    if b.rank == 1 { result = result.squeezed(axis: result.rank - 1) }
    return result
  }
}
