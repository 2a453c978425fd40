/// Joining, splitting, padding and gathering along an axis, with PyTorch's meanings.
///
///     let both = Tensor.concatenated([forward, backward], axis: -1)   // [B, T, H] ×2 → [B, T, 2H]
///     let parts = both.split(sizes: [H, H], axis: -1)                  // views, no copy
///     let framed = audio.padded([(before: 64, after: 64)], mode: .reflect)
///     let rows = table.gathered(indices: [3, 0, 3], axis: 0)           // index_select
///
/// `concatenated`, `stacked`, `padded` and `gathered` copy into a new contiguous tensor (one
/// pass over the result, operands read through their strides); `split` returns views.
extension Tensor {
  /// How ``padded(_:mode:)`` fills the new elements.
  public enum Padding: Sendable, Equatable {
    /// A constant value (PyTorch's `mode="constant"`).
    case constant(Scalar)
    /// The elements mirrored about the edge, without repeating it (`mode="reflect"`:
    /// `[1, 2, 3]` padded by 2 on both sides is `[3, 2, 1, 2, 3, 2, 1]`).
    case reflect
  }

  /// The tensors joined along `axis` (`torch.cat`); every other size must agree.
  ///
  /// - Precondition: at least one tensor; equal ranks and sizes off `axis`.
  public static func concatenated(_ tensors: [Tensor], axis: Int) -> Tensor {
    require(!tensors.isEmpty, "concatenated: no tensors to join")
    let first = tensors[0]
    let a = first.layout.normalizedAxis(axis, "concatenated(axis: \(axis)) of shape \(first.shape)")
    for t in tensors {
      var (x, y) = (t.shape, first.shape)
      if x.count == y.count {
        (x[a], y[a]) = (0, 0)
      }
      require(
        x == y,
        "concatenated(axis: \(axis)): shapes \(tensors.map(\.shape)) differ off axis \(a); every other size must agree"
      )
    }
    var shape = first.shape
    shape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
    var result = Tensor.zeros(shape: shape)
    var start = 0
    for t in tensors {
      let size = t.shape[a]
      if size > 0 {
        result[slice(axis: a, start..<(start + size), rank: shape.count)] = t
      }
      start += size
    }
    return result
  }

  /// The subscript entries that select `range` on `axis` of a rank-`rank` tensor.
  static func slice(axis: Int, _ range: Range<Int>, rank: Int) -> [TensorIndex] {
    (0..<rank).map { $0 == axis ? .range(range) : .all }
  }

  /// The tensors stacked along a new axis `axis` (`torch.stack`); all shapes must be equal.
  ///
  /// - Precondition: at least one tensor, all of one shape.
  public static func stacked(_ tensors: [Tensor], axis: Int) -> Tensor {
    require(!tensors.isEmpty, "stacked: no tensors to stack")
    let shape = tensors[0].shape
    require(
      tensors.allSatisfy { $0.shape == shape },
      "stacked: shapes \(tensors.map(\.shape)) differ; stack needs equal shapes")
    let a = axis < 0 ? axis + shape.count + 1 : axis
    require(
      (0...shape.count).contains(a),
      "stacked(axis: \(axis)): the new axis must be in -\(shape.count + 1)...\(shape.count)")
    return concatenated(tensors.map { $0.unsqueezed(axis: a) }, axis: a)
  }

  /// Views of consecutive pieces of `sizes` along `axis` (`torch.split` with a list); O(rank)
  /// each, shares storage.
  ///
  /// - Precondition: the sizes are ≥ 0 and add up to the axis.
  public func split(sizes: [Int], axis: Int) -> [Tensor] {
    let a = layout.normalizedAxis(axis, "split(axis: \(axis)) of shape \(shape)")
    require(
      sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[a],
      "split(sizes: \(sizes), axis: \(axis)): the sizes must be ≥ 0 and add up to \(shape[a]) (shape \(shape))"
    )
    var start = 0
    return sizes.map { size in
      defer { start += size }
      return sliced(axis: a, range: start..<(start + size))
    }
  }

  /// The tensor padded on its trailing `widths.count` axes, `widths[i]` for axis
  /// `rank − widths.count + i` (NumPy's order; `torch.nn.functional.pad` lists them last axis
  /// first). `.reflect` mirrors without repeating the edge, as PyTorch's.
  ///
  /// - Precondition: widths ≥ 0, no more entries than axes; for `.reflect` each width is
  ///   smaller than its axis.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func padded(_ widths: [(before: Int, after: Int)], mode: Padding = .constant(0)) -> Tensor
  {
    let sources = paddingSources(widths, mode: mode)
    let result = Tensor.unfilled(shape: sources.map(\.count))
    pad(into: result, sources: sources, mode: mode)
    return result
  }

