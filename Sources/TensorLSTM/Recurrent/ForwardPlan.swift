/// The sizes of a recurrent layer that decide how its forward runs; the same for every cell
/// type, which differs only in `cell` (its gates and gate-row slots, ``RecurrentCell``).
struct RecurrentGeometry: Sendable, Hashable {
  var cell: RecurrentCell
  var inputSize: Int
  var hiddenSize: Int
  /// `h`'s width: `projSize` when projected, else `hiddenSize`.
  var outputHiddenSize: Int
  var layers: Int
  var directions: Int
  var projected: Bool
  /// Whether a one-direction layer reads the sequence from its end (an ONNX node with
  /// direction "reverse"); the second direction of a bidirectional layer always does.
  var reverseOnly = false

  /// Whether direction `d` reads backwards.
  func isReverse(_ d: Int) -> Bool { d == 1 || reverseOnly }

  /// Gates of the parameters (4 LSTM, 3 GRU, 1 RNN).
  var gateCount: Int { cell.gateCount }
  /// Rows of `weight_ih` and `weight_hh`: `gateCount · H`.
  var gateWidth: Int { gateCount * hiddenSize }
  /// Pre-activations per gate row: `rowGates · H` (``RecurrentCell``).
  var rowWidth: Int { cell.rowGates * hiddenSize }

  /// The distance between gate rows: the row width, plus one cache line when it is a multiple
  /// of 256 scalars (1 KiB), so that the rows a step touches do not all map to the same L1
  /// sets. Measured: no change on the shapes here (batch 32, H 256: 1.03× the portable forward
  /// with and without it); it costs 64 bytes a row.
  var gateRowStride: Int { rowWidth % 256 == 0 ? rowWidth + 16 : rowWidth }
}

/// How one recurrent forward call runs, decided once from the shapes, the flags and the thread
/// budget before anything is allocated.
///
///     var lstm = LSTM<Float>(inputSize: 64, hiddenSize: 256)
///     lstm.threads = 2
///     print(try lstm.plan(for: Tensor<Float>.zeros(shape: [1000, 1, 64])))
///     // split: hidden units (gate columns) across 2 workers, one barrier per step: …
///
/// The description says why the shape runs as it does: which split, how many workers, the
/// chunk of time steps whose gate rows are computed by one input GEMM, whether input rows are
/// gathered first, and the step kernel of each layer.
public struct ForwardPlan: Sendable, CustomStringConvertible {
  /// How the work of one call is divided between threads.
  public enum Split: String, Sendable, Hashable {
    /// One worker; OpenBLAS may use the rest of the budget inside its own calls.
    case none
    /// Contiguous slices of the batch, one per worker, each running every layer over its own
    /// sequences with single-threaded BLAS (no barrier).
    case batchSlices
    /// Batch 1: the hidden units split between two workers, one barrier per step.
    case hiddenUnits
  }

  /// What computes one time step's recurrent product and gate math.
  public enum StepKernel: String, Sendable, Hashable {
    /// The fused vector step: packed `W_hh` in register tiles, the cell update on the
    /// accumulators.
    case fused
    /// A BLAS GEMM (gemv at one row) into the gate rows, then the vector gate pass.
    case gemmThenVectorGates
    /// A BLAS GEMM (gemv at one row) into the gate rows, then the Swift gate pass.
    case portable
    /// The reset-before GRU: a GEMM for r and z, the r/z pass writing `r ⊙ h`, a GEMM of that
    /// into n, then the n/h pass (Swift passes; no fused step exists for it).
    case resetBeforeGEMMs
  }

