/// The structural operators (Transpose, Slice, Squeeze, Unsqueeze, Expand, Split) as pure
/// functions of a ``TensorLayout``, written once for every element type: a float tensor becomes
/// a view (no copy), int64 and bool elements are gathered through the new layout.
extension ONNXValue {
  /// The value seen through `transform` of its layout (a contiguous layout for int64/bool).
  func relayout(_ transform: (TensorLayout) throws -> TensorLayout) rethrows -> ONNXValue {
    switch self {
    case .float(let t): return .float(t.viewing(try transform(t.layout)))
    case .int64(let v, let shape):
      let layout = try transform(TensorLayout(contiguous: shape))
      return .int64(Self.gathered(v, layout), shape: layout.shape)
    case .bool(let v, let shape):
      let layout = try transform(TensorLayout(contiguous: shape))
      return .bool(Self.gathered(v, layout), shape: layout.shape)
    }
  }

  /// The elements `layout` addresses in `values`, in row-major order.
  static func gathered<T>(_ values: [T], _ layout: TensorLayout) -> [T] {
    if layout.isContiguous && layout.offset == 0 && layout.count == values.count { return values }
    var result: [T] = []
    result.reserveCapacity(layout.count)
    StridedWalk.forEachRow(layout, TensorLayout(contiguous: layout.shape)) { a, _, n, stride, _ in
      for i in 0..<n { result.append(values[a + i * stride]) }
    }
    return result
  }

  /// The same elements with a new shape of equal count (a view where strides allow, else a
  /// copy for float; int64/bool are row-major already).
  func reshaped(_ shape: [Int]) -> ONNXValue {
    switch self {
    case .float(let t): .float(t.reshaped(shape))
    case .int64(let v, _): .int64(v, shape: shape)
    case .bool(let v, _): .bool(v, shape: shape)
    }
  }
}

/// Layout functions with ONNX's rules (negative axes, clamped slice bounds); every argument from
/// the file is checked and a bad one throws naming the node.
enum ONNXLayout {
  static func axis(_ axis: Int, rank: Int, _ node: String) throws(ONNXError) -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else {
      throw ONNXError.runtime(node: node, reason: "axis \(axis) is out of range for rank \(rank)")
    }
    return a
  }

  static func transposed(_ l: TensorLayout, perm: [Int]?, _ node: String) throws(ONNXError)
    -> TensorLayout
  {
    let perm = perm ?? Array((0..<l.rank).reversed())
    guard perm.count == l.rank, Set(perm) == Set(0..<l.rank) else {
      throw ONNXError.runtime(
        node: node, reason: "perm \(perm) is not a permutation of the \(l.rank) axes of \(l.shape)")
    }
    return TensorLayout(
      shape: perm.map { l.shape[$0] }, strides: perm.map { l.strides[$0] }, offset: l.offset)
  }

  static func unsqueezed(_ l: TensorLayout, axes: [Int], _ node: String) throws(ONNXError)
    -> TensorLayout
  {
    let rank = l.rank + axes.count
    var normalized: [Int] = []
    for a in axes { normalized.append(try axis(a, rank: rank, node)) }
    guard Set(normalized).count == normalized.count else {
      throw ONNXError.runtime(node: node, reason: "axes \(axes) repeat an axis")
    }
    var shape: [Int] = []
    var strides: [Int] = []
    shape.reserveCapacity(rank)
    strides.reserveCapacity(rank)
    var source = 0
    for i in 0..<rank {
      if normalized.contains(i) {
        shape.append(1)
        strides.append(1)
      } else {
        shape.append(l.shape[source])
        strides.append(l.strides[source])
        source += 1
      }
    }
    return TensorLayout(shape: shape, strides: strides, offset: l.offset)
  }

  static func squeezed(_ l: TensorLayout, axes: [Int], _ node: String) throws(ONNXError)
    -> TensorLayout
  {
    var drop = Set<Int>()
    if axes.isEmpty {
      drop = Set(l.shape.indices.filter { l.shape[$0] == 1 })
    } else {
      for a in axes {
        let n = try axis(a, rank: l.rank, node)
        guard l.shape[n] == 1 else {
          throw ONNXError.runtime(
            node: node, reason: "cannot squeeze axis \(a) of shape \(l.shape): its size is not 1")
        }
        drop.insert(n)
      }
    }
    let keep = l.shape.indices.filter { !drop.contains($0) }
    return TensorLayout(
      shape: keep.map { l.shape[$0] }, strides: keep.map { l.strides[$0] }, offset: l.offset)
  }

  /// ONNX Slice: per axis, start and end clamped as the spec says for the sign of the step.
  static func sliced(
    _ l: TensorLayout, starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?,
    _ node: String
  ) throws(ONNXError) -> TensorLayout {
    let axes = axes ?? (0..<Int64(starts.count)).map { $0 }
    let steps = steps ?? [Int64](repeating: 1, count: starts.count)
    guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
      throw ONNXError.runtime(
        node: node,
        reason:
          "starts (\(starts.count)), ends (\(ends.count)), axes (\(axes.count)) and steps (\(steps.count)) must have one entry each per sliced axis"
      )
    }
    var result = l
    var seen = Set<Int>()
    for i in starts.indices {
      guard axes[i] >= -Int64(l.rank), axes[i] < Int64(l.rank) else {
        throw ONNXError.runtime(
          node: node, reason: "axis \(axes[i]) is out of range for rank \(l.rank)")
      }
      let a = try axis(Int(axes[i]), rank: l.rank, node)
      guard seen.insert(a).inserted else {
        throw ONNXError.runtime(node: node, reason: "axes \(axes) repeat an axis")
      }
      let step = steps[i]
      guard step != 0, step != .min else {
        throw ONNXError.runtime(node: node, reason: "a slice step is 0")
      }
      let d = Int64(l.shape[a])
      func normalized(_ v: Int64) -> Int64 { v < 0 ? (v < -d ? -d - 1 : v + d) : v }
      var (s, e) = (normalized(starts[i]), normalized(ends[i]))
      let count: Int64
      if step > 0 {
        s = Swift.min(Swift.max(s, 0), d)
        e = Swift.min(Swift.max(e, 0), d)
        count = e > s ? (e - s - 1) / step + 1 : 0
      } else {
        s = Swift.min(Swift.max(s, -1), d - 1)
        e = Swift.min(Swift.max(e, -1), d - 1)
        count = s > e ? (s - e - 1) / (-step) + 1 : 0
      }
      if count > 0 { result.offset += Int(s) * l.strides[a] }
      result.shape[a] = Int(count)
      // A step from the file can be any int64: with one element or none it takes no stride
      // (nor can it overflow one); with more, |step| < the axis's size.
      result.strides[a] = count > 1 ? l.strides[a] * Int(step) : l.strides[a]
    }
    return result
  }

  /// ONNX's multidirectional broadcast of two shapes.
  static func broadcast(_ a: [Int], _ b: [Int], _ node: String) throws(ONNXError) -> [Int] {
    let rank = Swift.max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
      let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
      let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
      guard x == y || x == 1 || y == 1 else {
        throw ONNXError.runtime(node: node, reason: "shapes \(a) and \(b) do not broadcast")
      }
      result[i] = x == 1 ? y : x
    }
    return result
  }
}
