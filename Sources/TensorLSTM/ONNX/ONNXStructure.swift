/// Operators that copy elements into a new arrangement — Concat, Gather, Range — once for every
/// element type, on row-major elements.
enum ONNXStructure {
  /// Rows of `inner` elements, `outer` times per input, in input order.
  static func joined<T>(_ parts: [([T], Int)], outer: Int) -> [T] {
    var result: [T] = []
    result.reserveCapacity(parts.reduce(0) { $0 + $1.0.count })
    for o in 0..<outer {
      for (values, width) in parts {
        result.append(contentsOf: values[(o * width)..<((o + 1) * width)])
      }
    }
    return result
  }

  static func concat(_ values: [ONNXValue], axis: Int, _ node: String) throws(ONNXError)
    -> ONNXValue
  {
    guard let first = values.first else {
      throw ONNXError.runtime(node: node, reason: "Concat of no inputs")
    }
    let a = try ONNXLayout.axis(axis, rank: first.shape.count, node)
    for v in values {
      var (x, y) = (v.shape, first.shape)
      guard x.count == y.count, v.elementType == first.elementType else {
        throw ONNXError.runtime(
          node: node, reason: "Concat of \(values.map(\.shape)) (\(values.map(\.elementType)))")
      }
      (x[a], y[a]) = (0, 0)
      guard x == y else {
        throw ONNXError.runtime(
          node: node,
          reason: "Concat on axis \(a): shapes \(values.map(\.shape)) differ off the axis")
      }
    }
    var shape = first.shape
    shape[a] = values.reduce(0) { $0 + $1.shape[a] }
    if case .float = first {
      let tensors = values.compactMap(\.float).filter { $0.count > 0 }
      if tensors.isEmpty { return .float(.zeros(shape: shape)) }
      return .float(Tensor.concatenated(tensors, axis: a))
    }
    let outer = shape[..<a].reduce(1, *)
    func width(_ v: ONNXValue) -> Int { v.shape[a...].reduce(1, *) }
    switch first {
    case .int64:
      return .int64(
        joined(values.map { ($0.int64Elements!, width($0)) }, outer: outer), shape: shape)
    default:
      return .bool(joined(values.map { ($0.boolElements!, width($0)) }, outer: outer), shape: shape)
    }
  }

  static func gather(_ data: ONNXValue, indices: ONNXValue, axis: Int, _ node: String)
    throws(ONNXError)
    -> ONNXValue
  {
    guard case .int64(let index, let indexShape) = indices else {
      throw ONNXError.runtime(
        node: node, reason: "indices must be int64, got \(indices.elementType)")
    }
    let shape = data.shape
    let a = try ONNXLayout.axis(axis, rank: shape.count, node)
    let n = shape[a]
    var rows: [Int] = []
    rows.reserveCapacity(index.count)
    for i in index {
      guard i >= -Int64(n) && i < Int64(n) else {
        throw ONNXError.runtime(
          node: node, reason: "index \(i) is out of range for axis \(a) of \(shape) (size \(n))")
      }
      rows.append(Int(i < 0 ? i + Int64(n) : i))
    }
    let outShape = Array(shape[..<a]) + indexShape + Array(shape[(a + 1)...])
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    func pick<T>(_ v: [T]) -> [T] {
      var result: [T] = []
      result.reserveCapacity(outer * rows.count * inner)
      for o in 0..<outer {
        for r in rows {
          let start = (o * n + r) * inner
          result.append(contentsOf: v[start..<(start + inner)])
        }
      }
      return result
    }
    switch data {
    case .float(let t):
      if indexShape.isEmpty {
        // One scalar index: the slice at it, a view (Silero's `state[0]`).
        return .float(t.selected(axis: a, index: rows[0]))
      }
      if a == 0 && t.isContiguous {
        // Embedding rows: one copy per index straight from the table, which is not copied.
        var result = Tensor<Float>.zeros(shape: outShape)
        result.withMutableBase { out in
          t.withBase { table in
            for (k, r) in rows.enumerated() {
              (out + k * inner).update(from: table + r * inner, count: inner)
            }
          }
        }
        return .float(result)
      }
      return .float(Tensor(shape: outShape, scalars: pick(t.scalars)))
    case .int64(let v, _): return .int64(pick(v), shape: outShape)
    case .bool(let v, _): return .bool(pick(v), shape: outShape)
    }
  }

  static func range(_ start: ONNXValue, _ limit: ONNXValue, _ delta: ONNXValue, _ node: String)
    throws(ONNXError) -> ONNXValue
  {
    switch (start, limit, delta) {
    case (.int64(let s, _), .int64(let l, _), .int64(let d, _))
    where s.count == 1 && l.count == 1 && d.count == 1:
      guard d[0] != 0 else { throw ONNXError.runtime(node: node, reason: "Range delta is 0") }
      let count = Swift.max(0, (Double(l[0]) - Double(s[0])) / Double(d[0])).rounded(.up)
      try ONNXLimits.check(count < 1e18 ? Int(count) : .max, node)
      return .int64((0..<Int(count)).map { s[0] &+ Int64($0) &* d[0] }, shape: [Int(count)])
    case (.float(let s), .float(let l), .float(let d))
    where s.count == 1 && l.count == 1 && d.count == 1:
      let (a, b, c) = (s.scalars[0], l.scalars[0], d.scalars[0])
      guard c != 0, (b - a) / c <= Float(1 << 40) else {
        throw ONNXError.runtime(node: node, reason: "Range(\(a), \(b), \(c)) has no finite count")
      }
      let count = Int(Swift.max(0, ((b - a) / c).rounded(.up)))
      try ONNXLimits.check(count, node)
      return .float(Tensor(shape: [count], scalars: (0..<count).map { a + Float($0) * c }))
    default:
      throw ONNXError.runtime(
        node: node, reason: "Range needs three scalars of one type (float or int64)")
    }
  }
}
