/// An N-dimensional array of `Float` or `Double`: shared storage plus a ``TensorLayout``.
///
///     let x = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
///     let xt = x.permuted([1, 0])            // [3, 2], O(1), shares storage
///     xt.sharesStorage(with: x)              // true
///     xt.scalars                             // [1, 4, 2, 5, 3, 6]
///
/// Tensors are values. Views (``reshaped(_:)``, ``permuted(_:)``, ``sliced(axis:range:step:)``, …)
/// share storage and cost O(rank); mutating a tensor whose storage is shared, or whose layout
/// broadcasts one element to several indices, first copies it (copy-on-write), so a view never
/// changes what another tensor sees.
public struct Tensor<Scalar: BLASScalar>: Sendable {
  var storage: TensorStorage<Scalar>
  /// Shape, strides and offset of this tensor in its storage.
  public internal(set) var layout: TensorLayout

  init(storage: TensorStorage<Scalar>, layout: TensorLayout) {
    self.storage = storage
    self.layout = layout
  }

  /// A contiguous tensor of `shape` filled with `scalars` in row-major order; copies `scalars`.
  ///
  ///     Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3, 4])
  ///
  /// - Precondition: `scalars.count` equals the product of `shape`.
  public init(shape: [Int], scalars: [Scalar]) {
    let layout = TensorLayout(contiguous: shape)
    require(
      layout.count == scalars.count,
      "Tensor(shape: \(shape), scalars:): the shape holds \(layout.count) elements but \(scalars.count) scalars were given"
    )
    self.init(storage: TensorStorage(copying: scalars), layout: layout)
  }

  /// A contiguous tensor of `shape` with every element equal to `value`; allocates.
  public init(repeating value: Scalar, shape: [Int]) {
    let layout = TensorLayout(contiguous: shape)
    let storage = TensorStorage<Scalar>(zeroedCount: layout.count)
    if value != 0 { storage.base.update(repeating: value, count: layout.count) }
    self.init(storage: storage, layout: layout)
  }

  /// A contiguous tensor whose elements are not set: only for buffers that are written in full
  /// before they are read (the training trace's gates and cells). Allocates, no fill.
  static func unfilled(shape: [Int]) -> Tensor {
    Tensor(
      storage: TensorStorage(unfilledCount: TensorLayout(contiguous: shape).count),
      layout: TensorLayout(contiguous: shape))
  }

  /// A contiguous tensor of zeros; allocates.
  ///
  ///     Tensor<Double>.zeros(shape: [2, 3])
  public static func zeros(shape: [Int]) -> Tensor {
    Tensor(
      storage: TensorStorage(zeroedCount: TensorLayout(contiguous: shape).count),
      layout: TensorLayout(contiguous: shape))
  }

  /// The size of each axis; O(1).
  public var shape: [Int] { layout.shape }
  /// The distance in elements between neighbours along each axis; O(1).
  public var strides: [Int] { layout.strides }
  /// The number of axes; O(1).
  public var rank: Int { layout.rank }
  /// The number of elements; O(rank).
  public var count: Int { layout.count }
  /// Whether the elements are laid out row-major without gaps (size-1 axes ignored); O(rank).
  public var isContiguous: Bool { layout.isContiguous }

  /// Whether `other` reads the same storage block (a view of it, or it of this); O(1).
  public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

  /// All elements in row-major logical order; copies.
  ///
  ///     Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3, 4]).transposed(0, 1).scalars  // [1, 3, 2, 4]
  public var scalars: [Scalar] {
    if layout.isContiguous {
      return Array(UnsafeBufferPointer(start: storage.base + layout.offset, count: count))
    }
    return [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
      Tensor.copyElements(
        from: storage.base, layout,
        to: buffer.baseAddress!, TensorLayout(contiguous: layout.shape))
      initialized = count
    }
  }