  /// Per axis, the source index of every index of the padded tensor (−1: the constant):
  /// ``padded(_:mode:)``'s table, O(padded sizes).
  func paddingSources(_ widths: [(before: Int, after: Int)], mode: Padding) -> [[Int]] {
    require(
      widths.count <= rank && widths.allSatisfy { $0.before >= 0 && $0.after >= 0 },
      "padded: \(widths.count) widths for shape \(shape); give at most one (before, after) ≥ 0 per axis"
    )
    var sources: [[Int]] = []
    for axis in 0..<rank {
      let w = axis - (rank - widths.count)
      let (before, after) = w >= 0 ? widths[w] : (0, 0)
      let n = shape[axis]
      if mode == .reflect {
        require(
          before < Swift.max(n, 1) && after < Swift.max(n, 1),
          "padded(mode: .reflect): widths (\(before), \(after)) on axis \(axis) of shape \(shape) must be smaller than the axis"
        )
      }
      sources.append(
        (0..<(n + before + after)).map { i in
          let j = i - before
          if (0..<n).contains(j) { return j }
          if mode != .reflect { return -1 }
          return j < 0 ? -j : 2 * (n - 1) - j
        })
    }
    return sources
  }

  /// Writes this tensor padded through `sources` (``paddingSources(_:mode:)``) into `result`,
  /// contiguous of the padded shape and not sharing storage with this; no allocation.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func pad(into result: Tensor, sources: [[Int]], mode: Padding) {
    let fill: Scalar
    if case .constant(let value) = mode { fill = value } else { fill = 0 }
    let count = result.count
    if count == 0 { return }
    let out = result.storage.base + result.layout.offset
    out.update(repeating: fill, count: count)
    withExtendedLifetime((self, result)) {
      let x = storage.base + layout.offset
      let outer = Swift.max(rank - 1, 0)
      withUnsafeTemporaryAllocation(of: Int.self, capacity: outer) { index in
        index.initialize(repeating: 0)
        var k = 0
        let innerCount = rank == 0 ? 1 : sources[rank - 1].count
        let innerStride = rank == 0 ? 0 : strides[rank - 1]
        while true {
          // The outer axes' source offset, or nil where an outer index is constant padding.
          var base: Int? = 0
          for axis in 0..<outer {
            let s = sources[axis][index[axis]]
            if s < 0 { base = nil } else { base = base.map { $0 + s * strides[axis] } }
          }
          if let base {
            if rank == 0 {
              out[k] = x[base]
            } else {
              // Runs of consecutive sources (the unpadded middle of a row) copy as blocks.
              sources[rank - 1].withUnsafeBufferPointer { inner in
                var t = 0
                while t < innerCount {
                  let s = inner[t]
                  if s < 0 {
                    t += 1
                    continue
                  }
                  var end = t + 1
                  while end < innerCount && inner[end] == inner[end - 1] + 1 { end += 1 }
                  if innerStride == 1 {
                    (out + k + t).update(from: x + base + s, count: end - t)
                  } else {
                    for u in t..<end { out[k + u] = x[base + inner[u] * innerStride] }
                  }
                  t = end
                }
              }
            }
          }
          k += innerCount
          var axis = outer - 1
          while axis >= 0 {
            index[axis] += 1
            if index[axis] < sources[axis].count { break }
            index[axis] = 0
            axis -= 1
          }
          if axis < 0 { break }
        }
      }
    }
  }

  /// The slices at `indices` along `axis`, in that order (`torch.index_select`); indices may
  /// repeat. Shape: this shape with `axis` of size `indices.count`.
  ///
  /// - Precondition: every index is in `0..<shape[axis]`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func gathered(indices: [Int], axis: Int) -> Tensor {
    let a = layout.normalizedAxis(axis, "gathered(axis: \(axis)) of shape \(shape)")
    let bad = indices.first { !(0..<shape[a]).contains($0) }
    require(
      bad == nil,
      "gathered(indices:axis: \(axis)): index \(bad ?? 0) is outside 0..<\(shape[a]) (shape \(shape))"
    )
    var outShape = shape
    outShape[a] = indices.count
    let result = Tensor.zeros(shape: outShape)
    withExtendedLifetime(self) {
      for (position, index) in indices.enumerated() {
        let source = layout.selected(axis: a, index: index)
        let target = result.layout.selected(axis: a, index: position)
        Tensor.copyElements(from: storage.base, source, to: result.storage.base, target)
      }
    }
    return result
  }
}
