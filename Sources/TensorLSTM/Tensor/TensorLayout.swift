/// Where each element of a tensor lives in its storage: shape, strides (in elements) and offset.
///
/// A layout is a plain value. Every view op of ``Tensor`` is a pure function from one layout to
/// another (tinygrad's `View`, ggml's `ne/nb`), so views never touch elements:
///
///     let bth = TensorLayout(contiguous: [2, 3, 4])   // [B, T, H], strides [12, 4, 1]
///     let bht = bth.permuted([0, 2, 1])                // [B, H, T], strides [12, 1, 4]
///
/// The element at logical index `i` lives at `offset + Σ i[k] · strides[k]`. Strides may be
/// zero (broadcast by ``expanded(to:)``) or negative (reversed by a negative slice step).
///
/// Programmer mistakes (a bad axis, a bad permutation, a count mismatch) stop the program with a
/// message that names the shapes and the fix; see the README's error rules.
public struct TensorLayout: Hashable, Sendable, CustomStringConvertible {
  /// The size of each axis, outermost first.
  public var shape: [Int]
  /// The distance in elements between neighbours along each axis.
  public var strides: [Int]
  /// The storage index of the element at logical index `[0, 0, …]`.
  public var offset: Int

  /// A layout from explicit parts; O(rank).
  ///
  /// - Precondition: `shape` and `strides` have the same count and no size is negative.
  public init(shape: [Int], strides: [Int], offset: Int = 0) {
    require(
      shape.count == strides.count,
      "TensorLayout: shape \(shape) has \(shape.count) axes but strides \(strides) has \(strides.count)"
    )
    require(shape.allSatisfy { $0 >= 0 }, "TensorLayout: negative size in shape \(shape)")
    self.shape = shape
    self.strides = strides
    self.offset = offset
  }

  /// The row-major (C order) layout of `shape` starting at `offset`; O(rank).
  ///
  ///     TensorLayout(contiguous: [2, 3, 4]).strides   // [12, 4, 1]
  public init(contiguous shape: [Int], offset: Int = 0) {
    self.init(shape: shape, strides: TensorLayout.rowMajorStrides(for: shape), offset: offset)
  }

  /// Row-major strides for `shape`: the last axis has stride 1; O(rank).
  ///
  /// - Precondition: ``addressableCount(_:)`` is not nil for `shape`.
  public static func rowMajorStrides(for shape: [Int]) -> [Int] {
    require(
      addressableCount(shape) != nil,
      "TensorLayout: shape \(shape) has more elements than Int can address (its row-major strides overflow); use smaller sizes"
    )
    var strides = [Int](repeating: 1, count: shape.count)
    var step = 1
    for axis in shape.indices.reversed() {
      strides[axis] = step
      step *= Swift.max(shape[axis], 1)
    }
    return strides
  }

  /// The index of element `flat` (row-major order) of `shape`; O(rank).
  static func rowMajorIndex(of flat: Int, shape: [Int]) -> [Int] {
    var index = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for axis in shape.indices.reversed() {
      (rest, index[axis]) = rest.quotientAndRemainder(dividingBy: shape[axis])
    }
    return index
  }

  /// The element count of a row-major `shape`, or nil when a size is negative or when the
  /// count or any row-major stride overflows `Int`. Checked in every order: a size of 0 does
  /// not hide the overflow of the others (their strides exist all the same). O(rank).
  ///
  ///     TensorLayout.addressableCount([0, 1 << 32, 1 << 32])   // nil
  public static func addressableCount(_ shape: [Int]) -> Int? {
    var product = 1
    var empty = false
    for size in shape {
      if size < 0 { return nil }
      if size == 0 {
        empty = true
        continue
      }
      let (next, overflow) = product.multipliedReportingOverflow(by: size)
      if overflow { return nil }
      product = next
    }
    return empty ? 0 : product
  }

  /// The number of axes; O(1).
  public var rank: Int { shape.count }

  /// The number of elements, the product of the shape; O(rank).
  ///
  /// - Precondition: the product fits in `Int` (a broadcast view can be larger than memory).
  public var count: Int {
    var product = 1
    for size in shape {
      if size == 0 { return 0 }
      let (next, overflow) = product.multipliedReportingOverflow(by: size)
      require(
        !overflow,
        "TensorLayout: shape \(shape) has more elements than Int can count; expand to smaller sizes"
      )
      product = next
    }
    return product
  }

  /// A readable summary such as `shape [2, 3] strides [3, 1] offset 0`.
  public var description: String { "shape \(shape) strides \(strides) offset \(offset)" }

