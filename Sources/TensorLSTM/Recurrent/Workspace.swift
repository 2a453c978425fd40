/// A recurrent forward's scratch memory: one allocation per call, cut into named regions.
///
/// Every path takes its buffers from here, the hidden split's second worker included; the time
/// loop allocates nothing. What depends only on the weights (the packed `W_hh`) lives with the
/// weights, not here.
///
///     let workspace = Workspace<Float>(plan: plan, geometry: geometry)
///     defer { workspace.deallocate() }
///     let regions = workspace.slices[worker]
struct Workspace<Scalar: BLASScalar> {
  /// One batch slice's buffers (the whole batch without a split).
  struct SliceRegions {
    /// Gate rows of a chunk, `[chunk, rows, rowGates·H]` with rows `gateRowStride` apart,
    /// time-major (slots per ``RecurrentCell``).
    var gates: UnsafeMutablePointer<Scalar>
    /// The LSTM's `c`, `[rows, H]`: c(0) on entry to a direction, c_n after it (empty for the
    /// other cells).
    var cellState: UnsafeMutablePointer<Scalar>
    /// The unprojected `h`, `[rows, H]`, when `projSize > 0`.
    var projection: UnsafeMutablePointer<Scalar>
    /// The reset-before GRU's `r ⊙ h(t−1)`, `[rows, H]`, the operand of its n product.
    var resetHidden: UnsafeMutablePointer<Scalar>
    /// h(0), `[rows, Hout]`.
    var initialHidden: UnsafeMutablePointer<Scalar>
    /// Outputs of inner layers, `[T, rows, D·Hout]`, used alternately by layers 0, 1, 0, …
    var innerOutputs: (even: UnsafeMutablePointer<Scalar>, odd: UnsafeMutablePointer<Scalar>)
    /// The first layer's input rows of a chunk, `[chunk, rows, I]`, when the plan gathers them.
    var gatheredInput: UnsafeMutablePointer<Scalar>?
  }

  /// The hidden split's extra buffers: the second worker's gate rows `[chunk, B, rowGates·n]` and
  /// gathered input rows, and each worker's `c` `[B, n]` (the slice's `cellState` keeps the
  /// whole `[B, H]` state the workers start from and end in).
  struct PartnerRegions {
    var gates: UnsafeMutablePointer<Scalar>
    var gatheredInput: UnsafeMutablePointer<Scalar>?
    var cellStates: (first: UnsafeMutablePointer<Scalar>, second: UnsafeMutablePointer<Scalar>)
  }

  /// Scalars of each region of one slice, by name.
  struct Sizes {
    var gates: Int
    var cellState: Int
    var projection: Int
    var resetHidden: Int
    var initialHidden: Int
    var innerOutput: Int
    var secondInnerOutput: Int
    var gatheredInput: Int

    var total: Int {
      gates + cellState + projection + resetHidden + initialHidden + innerOutput + secondInnerOutput
        + gatheredInput
    }

    init(plan: ForwardPlan, geometry g: RecurrentGeometry) {
      let rows = plan.rowsPerWorker
      gates = plan.chunk * rows * g.gateRowStride
      cellState = g.cell.hasCellState ? rows * g.hiddenSize : 0
      projection = g.projected ? rows * g.hiddenSize : 0
      resetHidden = g.cell.hasFusedStep ? 0 : rows * g.hiddenSize
      initialHidden = rows * g.outputHiddenSize
      innerOutput = g.layers > 1 ? plan.steps * rows * g.directions * g.outputHiddenSize : 0
      secondInnerOutput = g.layers > 2 ? innerOutput : 0
      gatheredInput = plan.gathersInput ? plan.chunk * rows * g.inputSize : 0
    }
  }

  let slices: [SliceRegions]
  let partner: PartnerRegions?
  private let base: UnsafeMutablePointer<Scalar>

  init(plan: ForwardPlan, geometry g: RecurrentGeometry) {
    let sizes = Sizes(plan: plan, geometry: g)
    let sliceCount = plan.split == .batchSlices ? plan.workers : 1
    // The second worker has at most half of the units; sized for all H to stay simple.
    let splitRows = plan.split == .hiddenUnits ? plan.rowsPerWorker : 0
    let partnerGates = plan.chunk * splitRows * g.rowWidth
    let partnerGather = plan.gathersInput ? plan.chunk * splitRows * g.inputSize : 0
    let partnerCells = g.cell.hasCellState ? splitRows * g.hiddenSize : 0
    let partnerSize = partnerGates + partnerGather + 2 * partnerCells
    let count = sliceCount * sizes.total + partnerSize
    base = UnsafeMutablePointer<Scalar>.allocate(capacity: Swift.max(count, 1))
    var cursor = base
    func take(_ n: Int) -> UnsafeMutablePointer<Scalar> {
      defer { cursor += n }
      return cursor
    }
    var slices: [SliceRegions] = []
    slices.reserveCapacity(sliceCount)
    for _ in 0..<sliceCount {
      slices.append(
        SliceRegions(
          gates: take(sizes.gates), cellState: take(sizes.cellState),
          projection: take(sizes.projection), resetHidden: take(sizes.resetHidden),
          initialHidden: take(sizes.initialHidden),
          innerOutputs: (take(sizes.innerOutput), take(sizes.secondInnerOutput)),
          gatheredInput: sizes.gatheredInput > 0 ? take(sizes.gatheredInput) : nil))
    }
    self.slices = slices
    partner =
      splitRows > 0
      ? PartnerRegions(
        gates: take(partnerGates), gatheredInput: partnerGather > 0 ? take(partnerGather) : nil,
        cellStates: (take(partnerCells), take(partnerCells)))
      : nil
  }

  /// Frees the allocation; the regions are invalid afterwards.
  func deallocate() { base.deallocate() }
}
