/// A reference-counted, 64-byte-aligned block of scalars that tensors share.
///
/// Internal: ``Tensor`` is the only owner. Mutation happens only through a tensor that holds the
/// sole reference (copy-on-write), which is what makes the `@unchecked Sendable` sound.
final class TensorStorage<Scalar: BLASScalar>: @unchecked Sendable {
  let base: UnsafeMutablePointer<Scalar>
  let count: Int

  /// Uninitialised-looking storage: the memory is zero-filled so every element is a valid scalar.
  convenience init(zeroedCount count: Int) {
    self.init(unfilledCount: count)
    UnsafeMutableRawPointer(base).initializeMemory(
      as: UInt8.self, repeating: 0, count: Swift.max(count, 1) * MemoryLayout<Scalar>.stride)
  }

  /// Storage whose contents are whatever the allocator (or ``BlockCache``) returned: for
  /// buffers the caller overwrites before anyone reads them (Float and Double have no invalid
  /// bit patterns).
  init(unfilledCount count: Int) {
    self.count = count
    let raw = BlockCache.allocate(bytes: Self.byteCount(count))
    base = raw.bindMemory(to: Scalar.self, capacity: Swift.max(count, 1))
  }

  convenience init<C: Collection>(copying scalars: C) where C.Element == Scalar {
    self.init(zeroedCount: scalars.count)
    _ = UnsafeMutableBufferPointer(start: base, count: count).initialize(from: scalars)
  }

  deinit {
    BlockCache.deallocate(UnsafeMutableRawPointer(base), bytes: Self.byteCount(count))
  }

  /// Bytes of the block behind `count` scalars (at least one scalar's).
  private static func byteCount(_ count: Int) -> Int {
    Swift.max(count, 1) * MemoryLayout<Scalar>.stride
  }
}