  /// The recurrence: "LSTM", "GRU", "GRU (reset before)", "RNN (tanh)" or "RNN (relu)".
  public let cell: String
  /// Gates per hidden unit (4 for an LSTM, 3 for a GRU, 1 for an RNN).
  public let gateCount: Int
  /// Time steps `T` of the call.
  public let steps: Int
  /// Sequences `B` of the call.
  public let batch: Int
  /// The thread budget the plan spends: ``LSTM/threads`` or else ``BLAS/threadCount``,
  /// clamped to the cores (``BLAS/cores``).
  public let threads: Int
  /// OpenBLAS's thread count for the whole call: 1 while the forward's own workers run,
  /// else the budget (see ``BLAS``).
  public var blasThreads: Int { workers > 1 ? 1 : threads }
  /// How the work is divided between threads.
  public let split: Split
  /// Workers the forward runs itself (1 when OpenBLAS alone parallelises).
  public let workers: Int
  /// Sequences per batch slice (the last slice may hold fewer).
  public let rowsPerWorker: Int
  /// Time steps per input GEMM: their gate rows (and gathered inputs) stay within 4 MiB.
  public let chunk: Int
  /// Whether the first layer's input rows are gathered into one GEMM operand per chunk, because
  /// they are not one strided run (batch-first input, or a slice of the batch).
  public let gathersInput: Bool
  /// Whether the input is copied once before the forward, because no GEMM can read it through
  /// its strides (a reversed or broadcast axis, or a feature axis without unit stride).
  public let copiesInput: Bool
  /// The step kernel of each layer.
  public let stepKernels: [StepKernel]
  /// The vector instruction set of the fused step and gate pass ("AVX-512F", "AVX2+FMA"), or
  /// "portable".
  public let instructionSet: String
  /// What multiplies the input projection `x · W_ihᵀ`: "packed AVX-512F" or "packed AVX2+FMA"
  /// (the library's GEMM, `W_ihᵀ` packed once, the bias added as tiles are stored; chosen by
  /// ``GEMMCalibration`` or by forcing ``RecurrentKernels``), "packed …, each worker's
  /// columns" (the hidden split's workers multiply their columns of the same packed `W_ihᵀ`,
  /// where their units are whole panels), "packed … per call" (the hidden split's per-worker
  /// products otherwise, packed as they run), "int8 AVX-512 VNNI" (or AVX-512BW, AVX2; at
  /// ``WeightPrecision/int8``: `W_ih`'s int8 rows against x quantized per row, exact int32
  /// sums), else "sgemm" (the BLAS's; "dgemm" for Double).
  public let inputProjection: String
  /// Whether the fused step streams `W_hh` as bfloat16 (``WeightPrecision/bfloat16``, half the
  /// bytes per step): where a worker's step is bound by reading the weights — at most
  /// ``bfloat16MaximumRows`` rows and its `W_hh` larger than ``bfloat16MinimumBytes`` as Float.
  /// Elsewhere the step reads Float panels of the same rounded weights (widening costs more
  /// than it saves when the FMAs, not the bytes, bound the step), with the same result.
  public var streamsBFloat16: Bool { streamedWeights == .bfloat16 }
  /// The precision of the `W_hh` panels the fused step streams: `.float`, `.bfloat16` (see
  /// ``streamsBFloat16``) or `.int8` (``WeightPrecision/int8`` wherever the fused step runs:
  /// the int8 step does more multiply-adds per instruction than the Float one at every batch).
  public let streamedWeights: WeightPrecision
  /// The facts behind the decisions, kept so that ``reasons`` can be written on demand (a
  /// forward never builds strings).
  let facts: Facts

  struct Facts: Sendable {
    /// Why the input is copied: the offending axis and its stride, or nil.
    var inputCopy: (axis: String, stride: Int)?
    var recurrentWork: Int
    var recurrentBytes: Int
    var hasLengths: Bool
    var precision: WeightPrecision
    /// The int8 step's instruction set, when int8 weights stream.
    var int8Kernel: String?
    var hiddenSize: Int
    var fusedLimit: Int
    /// The budget asked for, before the clamp to the cores.
    var requestedThreads: Int
    /// Bytes per scalar: 8 for Double, whose projection has its own calibration.
    var scalarSize: Int
    /// The per-step work from which the hidden split pays, and whether it was measured on
    /// this machine (``SplitCalibration``) rather than the constant.
    var hiddenSplitMinimumWork: Int
    var splitCalibrated: Bool
  }