  /// Whether the elements sit in row-major order with no gaps; size-1 axes are ignored; O(rank).
  public var isContiguous: Bool {
    var expected = 1
    for axis in shape.indices.reversed() where shape[axis] != 1 {
      if shape[axis] == 0 { return true }
      if strides[axis] != expected { return false }
      expected *= shape[axis]
    }
    return true
  }

  /// Whether two distinct logical indices can reach the same storage element (a zero stride on
  /// an axis longer than 1, or strides that interleave); conservative, O(rank log rank).
  public var mayOverlap: Bool {
    if count <= 1 { return false }
    let axes = shape.indices.filter { shape[$0] > 1 }.sorted { abs(strides[$0]) < abs(strides[$1]) }
    var span = 1
    for axis in axes {
      let stride = abs(strides[axis])
      if stride < span { return true }
      span = stride * (shape[axis] - 1) + span
    }
    return false
  }

  /// The storage index of the element at `index`; O(rank).
  ///
  /// - Precondition: `index` has one in-range entry per axis (negative entries count from the end).
  public func storageIndex(_ index: [Int]) -> Int {
    require(
      index.count == rank,
      "index \(index) has \(index.count) entries but the tensor of shape \(shape) has \(rank) axes"
    )
    var position = offset
    for axis in 0..<rank {
      let i = normalizedIndex(index[axis], axis: axis)
      position += i * strides[axis]
    }
    return position
  }

  /// The smallest and largest storage index this layout reaches, or `nil` when it has no
  /// elements; O(rank).
  public var storageBounds: ClosedRange<Int>? {
    if count == 0 { return nil }
    var low = offset
    var high = offset
    for axis in 0..<rank {
      let reach = strides[axis] * (shape[axis] - 1)
      if reach < 0 { low += reach } else { high += reach }
    }
    return low...high
  }

  // MARK: - Axis helpers

  /// `axis` with negative values counted from the end, checked against `rank + extra` axes.
  func normalizedAxis(
    _ axis: Int, extra: Int = 0, _ operation: @autoclosure () -> String = "axis"
  ) -> Int {
    let axes = rank + extra
    require(
      axis >= -axes && axis < axes,
      "\(operation()): axis \(axis) is out of range for shape \(shape) (valid: \(-axes)..<\(axes))"
    )
    return axis < 0 ? axis + axes : axis
  }

  func normalizedIndex(_ index: Int, axis: Int) -> Int {
    let size = shape[axis]
    require(
      index >= -size && index < size,
      "index \(index) is out of range for axis \(axis) of size \(size) in shape \(shape)"
    )
    return index < 0 ? index + size : index
  }
}

// MARK: - View ops: layout → layout

extension TensorLayout {
  /// The layout with axes reordered: new axis `k` is old axis `axes[k]`; O(rank).
  ///
  ///     [B, T, H].permuted([0, 2, 1])   // [B, H, T]
  ///
  /// - Precondition: `axes` is a permutation of `0..<rank` (negative axes allowed).
  public func permuted(_ axes: [Int]) -> TensorLayout {
    require(
      axes.count == rank,
      "permuted(\(axes)): a permutation of shape \(shape) needs \(rank) axes, got \(axes.count)"
    )
    let normalized = axes.map { normalizedAxis($0, "permuted(\(axes))") }
    require(
      normalized.enumerated().allSatisfy { i, a in !normalized[..<i].contains(a) },
      "permuted(\(axes)): duplicate axis; give each of 0..<\(rank) exactly once for shape \(shape)"
    )
    return TensorLayout(
      shape: normalized.map { shape[$0] }, strides: normalized.map { strides[$0] }, offset: offset)
  }

  /// The layout with two axes swapped; O(rank).
  public func transposed(_ a: Int, _ b: Int) -> TensorLayout {
    var axes = Array(0..<rank)
    axes.swapAt(normalizedAxis(a, "transposed"), normalizedAxis(b, "transposed"))
    return permuted(axes)
  }

