/// A recurrent backward's scratch memory: one block per call, cut into named regions, one set
/// per direction that runs at once (``Workers/forEachDirection(_:budget:_:)``). The block comes
/// from ``BlockCache``: a training loop reuses the previous step's, so its pages are not
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
  private let base: UnsafeMutableRawPointer
  private let bytes: Int

  /// `sets` region sets (2 when a layer's directions run at once, else 1) for `steps × batch`
  /// rows of `geometry`'s cell. The regions hold whatever the block held before.
  init(geometry: RecurrentGeometry, steps: Int, batch: Int, sets count: Int) {
    let sizes = Sizes(geometry: geometry, steps: steps, batch: batch)
    bytes = Swift.max(1, count * sizes.total) * MemoryLayout<Scalar>.stride
    base = BlockCache.allocate(bytes: bytes)
    var cursor = base.bindMemory(to: Scalar.self, capacity: Swift.max(1, count * sizes.total))
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

  /// Returns the block to ``BlockCache``; the regions are invalid afterwards.
  func deallocate() { BlockCache.deallocate(base, bytes: bytes) }
}