  /// Sequences smaller than this per worker are not worth a thread.
  static let minimumRowsPerWorker = 4
  /// `W_hh` sizes up to which slicing the batch beats splitting the units: each worker then
  /// streams all of `W_hh` per step, which costs little while it sits in a core's L2.
  static let batchSplitWeightBytes = 256 << 10
  /// Units below which splitting them is not worth a barrier per step.
  static let hiddenSplitMinimum = 64
  /// Steps below which the hidden split's per-call cost is more than it saves: streaming one
  /// step per call at H 256 took 56 µs per call split against 34 µs unsplit
  /// (tensorlstm-bench --chunk 1, Zen 4).
  static let hiddenSplitMinimumSteps = 16
  /// Recurrent multiply-adds per step (B·G·H·Hout) below which a step is too short to pay for
  /// its barrier, where ``SplitCalibration`` has not measured this machine (no vector kernels,
  /// or the split is forced). With spinning helpers, 2 threads vs 1, Zen 4: B 1, H 48 (9 K) 0.022 vs
  /// 0.022 ms; B 1, H 96 (37 K) 0.072 vs 0.10; B 2, H 96 (74 K) 0.098 vs 0.12; B 1, H 256,
  /// T 1000 (262 K) 6.5–7.7 vs 13.9–14.8. (B 1, H 200, T 40 lost: 0.44–0.54 vs 0.31–0.37.)
  static let hiddenSplitMinimumWork = 32_000
  /// Multiply-adds per call (T·B·G·H·(I + Hout)) below which slicing the batch does not pay:
  /// B 12, H 48 (6.6 M) 0.104 vs 0.172 ms; the article (15.7 M) 0.19 vs 0.35.
  static let batchSplitMinimumWork = 2_000_000
  /// Rows per worker up to which the step streams bfloat16 weights. AVX-512, T 1000, I 64
  /// (tensorlstm-bench --precision bf16, Xeon family 6 model 207): B 1, H 512 185.7 → 69.1 ms,
  /// H 1024 778 → 437; B 16, H 256 93.6 → 113.7 (widening each weight costs two vector
  /// instructions against B FMAs).
  static let bfloat16MaximumRows = 2
  /// A worker's Float `W_hh` bytes above which the step streams bfloat16: B 1, H 256 (1 MiB,
  /// in L2 either way) ran 12.4 ms as Float, 13.2 as bfloat16.
  static let bfloat16MinimumBytes = 1 << 20
  /// The budget the gate chunk and the gathered input rows share.
  static let chunkBytes = 4 << 20