  /// The strides that let `newShape` view this layout, or `nil` when no view exists.
  ///
  /// PyTorch's `computeStride` / numpy's no-copy reshape: the old axes are split into chunks
  /// that are contiguous among themselves (size-1 axes ignored); each new axis must fall inside
  /// one chunk. O(rank + newRank).
  public func viewStrides(for newShape: [Int]) -> [Int]? {
    let total = count
    let newCount = TensorLayout.addressableCount(newShape)
    require(
      newCount == total,
      "reshape: shape \(shape) has \(total) elements but \(newShape) has \(newCount.map(String.init) ?? "more than Int can address")"
    )
    if total == 0 || isContiguous {
      return TensorLayout.rowMajorStrides(for: newShape)
    }
    var newStrides = [Int](repeating: 0, count: newShape.count)
    var viewAxis = newShape.count - 1
    var chunkBaseStride = strides.last ?? 1
    var tensorElements = 1
    var viewElements = 1
    for axis in stride(from: rank - 1, through: 0, by: -1) {
      tensorElements *= shape[axis]
      // A chunk ends at axis 0 or where the next-outer axis is not contiguous with this one.
      if axis == 0
        || (shape[axis - 1] != 1 && strides[axis - 1] != tensorElements * chunkBaseStride)
      {
        while viewAxis >= 0 && (viewElements < tensorElements || newShape[viewAxis] == 1) {
          newStrides[viewAxis] = viewElements * chunkBaseStride
          viewElements *= newShape[viewAxis]
          viewAxis -= 1
        }
        if viewElements != tensorElements { return nil }
        if axis > 0 {
          chunkBaseStride = strides[axis - 1]
          tensorElements = 1
          viewElements = 1
        }
      }
    }
    return viewAxis == -1 ? newStrides : nil
  }

  /// `shape` with a single `-1` replaced by the size that keeps the element count.
  public func inferredShape(_ newShape: [Int]) -> [Int] {
    let unknown = newShape.indices.filter { newShape[$0] == -1 }
    require(unknown.count <= 1, "reshape(\(newShape)): only one -1 may be inferred")
    require(
      newShape.allSatisfy { $0 >= -1 }, "reshape(\(newShape)): sizes must be ≥ 0 or a single -1")
    guard let hole = unknown.first else { return newShape }
    let knownCount = TensorLayout.addressableCount(
      newShape.enumerated().filter { $0.offset != hole }.map(\.element))
    require(
      knownCount != nil,
      "reshape(\(newShape)): the known sizes have more elements than Int can address; shape \(shape) has \(count)"
    )
    let known = knownCount!
    require(
      known != 0 && count % known == 0,
      "reshape(\(newShape)): shape \(shape) has \(count) elements, not divisible into \(newShape)")
    var result = newShape
    result[hole] = count / known
    return result
  }

  /// The layout of `newShape` over the same elements, or `nil` when strides cannot express it
  /// (then a copy is needed); O(rank).
  public func reshapedView(_ newShape: [Int]) -> TensorLayout? {
    let resolved = inferredShape(newShape)
    guard let newStrides = viewStrides(for: resolved) else { return nil }
    return TensorLayout(shape: resolved, strides: newStrides, offset: offset)
  }

  /// The layout with one axis removed at a fixed index; O(rank).
  ///
  ///     [B, T, H].selected(axis: 1, index: -1)   // [B, H], the last time step
  public func selected(axis: Int, index: Int) -> TensorLayout {
    let a = normalizedAxis(axis, "selected(axis: \(axis), index: \(index))")
    let i = normalizedIndex(index, axis: a)
    var result = self
    result.offset += i * strides[a]
    result.shape.remove(at: a)
    result.strides.remove(at: a)
    return result
  }

  /// The layout keeping every `|step|`-th element of `range` along `axis`: from its first
  /// element forwards when `step` is positive, from its last element backwards when negative
  /// (Swift's `stride(from: range.upperBound - 1, through: range.lowerBound, by: step)`,
  /// NumPy's `x[a:b][::step]`); O(rank).
  ///
  ///     [T].sliced(axis: 0, range: 0..<T, step: -1)   // reversed
  ///     [6].sliced(axis: 0, range: 1..<5, step: -2)   // elements 4, 2
  public func sliced(axis: Int, range: Range<Int>, step: Int = 1) -> TensorLayout {
    let a = normalizedAxis(axis, "sliced(axis: \(axis))")
    require(step != 0, "sliced(axis: \(axis)): step must not be 0")
    require(
      step != Int.min,
      "sliced(axis: \(axis), step: \(step)): the step's magnitude does not fit in Int; use a step in -Int.max...Int.max"
    )
    require(
      range.lowerBound >= 0 && range.upperBound <= shape[a],
      "sliced(axis: \(axis), range: \(range)): range is outside 0..<\(shape[a]) of shape \(shape)")
    let magnitude = step.magnitude
    let length = Int((UInt(range.count) + magnitude - 1) / magnitude)
    var result = self
    result.shape[a] = length
    if length > 0 {
      let first = step > 0 ? range.lowerBound : range.upperBound - 1
      result.offset += first * strides[a]
    }
    let (newStride, overflow) = strides[a].multipliedReportingOverflow(by: step)
    require(
      !overflow || length <= 1,
      "sliced(axis: \(axis), step: \(step)): stride \(strides[a]) × step overflows Int for shape \(shape); use a smaller step"
    )
    result.strides[a] = length <= 1 ? strides[a] : newStride
    return result
  }