  /// Calls `body` with the elements in row-major logical order: the storage itself when the
  /// tensor is contiguous, else a temporary contiguous copy. The pointer is valid only inside
  /// `body`.
  ///
  ///     let sum = x.withUnsafeBufferPointer { $0.reduce(0, +) }
  public func withUnsafeBufferPointer<Result>(
    _ body: (UnsafeBufferPointer<Scalar>) throws -> Result
  ) rethrows -> Result {
    if layout.isContiguous {
      return try body(UnsafeBufferPointer(start: storage.base + layout.offset, count: count))
    }
    return try copied().withUnsafeBufferPointer(body)
  }

  /// Calls `body` with the elements in row-major logical order to read and write in place
  /// (MPI buffers, C libraries). Copies first when the storage is shared with another tensor or
  /// the tensor is not contiguous, so writes never reach another tensor.
  ///
  ///     g.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= 0.5 } }
  public mutating func withUnsafeMutableBufferPointer<Result>(
    _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> Result
  ) rethrows -> Result {
    makeUniquelyWritable()
    if !layout.isContiguous { self = copied() }
    return try body(UnsafeMutableBufferPointer(start: storage.base + layout.offset, count: count))
  }

  /// The element at a full index (negative entries count from the end); O(rank).
  ///
  ///     x[scalarAt: [1, -1]] = 0   // copies first when the storage is shared
  public subscript(scalarAt index: [Int]) -> Scalar {
    get { storage.base[layout.storageIndex(index)] }
    set {
      makeUniquelyWritable()
      storage.base[layout.storageIndex(index)] = newValue
    }
  }

  /// Makes the storage uniquely owned and free of aliasing before a write; copies only when the
  /// storage is shared or the layout maps several indices to one element.
  mutating func makeUniquelyWritable() {
    if !isKnownUniquelyReferenced(&storage) || layout.mayOverlap {
      self = copied()
    }
  }

  /// A contiguous copy with fresh storage; copies.
  func copied() -> Tensor {
    let result = Tensor.zeros(shape: shape)
    Tensor.copyElements(from: storage.base, layout, to: result.storage.base, result.layout)
    return result
  }

  /// This tensor when already contiguous (same storage), else a contiguous copy.
  ///
  /// The one explicit copy of the view family: O(1) and shares storage when ``isContiguous``,
  /// otherwise copies `count` elements into new row-major storage.
  ///
  ///     let bht = lstmOutput.permuted([0, 2, 1])   // [B, H, T] view
  ///     let packed = bht.contiguous()               // [B, H, T], copies
  public func contiguous() -> Tensor {
    isContiguous ? self : copied()
  }

  /// Calls `body` with a pointer to the element at logical index `[0, 0, …]`; the layout says
  /// how to walk from it. Internal fast path for kernels; no copy.
  func withBase<R>(_ body: (UnsafePointer<Scalar>) throws -> R) rethrows -> R {
    try withExtendedLifetime(storage) { try body(storage.base + layout.offset) }
  }

  /// Mutable twin of ``withBase(_:)``; copies first when the storage is shared or aliased.
  mutating func withMutableBase<R>(_ body: (UnsafeMutablePointer<Scalar>) throws -> R) rethrows -> R
  {
    makeUniquelyWritable()
    return try withExtendedLifetime(storage) { try body(storage.base + layout.offset) }
  }

  /// Copies the elements of `sourceLayout` (relative to `source`) into `destinationLayout`
  /// (relative to `destination`), both walked in row-major logical order.
  static func copyElements(
    from source: UnsafePointer<Scalar>, _ sourceLayout: TensorLayout,
    to destination: UnsafeMutablePointer<Scalar>, _ destinationLayout: TensorLayout
  ) {
    StridedWalk.forEachRow(sourceLayout, destinationLayout, merging: true) {
      s, d, length, ss, ds in
      if ss == 1 && ds == 1 {
        (destination + d).update(from: source + s, count: length)
        return
      }
      var i = 0
      while i < length {
        destination[d + i * ds] = source[s + i * ss]
        i += 1
      }
    }
  }
}