  init(
    geometry g: RecurrentGeometry, steps: Int, batch: Int, hasLengths: Bool, threads: Int,
    input: TensorLayout, timeAxis: Int, batchAxis: Int, scalarSize: Int, isa: VectorISA?,
    packedProjection: Bool = false, precision: WeightPrecision = .float,
    int8Kernel: Int8Kernel? = nil, int8Projection: Int8Kernel? = nil, forcedSplit: Split? = nil
  ) {
    let fusedKernels = isa != nil
    gateCount = g.gateCount
    cell = g.cell.description
    let requestedThreads = threads
    let threads = Swift.min(threads, BLAS.cores)
    (self.steps, self.batch, self.threads) = (steps, batch, threads)

    // Input: read through its strides unless an axis runs backwards or repeats (stride ≤ 0),
    // or features are not adjacent; then one copy.
    let strides = input.strides
    let featureStride = strides[strides.count - 1]
    var inputCopy: (axis: String, stride: Int)? = nil
    for (axis, name) in [(timeAxis, "time"), (batchAxis, "batch")]
    where axis >= 0 && input.shape[axis] > 1 && strides[axis] <= 0 && inputCopy == nil {
      inputCopy = (name, strides[axis])
    }
    if inputCopy == nil && featureStride != 1 && g.inputSize > 1 {
      inputCopy = ("feature", featureStride)
    }
    copiesInput = inputCopy != nil

    let recurrentWork = batch * g.gateWidth * g.outputHiddenSize
    let recurrentBytes = g.gateWidth * g.outputHiddenSize * scalarSize
    // What each split needs to be possible at all, then whether it pays.
    let unitsPossible =
      threads >= 2 && !hasLengths && !g.projected && g.hiddenSize >= Self.hiddenSplitMinimum
      && g.cell.hasFusedStep  // the reset-before GRU's n needs all of r ⊙ h: a second barrier
    let slicesPossible = Swift.max(1, Swift.min(threads, batch / Self.minimumRowsPerWorker))
    let callWork = steps * batch * g.gateWidth * (g.inputSize + g.outputHiddenSize)
    // Measured on this machine when the choice is the plan's own (a forced split needs none).
    let calibration =
      forcedSplit == nil && unitsPossible && fusedKernels ? SplitCalibration.current : nil
    let splitMinimumWork =
      calibration?.minimumWork(steps: steps) ?? Self.hiddenSplitMinimumWork
    let unitsPay = steps >= Self.hiddenSplitMinimumSteps && recurrentWork >= splitMinimumWork
    let slices = callWork < Self.batchSplitMinimumWork ? 1 : slicesPossible
    let chosen: Split
    switch forcedSplit {
    case .hiddenUnits? where unitsPossible: chosen = .hiddenUnits
    case .batchSlices? where slicesPossible > 1: chosen = .batchSlices
    case Split.none? where threads >= 2: chosen = .none
    default:
      if unitsPossible && unitsPay && (slices == 1 || recurrentBytes > Self.batchSplitWeightBytes) {
        chosen = .hiddenUnits  // each core streams its half of W_hh, half the work per step
      } else {
        chosen = slices > 1 ? .batchSlices : .none
      }
    }
    split = chosen
    switch chosen {
    case .hiddenUnits: (workers, rowsPerWorker) = (2, batch)
    case .batchSlices:
      workers = slicesPossible
      rowsPerWorker = (batch + slicesPossible - 1) / slicesPossible
    case .none: (workers, rowsPerWorker) = (1, batch)
    }

    // First-layer input rows of a chunk in time-major order: one strided run when the input is
    // time-major and the batch is not sliced (or holds one sequence); otherwise gathered.
    let timeStride = copiesInput ? batch * g.inputSize : strides[timeAxis]
    let batchStride = copiesInput ? g.inputSize : (batchAxis >= 0 ? strides[batchAxis] : 0)
    gathersInput =
      rowsPerWorker > 1 && (split == .batchSlices || timeStride != batch * batchStride)
    let rowBytes =
      rowsPerWorker * (g.gateRowStride + (gathersInput ? g.inputSize : 0)) * scalarSize
    chunk = Swift.max(1, Swift.min(steps, Self.chunkBytes / Swift.max(1, rowBytes)))

    let fusedLimit = FusedStep.maximumBatch(isa)
    let kernel: StepKernel
    if !g.cell.hasFusedStep {
      kernel = .resetBeforeGEMMs
    } else if fusedKernels && !hasLengths && rowsPerWorker <= fusedLimit {
      kernel = .fused
    } else {
      kernel = fusedKernels ? .gemmThenVectorGates : .portable
    }
    stepKernels = Array(repeating: kernel, count: g.layers)
    let workerWeightBytes = recurrentBytes / (chosen == .hiddenUnits ? 2 : 1)
    if precision == .bfloat16 && kernel == .fused && rowsPerWorker <= Self.bfloat16MaximumRows
      && workerWeightBytes > Self.bfloat16MinimumBytes
    {
      streamedWeights = .bfloat16
    } else if precision == .int8 && kernel == .fused && int8Kernel != nil {
      streamedWeights = .int8
    } else {
      streamedWeights = .float
    }
    instructionSet = isa?.description ?? "portable"
    // The hidden split projects each worker's units gate by gate: their columns of the packed
    // W_ihᵀ where they are whole panels, else through BLAS.gemm, which packs per call where
    // calibrated.
    let packedPanel = (isa?.width ?? 0) * 8 / scalarSize
    let workerColumnsPacked =
      packedPanel > 0 && g.hiddenSize % packedPanel == 0
      && DirectionPass<Float>.hiddenSplitUnits(g.hiddenSize, panel: isa?.width ?? 8).0.upperBound
        % packedPanel == 0
    if let int8Projection {
      // The int8 kernels' panels are the hidden split's (16 units on AVX-512, 8 on AVX2), so a
      // worker's columns always start on one.
      inputProjection =
        "int8 \(int8Projection.description)\(split == .hiddenUnits ? ", each worker's columns" : "")"
    } else if let isa, packedProjection, split != .hiddenUnits {
      inputProjection = "packed \(isa.description)"
    } else if let isa, packedProjection, workerColumnsPacked {
      inputProjection = "packed \(isa.description), each worker's columns"
    } else if split == .hiddenUnits, isa != nil, scalarSize == MemoryLayout<Float>.stride,
      let perCall = PackedGEMM.isa(rows: rowsPerWorker * chunk, columns: g.hiddenSize / 2)
    {
      inputProjection = "packed \(perCall.description) per call"
    } else {
      inputProjection = scalarSize == MemoryLayout<Double>.stride ? "dgemm" : "sgemm"
    }
    facts = Facts(
      inputCopy: inputCopy, recurrentWork: recurrentWork, recurrentBytes: recurrentBytes,
      hasLengths: hasLengths, precision: precision, int8Kernel: int8Kernel?.description,
      hiddenSize: g.hiddenSize, fusedLimit: fusedLimit, requestedThreads: requestedThreads,
      scalarSize: scalarSize, hiddenSplitMinimumWork: splitMinimumWork,
      splitCalibrated: calibration != nil)
  }