  /// The layout with a size-1 axis inserted at `axis` (which may equal `rank`); O(rank).
  public func unsqueezed(axis: Int) -> TensorLayout {
    let a = normalizedAxis(axis, extra: 1, "unsqueezed(axis: \(axis))")
    var result = self
    let innerStride = a < rank ? strides[a] * Swift.max(shape[a], 1) : 1
    result.shape.insert(1, at: a)
    result.strides.insert(innerStride, at: a)
    return result
  }

  /// The layout without the size-1 axis `axis` (PyTorch: a no-op when that size is not 1), or
  /// without every size-1 axis when `axis` is `nil`; O(rank).
  public func squeezed(axis: Int? = nil) -> TensorLayout {
    var result = self
    if let axis {
      let a = normalizedAxis(axis, "squeezed(axis: \(axis))")
      guard shape[a] == 1 else { return self }
      result.shape.remove(at: a)
      result.strides.remove(at: a)
    } else {
      let keep = shape.indices.filter { shape[$0] != 1 }
      result.shape = keep.map { shape[$0] }
      result.strides = keep.map { strides[$0] }
    }
    return result
  }

  /// The layout broadcast to `newShape`: size-1 axes (and new leading axes) get stride 0; `-1`
  /// keeps a size; O(rank).
  ///
  ///     [1, H].expanded(to: [B, H])   // strides [0, 1]
  public func expanded(to newShape: [Int]) -> TensorLayout {
    require(
      newShape.count >= rank,
      "expanded(to: \(newShape)): cannot expand shape \(shape) to fewer axes; use squeezed first")
    let lead = newShape.count - rank
    var resultShape = newShape
    var resultStrides = [Int](repeating: 0, count: newShape.count)
    for axis in 0..<rank {
      let target = newShape[lead + axis]
      if target == -1 || target == shape[axis] {
        resultShape[lead + axis] = shape[axis]
        resultStrides[lead + axis] = strides[axis]
      } else {
        require(
          shape[axis] == 1,
          "expanded(to: \(newShape)): axis \(axis) of shape \(shape) has size \(shape[axis]); only size-1 axes can be broadcast"
        )
        require(target >= 0, "expanded(to: \(newShape)): sizes must be ≥ 0")
      }
    }
    for axis in 0..<lead {
      require(
        newShape[axis] >= 0, "expanded(to: \(newShape)): new leading axes cannot use -1")
    }
    return TensorLayout(shape: resultShape, strides: resultStrides, offset: offset)
  }

  /// The layout with axes `startAxis...endAxis` merged into one, or `nil` when strides cannot
  /// express it; O(rank).
  public func flattenedView(startAxis: Int = 0, endAxis: Int = -1) -> TensorLayout? {
    reshapedView(flattenedShape(startAxis: startAxis, endAxis: endAxis))
  }

  /// The shape after merging axes `startAxis...endAxis`; O(rank).
  public func flattenedShape(startAxis: Int = 0, endAxis: Int = -1) -> [Int] {
    if rank == 0 { return [1] }
    let start = normalizedAxis(startAxis, "flattened(startAxis: \(startAxis))")
    let end = normalizedAxis(endAxis, "flattened(endAxis: \(endAxis))")
    require(
      start <= end,
      "flattened(startAxis: \(startAxis), endAxis: \(endAxis)): start comes after end for shape \(shape)"
    )
    let merged = shape[start...end].reduce(1, *)
    return Array(shape[..<start]) + [merged] + Array(shape[(end + 1)...])
  }

  /// The layout with `axis` split into `sizes` (one `-1` inferred); O(rank). Always a view.
  public func unflattened(axis: Int, shape sizes: [Int]) -> TensorLayout {
    let a = normalizedAxis(axis, "unflattened(axis: \(axis))")
    let piece = TensorLayout(shape: [shape[a]], strides: [strides[a]])
    let resolved = piece.inferredShape(sizes)
    let pieceStrides = piece.viewStrides(for: resolved)!
    var result = self
    result.shape.replaceSubrange(a...a, with: resolved)
    result.strides.replaceSubrange(a...a, with: pieceStrides)
    return result
  }
}