extension Tensor: CustomStringConvertible {
  /// Shape, strides and the first few elements, e.g. `Tensor<Float>[2, 3] strides [3, 1] [1.0, …]`.
  public var description: String {
    let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
    return "Tensor<\(Scalar.self)>\(shape) strides \(strides) [\(shown)\(count > 8 ? ", …" : "")]"
  }
}

/// Row-by-row walks over one or two layouts of the same shape: the innermost axis becomes a
/// strided run, the outer axes an odometer kept on the stack: no allocation.
enum StridedWalk {
  /// Calls `body(sourceStart, destinationStart, length, sourceStride, destinationStride)` once
  /// per innermost row, in row-major order.
  static func forEachRow(
    _ a: TensorLayout, _ b: TensorLayout, merging: Bool = false,
    _ body: (_ a: Int, _ b: Int, _ length: Int, _ aStride: Int, _ bStride: Int) -> Void
  ) {
    forEachRow(a, b, b, merging: merging) { a, b, _, length, aStride, bStride, _ in
      body(a, b, length, aStride, bStride)
    }
  }

  /// Three layouts of one shape walked together: `body(aStart, bStart, cStart, length,
  /// aStride, bStride, cStride)` once per innermost row, in row-major order.
  ///
  /// With `merging`, for elementwise work where a row means nothing: size-1 axes are dropped
  /// and axes merged where every layout steps through them as through one, so a slice of
  /// contiguous rows is walked as one long row.
  static func forEachRow(
    _ a: TensorLayout, _ b: TensorLayout, _ c: TensorLayout, merging: Bool = false,
    _ body: (
      _ a: Int, _ b: Int, _ c: Int, _ length: Int, _ aStride: Int, _ bStride: Int, _ cStride: Int
    ) -> Void
  ) {
    require(
      a.shape == b.shape && b.shape == c.shape,
      "internal: walking shapes \(a.shape), \(b.shape) and \(c.shape)")
    if a.count == 0 { return }
    // The walked axes, kept on the stack.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(5 * a.rank, 1)) { buffer in
      let (shape, sa, sb, sc, index) = (
        buffer.baseAddress!, buffer.baseAddress! + a.rank, buffer.baseAddress! + 2 * a.rank,
        buffer.baseAddress! + 3 * a.rank, buffer.baseAddress! + 4 * a.rank
      )
      var rank = 0
      for axis in 0..<a.rank where !merging || a.shape[axis] != 1 {
        let n = a.shape[axis]
        let (x, y, z) = (a.strides[axis], b.strides[axis], c.strides[axis])
        if merging && rank > 0 && sa[rank - 1] == x &* n && sb[rank - 1] == y &* n
          && sc[rank - 1] == z &* n
        {
          shape[rank - 1] &*= n
          (sa[rank - 1], sb[rank - 1], sc[rank - 1]) = (x, y, z)
        } else {
          (shape[rank], sa[rank], sb[rank], sc[rank]) = (n, x, y, z)
          rank += 1
        }
      }
      if rank == 0 {
        body(a.offset, b.offset, c.offset, 1, 0, 0, 0)
        return
      }
      let length = shape[rank - 1]
      let (aInner, bInner, cInner) = (sa[rank - 1], sb[rank - 1], sc[rank - 1])
      for axis in 0..<(rank - 1) { index[axis] = 0 }
      var (aPosition, bPosition, cPosition) = (a.offset, b.offset, c.offset)
      while true {
        body(aPosition, bPosition, cPosition, length, aInner, bInner, cInner)
        var axis = rank - 2
        while axis >= 0 {
          index[axis] += 1
          aPosition += sa[axis]
          bPosition += sb[axis]
          cPosition += sc[axis]
          if index[axis] < shape[axis] { break }
          aPosition -= sa[axis] * shape[axis]
          bPosition -= sb[axis] * shape[axis]
          cPosition -= sc[axis] * shape[axis]
          index[axis] = 0
          axis -= 1
        }
        if axis < 0 { return }
      }
    }
  }
}
