/// A recurrent forward's scratch memory: one block per call (from ``BlockCache``), cut into
/// named regions.
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
    /// The LSTM's `c`, `[rows, H]`: c(0) on entry to a direction, c_n after it (in a trace
    /// c(0) only: the record keeps every step's); empty for the other cells.
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
  private let bytes: Int

  init(plan: ForwardPlan, geometry g: RecurrentGeometry) {
    // The second worker has at most half of the units; sized for all H to stay simple.
    let splitRows = plan.split == .hiddenUnits ? plan.rowsPerWorker : 0
    self.init(
      sizes: Sizes(plan: plan, geometry: g),
      sliceCount: plan.split == .batchSlices ? plan.workers : 1,
      partner: splitRows == 0
        ? nil
        : (
          gates: plan.chunk * splitRows * g.rowWidth,
          gatheredInput: plan.gathersInput ? plan.chunk * splitRows * g.inputSize : 0,
          cellState: g.cell.hasCellState ? splitRows * g.hiddenSize : 0
        ))
  }

  /// The regions of a traced forward (``TraceRecord``), one slice per direction that runs at
  /// once or per batch slice (`sets`). What the record keeps has no region here: the gate rows
  /// (all cells but the RNN), the LSTM's `c` of the hidden split's workers, the reset-before
  /// GRU's `r ⊙ h`; nor do the inner layers' outputs (each is part of the trace) or a gather
  /// buffer (the trace reads a contiguous time-major input).
  init(tracing plan: ForwardPlan, geometry g: RecurrentGeometry, sets: Int) {
    var sizes = Sizes(plan: plan, geometry: g)
    let keepsGates = g.cell.tracesGates
    if keepsGates { sizes.gates = 0 }
    // The input is projected for the whole batch (``DirectionPass/projectRecord(_:)``) or,
    // for the RNN, never sliced: read in place.
    (sizes.resetHidden, sizes.innerOutput, sizes.secondInnerOutput) = (0, 0, 0)
    sizes.gatheredInput = 0
    self.init(
      sizes: sizes, sliceCount: sets,
      partner: plan.split == .hiddenUnits
        ? (
          gates: keepsGates ? 0 : plan.chunk * plan.batch * g.rowWidth, gatheredInput: 0,
          cellState: 0
        )
        : nil)
  }

  /// Carves one allocation into `sliceCount` slices of `sizes` and, when sized, the hidden
  /// split's partner regions (the workers' `c` `cellState` each).
  private init(
    sizes: Sizes, sliceCount: Int,
    partner partnerSizes: (gates: Int, gatheredInput: Int, cellState: Int)?
  ) {
    let (partnerGates, partnerGather, partnerCells) = partnerSizes ?? (0, 0, 0)
    let partnerSize = partnerGates + partnerGather + 2 * partnerCells
    let count = sliceCount * sizes.total + partnerSize
    bytes = Swift.max(count, 1) * MemoryLayout<Scalar>.stride
    base = BlockCache.allocate(bytes: bytes).bindMemory(
      to: Scalar.self, capacity: Swift.max(count, 1))
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
      partnerSizes != nil
      ? PartnerRegions(
        gates: take(partnerGates), gatheredInput: partnerGather > 0 ? take(partnerGather) : nil,
        cellStates: (take(partnerCells), take(partnerCells)))
      : nil
  }

  /// Returns the block to ``BlockCache``; the regions are invalid afterwards.
  func deallocate() { BlockCache.deallocate(UnsafeMutableRawPointer(base), bytes: bytes) }
}
