import Synchronization

/// A recurrent backward's scratch memory: one block per call, cut into named regions, one set
/// per direction that runs at once (``Workers/forEachDirection(_:budget:_:)``). The block is
/// ``TrainingScratch``'s: a training loop reuses the previous step's, so its pages are not
/// faulted in and zeroed again every step.
///
///     let workspace = BackwardWorkspace<Float>(geometry: g, steps: T, batch: B, sets: 2)
///     defer { workspace.deallocate() }
///     let regions = workspace.sets[direction]
///
/// Every region is written before it is read: the `[T, B, ·]` ones per direction (padded rows
/// zeroed when there are lengths), the one-step ones per step. Sizes follow the cell: only the
/// GRU has recurrent-side gate gradients of its own, only the LSTM a projection.
struct BackwardWorkspace<Scalar: BLASScalar> {
  /// One direction's regions.
  struct Regions {
    /// dG of every step, `[T, B, G·H]`: the pre-activation gradients (the LSTM's i, f, g, o;
    /// the GRU's input side, what `W_ih` multiplied).
    var gateGradients: UnsafeMutablePointer<Scalar>
    /// The GRU's recurrent side of dG, `[T, B, G·H]` (what `W_hh` multiplied); for the LSTM
    /// and RNN, whose two sides are equal, `gateGradients` itself.
    var recurrentGateGradients: UnsafeMutablePointer<Scalar>
    /// h(t−1) as each step read it, `[T, B, Hout]`.
    var previousHidden: UnsafeMutablePointer<Scalar>
    /// dh of every step, `[T, B, Hout]`, for dW_hr (a projection LSTM).
    var projectedGradients: UnsafeMutablePointer<Scalar>
    /// h_full = o ⊙ tanh(c) of every step, `[T, B, H]` (a projection LSTM).
    var fullHidden: UnsafeMutablePointer<Scalar>
    /// One step's dh, `[B, Hout]`.
    var stepHidden: UnsafeMutablePointer<Scalar>
    /// One step's dh_full = dh · W_hr, `[B, H]` (a projection LSTM).
    var stepFullHidden: UnsafeMutablePointer<Scalar>
    /// One step's d(r ⊙ h) = dn_pre · W_hn, `[B, H]` (the reset-before GRU).
    var stepResetHidden: UnsafeMutablePointer<Scalar>
    /// One step's dh(t−1), `[B, Hout]`, before it becomes the carry of the valid rows.
    var nextCarry: UnsafeMutablePointer<Scalar>
  }

  /// Scalars of each region of one set, by name.
  struct Sizes {
    var gateGradients: Int
    var recurrentGateGradients: Int
    var previousHidden: Int
    var projectedGradients: Int
    var fullHidden: Int
    var stepHidden: Int
    var stepFullHidden: Int
    var stepResetHidden: Int
    var nextCarry: Int

    var total: Int {
      gateGradients + recurrentGateGradients + previousHidden + projectedGradients + fullHidden
        + stepHidden + stepFullHidden + stepResetHidden + nextCarry
    }

    init(geometry g: RecurrentGeometry, steps: Int, batch: Int) {
      let rows = steps * batch
      let (hidden, hOut) = (g.hiddenSize, g.outputHiddenSize)
      gateGradients = rows * g.gateWidth
      recurrentGateGradients = g.cell.separatesRecurrentGradients ? rows * g.gateWidth : 0
      previousHidden = rows * hOut
      projectedGradients = g.projected ? rows * hOut : 0
      fullHidden = g.projected ? rows * hidden : 0
      stepHidden = batch * hOut
      stepFullHidden = g.projected ? batch * hidden : 0
      stepResetHidden = g.cell == .gru(resetAfter: false) ? batch * hidden : 0
      nextCarry = batch * hOut
    }
  }

  let sets: [Regions]
  private let block: TrainingScratch.Block

  /// `sets` region sets (2 when a layer's directions run at once, else 1) for `steps × batch`
  /// rows of `geometry`'s cell. The regions hold whatever the block held before.
  init(geometry: RecurrentGeometry, steps: Int, batch: Int, sets count: Int) {
    let sizes = Sizes(geometry: geometry, steps: steps, batch: batch)
    block = TrainingScratch.take(bytes: count * sizes.total * MemoryLayout<Scalar>.stride)
    var cursor = block.base.bindMemory(to: Scalar.self, capacity: count * sizes.total)
    func take(_ n: Int) -> UnsafeMutablePointer<Scalar> {
      defer { cursor += n }
      return cursor
    }
    sets = (0..<count).map { _ in
      let gateGradients = take(sizes.gateGradients)
      let separate = geometry.cell.separatesRecurrentGradients
      return Regions(
        gateGradients: gateGradients,
        recurrentGateGradients: separate ? take(sizes.recurrentGateGradients) : gateGradients,
        previousHidden: take(sizes.previousHidden),
        projectedGradients: take(sizes.projectedGradients), fullHidden: take(sizes.fullHidden),
        stepHidden: take(sizes.stepHidden), stepFullHidden: take(sizes.stepFullHidden),
        stepResetHidden: take(sizes.stepResetHidden), nextCarry: take(sizes.nextCarry))
    }
  }

  /// The regions of direction `direction` when `sets` of them were made.
  func regions(_ direction: Int) -> Regions { sets[direction % sets.count] }

  /// Returns the block to ``TrainingScratch``; the regions are invalid afterwards.
  func deallocate() { TrainingScratch.give(block) }
}

/// The recurrent backward's scratch block, kept between calls: a training step's backward takes
/// it, and gives it back when done, so the next step reuses memory that is already mapped.
///
/// Without it a step of (B 64, T 100, H 512) maps, faults in and zeroes 65–91 MiB of fresh
/// pages (dG of all steps, h(t−1)): 14 % of a GRU training step on Zen 5. One block is kept
/// for the process (the largest given back); a call that finds none (the first, or one running
/// beside another) allocates its own.
enum TrainingScratch {
  /// A 64-byte-aligned block of `bytes` bytes, owned by one holder at a time (the kept slot or
  /// one backward), which is what makes the `@unchecked Sendable` sound.
  struct Block: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let bytes: Int
  }

  private static let kept = Mutex<Block?>(nil)

  /// A block of at least `bytes` bytes: the kept one when it is large enough, else a new one.
  static func take(bytes: Int) -> Block {
    let bytes = Swift.max(bytes, 64)
    let reused: Block? = kept.withLock { kept in
      guard let block = kept, block.bytes >= bytes else { return nil }
      kept = nil
      return block
    }
    return reused ?? Block(base: .allocate(byteCount: bytes, alignment: 64), bytes: bytes)
  }

  /// Keeps `block` for the next ``take(bytes:)`` when it is at least as large as the kept one;
  /// frees the smaller of the two.
  static func give(_ block: Block) {
    let freed: Block? = kept.withLock { kept in
      guard let current = kept else {
        kept = block
        return nil
      }
      if current.bytes >= block.bytes { return block }
      kept = block
      return current
    }
    freed?.base.deallocate()
  }
}