  /// Why: one line per decision.
  public var reasons: [String] {
    var reasons: [String] = []
    if let warning = BLAS.narrowKernelWarning { reasons.append("blas: " + warning) }
    if facts.requestedThreads > threads {
      reasons.append(
        "threads: \(facts.requestedThreads) asked, \(threads) used (the cores this process may run on)"
      )
    }
    if let (axis, stride) = facts.inputCopy {
      reasons.append("input: copied once (its \(axis) axis has stride \(stride))")
    }
    let splitThreshold =
      "\(facts.hiddenSplitMinimumWork)\(facts.splitCalibrated ? " (SplitCalibration)" : "")"
    switch split {
    case .hiddenUnits:
      reasons.append(
        "split: hidden units (gate columns) across 2 workers, one barrier per step: each streams its part of W_hh (H \(facts.hiddenSize) ≥ \(Self.hiddenSplitMinimum), T ≥ \(Self.hiddenSplitMinimumSteps), W_hh \(facts.recurrentBytes >> 10) KiB, B·G·H·Hout = \(facts.recurrentWork) ≥ \(splitThreshold))"
      )
    case .batchSlices:
      reasons.append(
        "split: batch slices of \(rowsPerWorker) across \(workers) workers, no barrier (W_hh \(facts.recurrentBytes >> 10) KiB ≤ \(Self.batchSplitWeightBytes >> 10), or lengths/projection)"
      )
    case .none where threads == 1:
      reasons.append("split: none (1 thread)")
    case .none:
      reasons.append(
        "split: none (too little work per call or per step for a second worker: B·G·H·Hout = \(facts.recurrentWork) < \(splitThreshold), or lengths, a projection, H < \(Self.hiddenSplitMinimum), T < \(Self.hiddenSplitMinimumSteps))"
      )
    }
    reasons.append(
      "chunk: \(chunk) of \(steps) steps per input GEMM; input rows \(gathersInput ? "gathered per chunk" : "read in place")"
    )
    let calibration =
      (facts.scalarSize == MemoryLayout<Double>.stride
      ? GEMMCalibration.current(for: Double.self) : GEMMCalibration.current)
      .map { " (\($0.summary))" } ?? ""
    switch inputProjection {
    case let name where name.hasPrefix("int8"):
      reasons.append(
        "projection: \(name), W_ih quantized per gate row and packed once, x quantized per row, bias added as rows are stored"
      )
    case "sgemm": reasons.append("projection: sgemm (OpenBLAS \(BLAS.coreName))\(calibration)")
    case "dgemm": reasons.append("projection: dgemm (OpenBLAS \(BLAS.coreName))\(calibration)")
    case let name where name.hasSuffix("each worker's columns"):
      reasons.append(
        "projection: \(name) of W_ihᵀ, packed once, bias added as tiles are stored\(calibration)"
      )
    case let name where name.hasSuffix("per call"):
      reasons.append(
        "projection: \(name), each worker's units gate by gate (W_ihᵀ packed as it is read)\(calibration)"
      )
    default:
      reasons.append(
        "projection: \(inputProjection) GEMM, W_ihᵀ packed once, bias added as tiles are stored\(calibration)"
      )
    }
    if facts.precision == .int8 {
      reasons.append(
        streamedWeights == .int8
          ? "weights: int8 (a scale per gate row), W_hh streamed at a quarter of the bytes (\(facts.recurrentBytes >> 10) KiB as Float) on \(facts.int8Kernel ?? "?"), h(t−1) quantized per row and step"
          : "weights: int8 values dequantized in Float, h(t−1) in Float (no fused step here: \(facts.hasLengths ? "lengths" : "\(rowsPerWorker) rows per worker > \(facts.fusedLimit), or portable kernels"))"
      )
    } else if facts.precision == .bfloat16 {
      reasons.append(
        streamsBFloat16
          ? "weights: bfloat16, W_hh streamed at half the bytes (\(facts.recurrentBytes >> 10) KiB as Float, \(rowsPerWorker) row\(rowsPerWorker == 1 ? "" : "s") per worker)"
          : "weights: bfloat16 values in Float panels (the step is bound by its FMAs here: \(rowsPerWorker) rows per worker > \(Self.bfloat16MaximumRows), or W_hh ≤ \(Self.bfloat16MinimumBytes >> 10) KiB per worker, or no fused step)"
      )
    }
    if stepKernels.first == .resetBeforeGEMMs {
      reasons.append(
        "step: a GEMM into r and z, then one of r ⊙ h into n (the reset-before GRU needs all of r first; no fused step)"
      )
    }
    if stepKernels.first == .gemmThenVectorGates {
      reasons.append(
        "step: GEMM then vector gates (\(facts.hasLengths ? "lengths" : "\(rowsPerWorker) rows > \(facts.fusedLimit)"))"
      )
    }
    return reasons
  }

  /// A summary, one decision a line.
  public var description: String {
    let layers = stepKernels.enumerated().map { "layer \($0.offset): \($0.element.rawValue)" }
    return
      ([
        "ForwardPlan: \(cell), \(gateCount) gates, T \(steps), B \(batch), \(threads) thread\(threads == 1 ? "" : "s")"
      ]
      + reasons.map { "  " + $0 }
      + ["  " + layers.joined(separator: ", ") + " (\(instructionSet))"]).joined(separator: "\n")
  }
}
