import Synchronization

/// Large blocks freed by tensors and scratch, kept for the next allocation of the same size.
///
/// A training loop allocates the same large buffers every step — a trace's gate rows, the
/// backward's gate gradients, dL/dx — and frees them before the next step. Left to the C
/// allocator, each block of more than 32 MiB (glibc's largest mmap threshold) and many smaller
/// ones go back to the kernel and come back as fresh pages that are faulted in and zeroed
/// again: 8–13 % of an LSTM or GRU training step at B 64, T 100, H 512 on Zen 5 (sys time
/// 0.45 s of 2.7 s in `tensorlstm-bench --train`). Here a freed block of at least
/// ``minimumBytes`` is kept, by exact size, until ``limitBytes`` of them are held; the oldest
/// go first. Smaller blocks go straight to the C allocator, which keeps them well.
///
///     let p = BlockCache.allocate(bytes: n)     // a kept block of n bytes, or a new one
///     BlockCache.deallocate(p, bytes: n)        // kept for the next allocate(bytes: n)
///
/// Cost: one lock per large allocation and free. Memory: at most ``limitBytes`` held besides
/// the live tensors.
enum BlockCache {
  /// Blocks smaller than this are not kept (1 MiB).
  static let minimumBytes = 1 << 20
  /// The most the cache holds (256 MiB): a training step of the largest shapes measured
  /// (B 64, T 100, H 512: 170 MiB of trace and scratch) fits.
  static let limitBytes = 256 << 20

  /// A block owned by one holder at a time (the cache or one allocation), which is what makes
  /// the `@unchecked Sendable` sound.
  private struct Block: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let bytes: Int
  }

  /// Kept blocks, oldest first, and their total size.
  private static let kept = Mutex<(blocks: [Block], bytes: Int)>(([], 0))

  /// A 64-byte-aligned block of `bytes` bytes: a kept one of that size, else a new one.
  static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
    if bytes >= minimumBytes {
      let reused: Block? = kept.withLock { kept in
        guard let i = kept.blocks.lastIndex(where: { $0.bytes == bytes }) else { return nil }
        kept.bytes -= bytes
        return kept.blocks.remove(at: i)
      }
      if let reused { return reused.base }
    }
    return .allocate(byteCount: bytes, alignment: 64)
  }

  /// Frees a block from ``allocate(bytes:)`` of `bytes` bytes: kept when large enough, the
  /// oldest kept ones freed while more than ``limitBytes`` are held.
  static func deallocate(_ base: UnsafeMutableRawPointer, bytes: Int) {
    guard bytes >= minimumBytes, bytes <= limitBytes else {
      base.deallocate()
      return
    }
    let evicted: [Block] = kept.withLock { kept in
      kept.blocks.append(Block(base: base, bytes: bytes))
      kept.bytes += bytes
      var evicted: [Block] = []
      while kept.bytes > limitBytes {
        let oldest = kept.blocks.removeFirst()
        kept.bytes -= oldest.bytes
        evicted.append(oldest)
      }
      return evicted
    }
    for block in evicted { block.base.deallocate() }
  }
}
