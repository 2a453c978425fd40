// The one file that imports CRecurrentKernels, TensorLSTM's vector step kernels. As with the
// BLAS boundary, no C type leaves it; the kernels take Float (and the step, gate pass and gate
// gradient Double too), and every entry point here checks `Scalar` before rebinding.
internal import CRecurrentKernels

/// Which kernels a recurrent layer's time loop runs on.
///
///     var lstm = LSTM<Float>(inputSize: 128, hiddenSize: 64)
///     lstm.kernels = .portable                   // e.g. to compare against the fused path
///     RecurrentKernels.supported     // [.avx512VNNI, .avx512, .avx2, .portable] on Zen 4
///
/// The fused kernels (`Float` and `Double`) accumulate `h(t−1) · W_hhᵀ` for a panel of units × the
/// cell's gates in registers, from a copy of `W_hh` packed for the chosen instruction set when the weights
/// or the kernels are set, and update `c` and `h` from those registers. Where the per-step GEMM
/// stays (many sequences per worker, or `lengths`), the vector gate pass runs after it.
public enum RecurrentKernels: Sendable, Hashable, CaseIterable {
  /// The widest fused kernels this CPU runs (AVX-512, else AVX2+FMA; VNNI for int8 weights
  /// where the CPU has it), else `.portable`. `Double` runs the same steps on half the lanes,
  /// with the precise Double activations.
  case automatic
  /// The AVX-512 kernels with VNNI's int8 dot products (`vpdpbusd`) for
  /// ``WeightPrecision/int8`` weights; for Float and bfloat16 weights the same as `.avx512`.
  case avx512VNNI
  /// The AVX-512F kernels: 16 lanes, register tiles of up to 6 rows (int8 weights: AVX-512BW's
  /// `vpmaddwd`).
  case avx512
  /// The AVX2+FMA kernels: 8 lanes, register tiles of up to 2 rows (int8 weights: `vpmaddwd`).
  case avx2
  /// A BLAS GEMM per step and the Swift gate pass, compiled for the baseline CPU.
  case portable

  /// The choices this CPU runs, widest first; always ends with `.portable`.
  public static var supported: [RecurrentKernels] {
    (Int8Kernel.available.contains(.vnni) ? [.avx512VNNI] : [])
      + (VectorISA.available.contains(.avx512) ? [.avx512] : [])
      + (VectorISA.available.contains(.avx2) ? [.avx2] : []) + [.portable]
  }

  /// Whether this CPU runs any fused kernels (`.automatic` uses them for `Float`).
  public static var isFusedSupported: Bool { !VectorISA.available.isEmpty }

  /// The instruction set this choice runs on this CPU, or nil for the portable path.
  ///
  /// - Precondition: a forced `.avx512` or `.avx2` is in ``supported``.
  var vectorISA: VectorISA? {
    switch self {
    case .automatic: return VectorISA.available.last
    case .portable: return nil
    case .avx512VNNI, .avx512, .avx2:
      require(
        Self.supported.contains(self),
        "RecurrentKernels.\(self): this CPU does not run it; use .automatic or one of RecurrentKernels.supported (\(RecurrentKernels.supported))"
      )
      return self == .avx2 ? .avx2 : .avx512
    }
  }

  /// The int8 step this choice runs on this CPU, or nil for the portable path.
  var int8Kernel: Int8Kernel? {
    let available = Int8Kernel.available
    switch self {
    case .portable: return nil
    case .automatic: return available.first
    case .avx512VNNI: return vectorISA.map { _ in .vnni }
    case .avx512: return vectorISA.map { _ in available.contains(.avx512bw) ? .avx512bw : .avx2 }
    case .avx2: return vectorISA.map { _ in .avx2 }
    }
  }
}

/// One of the int8 steps (``WeightPrecision/int8``), widest first.
enum Int8Kernel: Sendable, Hashable, CustomStringConvertible {
  /// AVX-512 VNNI: `vpdpbusd`, four inputs per lane, h(t−1) stored as q + 128.
  case vnni
  /// AVX-512BW: int8 weights widened to int16 pairs, `vpmaddwd`.
  case avx512bw
  /// AVX2: the same on 8 lanes.
  case avx2

  /// Those this CPU runs, widest first.
  static let available: [Int8Kernel] = {
    let flags = Int(tlstm_cpu_isa())
    return [
      (Int(TLSTM_ISA_AVX512_VNNI), Int8Kernel.vnni), (Int(TLSTM_ISA_AVX512BW), .avx512bw),
      (Int(TLSTM_ISA_AVX2), .avx2),
    ].filter { flags & $0.0 != 0 }.map(\.1)
  }()

  /// Units per packed panel.
  var width: Int { self == .avx2 ? 8 : 16 }
  /// Consecutive inputs per 32-bit lane of one product.
  var group: Int { self == .vnni ? 4 : 2 }

  var description: String {
    switch self {
    case .vnni: return "AVX-512 VNNI"
    case .avx512bw: return "AVX-512BW"
    case .avx2: return "AVX2"
    }
  }
}

/// An x86 vector instruction set with fused kernels.
enum VectorISA: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
  case avx2 = 1
  case avx512 = 2

  /// Those this CPU runs, narrowest first.
  static let available: [VectorISA] = {
    let flags = Int(tlstm_cpu_isa())
    return [.avx2, .avx512].filter { flags & $0.rawValue != 0 }
  }()

  /// Units per packed panel: the vector's Float lanes.
  var width: Int { self == .avx512 ? 16 : 8 }

  /// Units per packed panel of `Scalar` weights: the vector's lanes of that type.
  func width<Scalar>(of _: Scalar.Type) -> Int { width * 4 / MemoryLayout<Scalar>.size }

  var description: String { self == .avx512 ? "AVX-512F" : "AVX2+FMA" }

  static func < (a: VectorISA, b: VectorISA) -> Bool { a.rawValue < b.rawValue }
}

/// The weights a fused step streams: Float panels, bfloat16 panels, or int8 panels for one int8
/// kernel.
enum StepWeights: Sendable, Hashable {
  case float
  case bfloat16
  case int8(Int8Kernel)

  /// The int8 kernel of `.int8`, else nil.
  var int8Kernel: Int8Kernel? {
    if case .int8(let kernel) = self { return kernel }
    return nil
  }
}

/// A weight matrix `[rows, columns]` quantized to int8, one symmetric scale per row.
struct Int8Weights: Sendable {
  var values: [Int8]
  var scales: [Float]
  var rows: Int
  var columns: Int
}

/// Thin, checked wrappers over the C kernels.
enum FusedStep {
  /// Rows per worker up to which the fused step beats OpenBLAS's GEMM plus the vector gate
  /// pass; above it OpenBLAS's larger register tiles win. Measured per step, 1 thread, best of
  /// 7 (tools/kernel_bench.sh). AVX2 (2-row tiles) on Zen 3: B 8, H 512: 269 vs 492 µs;
  /// B 32, H 64: 17.8 vs 21.5 µs; B 32, H 512: 947 vs 1024 µs; B 64, H 512: 2719 vs 2357 µs.
  /// AVX-512 (6-row tiles, one pass over K) on Zen 4 (EPYC, family 25 model 17) wins at every
  /// batch measured: B 64, H 512: 1234 vs 1561 µs; B 96, H 768: 4348 vs 5437; B 128, H 256:
  /// 642 vs 737; B 96, H 96: 76 vs 88.
  static func maximumBatch(_ isa: VectorISA?) -> Int { isa == .avx512 ? 256 : 32 }

  /// `weight_hh` `[G·H, K]` packed for `cell`'s fused step on `isa`, or nil when no fused
  /// kernel can run it (neither Float nor Double, no instruction set, or a cell without one).
  /// Copies; G·H·K scalars (units rounded up to a panel).
  ///
  /// At `.bfloat16` the panels hold bfloat16 bits (two per Float of the returned storage, which
  /// only the bfloat16 step reads).
  static func packedRecurrent<Scalar: BLASScalar>(
    _ weightHH: Tensor<Scalar>, cell: RecurrentCell, isa: VectorISA?,
    precision: WeightPrecision = .float
  ) -> Tensor<Scalar>? {
    guard Scalar.self == Float.self || Scalar.self == Double.self, cell.hasFusedStep, let isa
    else { return nil }
    require(precision != .int8, "FusedStep.packedRecurrent: int8 panels come from packedInt8")
    let gates = cell.gateCount
    let (units, k) = (weightHH.shape[0] / gates, weightHH.shape[1])
    if Scalar.self == Double.self {
      require(precision == .float, "FusedStep.packedRecurrent: Double weights pack as Double")
      let width = isa.width(of: Double.self)
      var packed = Tensor<Scalar>.zeros(shape: [tlstm_packed_count(gates, units, k, width)])
      weightHH.withBase { w in
        packed.withMutableBase { p in
          tlstm_pack_recurrent_f64(double(w), gates, units, units, k, width, double(p))
        }
      }
      return packed
    }
    let count = tlstm_packed_count(gates, units, k, isa.width)
    var packed = Tensor<Scalar>.zeros(shape: [precision == .float ? count : (count + 1) / 2])
    weightHH.withBase { w in
      packed.withMutableBase { p in
        if precision == .float {
          tlstm_pack_recurrent(float(w), gates, units, units, k, isa.width, float(p))
        } else {
          tlstm_pack_recurrent_bf16(
            float(w), gates, units, units, k, isa.width,
            UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt16.self))
        }
      }
    }
    return packed
  }

  /// `W_hh` quantized by ``int8Quantized(_:)`` packed for `kernel`'s int8 step (bytes in the
  /// returned storage, which only that step reads), or nil when no fused step runs `cell`.
  static func packedInt8<Scalar: BLASScalar>(
    _ quantized: Int8Weights, cell: RecurrentCell, kernel: Int8Kernel?
  ) -> Tensor<Scalar>? {
    guard Scalar.self == Float.self, cell.hasFusedStep, let kernel else { return nil }
    return packedInt8(
      quantized, gates: 0..<cell.gateCount, units: quantized.rows / cell.gateCount,
      kernel: kernel)
  }

  /// Gates `gates` (each `units` rows) of a weight quantized by ``int8Quantized(_:)`` packed
  /// for `kernel` (`tlstm_pack_recurrent_int8`: the int8 step's `W_hh`, or a run of input gates
  /// of `W_ih` for ``projectInt8``). Bytes in the returned storage, which only the int8
  /// kernels read.
  static func packedInt8<Scalar: BLASScalar>(
    _ quantized: Int8Weights, gates: Range<Int>, units: Int, kernel: Int8Kernel
  ) -> Tensor<Scalar> {
    let k = quantized.columns
    let bytes = tlstm_packed_int8_bytes(gates.count, units, k, kernel.width)
    var packed = Tensor<Scalar>.zeros(shape: [(bytes + 3) / 4])
    quantized.values.withUnsafeBufferPointer { q in
      quantized.scales.withUnsafeBufferPointer { scales in
        packed.withMutableBase { p in
          tlstm_pack_recurrent_int8(
            q.baseAddress! + gates.lowerBound * units * k,
            scales.baseAddress! + gates.lowerBound * units, gates.count, units, units, k,
            kernel.width, kernel.group, UnsafeMutableRawPointer(p))
        }
      }
    }
    return packed
  }

  /// The int8 input projection (`tlstm_project_int8_*`): for each row of `x` (`[rows, k]`,
  /// unit column stride), quantized per row as the int8 step quantizes h(t−1), and each of
  /// `gates` gates, `units` columns from `firstUnit` (a multiple of `kernel.width`) of
  /// `packed` (``packedInt8(_:gates:units:kernel:)``) ← bias + x · W_ihᵀ, into `out` with rows
  /// `rowStride` and gates `block` apart; `bias` (gates `biasBlock` apart) may be nil.
  static func projectInt8<Scalar: BLASScalar>(
    kernel: Int8Kernel, packed: UnsafePointer<Scalar>, gates: Int, firstUnit: Int, units: Int,
    _ x: StridedMatrix<Scalar>, bias: UnsafePointer<Scalar>?, biasBlock: Int,
    into out: UnsafeMutablePointer<Scalar>, rowStride: Int, block: Int
  ) {
    require(
      Scalar.self == Float.self && x.columnStride == 1 && firstUnit % kernel.width == 0
        && (1...4).contains(gates),
      "FusedStep.projectInt8: Float rows with unit column stride, 1-4 gates and a first unit that is a multiple of \(kernel.width); got \(Scalar.self), column stride \(x.columnStride), \(gates) gates, unit \(firstUnit)"
    )
    let k = x.columns
    let panels =
      UnsafeRawPointer(packed) + tlstm_packed_int8_bytes(gates, firstUnit, k, kernel.width)
    let run:
      @convention(c) (
        UnsafeRawPointer?, Int, Int, Int, UnsafePointer<Float>?, Int, Int, UnsafePointer<Float>?,
        Int, UnsafeMutablePointer<Float>?, Int, Int
      ) -> Void
    switch kernel {
    case .vnni: run = tlstm_project_int8_vnni
    case .avx512bw: run = tlstm_project_int8_avx512bw
    case .avx2: run = tlstm_project_int8_avx2
    }
    run(
      panels, gates, units, k, float(x.base), x.rowStride, x.rows, bias.map { float($0) },
      biasBlock, float(out), rowStride, block)
  }

  /// The first of the panels of units `first…` in a packed `W_hh` of `cell` with inner size
  /// `k`, for a worker that owns them (`first` a multiple of the panel width).
  static func panels<Scalar>(
    _ packed: UnsafePointer<Scalar>, cell: RecurrentCell, first: Int, k: Int, isa: VectorISA,
    weights: StepWeights = .float
  ) -> UnsafePointer<Scalar> {
    let width = weights.int8Kernel?.width ?? isa.width(of: Scalar.self)
    require(
      first % width == 0, "FusedStep.panels: first unit \(first) must be a multiple of \(width)")
    let bytes: Int
    switch weights {
    case .float:
      bytes = tlstm_packed_count(cell.gateCount, first, k, width) * MemoryLayout<Scalar>.size
    case .bfloat16: bytes = tlstm_packed_count(cell.gateCount, first, k, width) * 2
    case .int8: bytes = tlstm_packed_int8_bytes(cell.gateCount, first, k, width)
    }
    return (UnsafeRawPointer(packed) + bytes).assumingMemoryBound(to: Scalar.self)
  }

  /// `weights` `[rows, k]` quantized to int8 with one symmetric scale per row:
  /// `scale = max|w| / 127`, `q = w / scale` rounded to nearest even (0 and a zero scale for a
  /// zero row), and the dequantized `q · scale` the paths that read Float weights compute with.
  ///
  /// - Precondition: `Scalar` is `Float`.
  static func int8Quantized<Scalar: BLASScalar>(
    _ weights: Tensor<Scalar>
  ) -> (Int8Weights, dequantized: Tensor<Scalar>) {
    require(
      Scalar.self == Float.self,
      "weightPrecision .int8 quantizes Float weights; this layer's are \(Scalar.self)")
    let (rows, k) = (weights.shape[0], weights.count / Swift.max(1, weights.shape[0]))
    var result = Int8Weights(
      values: [Int8](repeating: 0, count: rows * k), scales: [Float](repeating: 0, count: rows),
      rows: rows, columns: k)
    var dequantized = weights.contiguous()
    dequantized.withMutableBase { p in
      let w = float(p)
      for r in 0..<rows {
        var top: Float = 0
        for j in 0..<k { top = Swift.max(top, abs(w[r * k + j])) }
        let scale = top / 127
        result.scales[r] = scale
        for j in 0..<k {
          let q =
            top > 0
            ? Swift.min(127, Swift.max(-127, (w[r * k + j] / scale).rounded(.toNearestOrEven))) : 0
          result.values[r * k + j] = Int8(q)
          w[r * k + j] = q * scale
        }
      }
    }
    return (result, dequantized)
  }

  /// `weights` with every element rounded to bfloat16 (and back to Float): what the bfloat16
  /// kernels compute with, for the paths that read Float weights.
  ///
  /// - Precondition: `Scalar` is `Float`.
  static func bfloat16Rounded<Scalar: BLASScalar>(_ weights: Tensor<Scalar>) -> Tensor<Scalar> {
    require(
      Scalar.self == Float.self,
      "weightPrecision .bfloat16 rounds Float weights; this layer's are \(Scalar.self)")
    var rounded = weights.contiguous()
    rounded.withMutableBase { p in
      let values = float(p)
      for i in 0..<weights.count {
        values[i] = Float(bitPattern: UInt32(tlstm_bfloat16(values[i])) << 16)
      }
    }
    return rounded
  }

  /// One fused step of `cell` for `batch` rows; see `tlstm_recurrent_step_*` in
  /// recurrent_kernels.h. `hOld` (stride `hPreviousStride`) is h(t−1) at these units, read by
  /// the GRU. `gates` is scratch afterwards, or with `trace` holds the LSTM's σ(i), σ(f),
  /// tanh(g), σ(o), or the reset-after GRU's r, z, n and W_hn·h + b_hn, in its four slots.
  static func step<Scalar: BLASScalar>(
    cell: RecurrentCell, isa: VectorISA, packed: UnsafePointer<Scalar>, units: Int, k: Int,
    hPrevious: UnsafePointer<Scalar>, hPreviousStride: Int, hOld: UnsafePointer<Scalar>,
    gates: UnsafeMutablePointer<Scalar>, gateStride: Int, gateBlock: Int,
    cell cellState: UnsafeMutablePointer<Scalar>, cellStride: Int,
    hidden h: UnsafeMutablePointer<Scalar>, hiddenStride: Int, batch: Int, trace: Bool = false,
    weights: StepWeights = .float
  ) {
    require(
      !trace || cell == .lstm || cell == .gru(resetAfter: true),
      "FusedStep.step: only the LSTM and reset-after GRU steps keep a trace")
    require(!trace || weights == .float, "FusedStep.step: a trace needs Float weights")
    let code =
      trace
      ? Int32(cell == .lstm ? TLSTM_CELL_LSTM_TRACE : TLSTM_CELL_GRU_TRACE) : code(cell)
    if Scalar.self == Double.self {
      require(weights == .float, "FusedStep.step: Double weights stream as Double")
      let kernel = isa == .avx512 ? tlstm_recurrent_step_avx512_f64 : tlstm_recurrent_step_avx2_f64
      kernel(
        code, double(packed), units, k, double(hPrevious), hPreviousStride, double(hOld),
        double(gates), gateStride, gateBlock, double(cellState), cellStride, double(h),
        hiddenStride, batch)
      return
    }
    switch weights {
    case .float:
      let kernel = isa == .avx512 ? tlstm_recurrent_step_avx512 : tlstm_recurrent_step_avx2
      kernel(
        code, float(packed), units, k, float(hPrevious), hPreviousStride, float(hOld),
        float(gates), gateStride, gateBlock, float(cellState), cellStride, float(h),
        hiddenStride, batch)
    case .bfloat16:
      let kernel =
        isa == .avx512 ? tlstm_recurrent_step_bf16_avx512 : tlstm_recurrent_step_bf16_avx2
      kernel(
        code, UnsafeRawPointer(float(packed)).assumingMemoryBound(to: UInt16.self), units, k,
        float(hPrevious), hPreviousStride, float(hOld), float(gates), gateStride, gateBlock,
        float(cellState), cellStride, float(h), hiddenStride, batch)
    case .int8(let variant):
      let kernel:
        @convention(c) (
          Int32, UnsafeRawPointer?, Int, Int, UnsafePointer<Float>?, Int, UnsafePointer<Float>?,
          UnsafeMutablePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int,
          UnsafeMutablePointer<Float>?, Int, Int
        ) -> Void
      switch variant {
      case .vnni: kernel = tlstm_recurrent_step_int8_vnni
      case .avx512bw: kernel = tlstm_recurrent_step_int8_avx512bw
      case .avx2: kernel = tlstm_recurrent_step_int8_avx2
      }
      kernel(
        code, UnsafeRawPointer(packed), units, k, float(hPrevious), hPreviousStride, float(hOld),
        float(gates), gateStride, gateBlock, float(cellState), cellStride, float(h),
        hiddenStride, batch)
    }
  }

  /// The vector cell update for one row whose gate slots are `count` apart; see
  /// `LSTMGatePass`, `GRUGatePass` and `RNNGatePass` for the Swift ones.
  static func gates<Scalar: BLASScalar>(
    cell: RecurrentCell, isa: VectorISA, _ gates: UnsafePointer<Scalar>,
    cell cellState: UnsafeMutablePointer<Scalar>, hOld: UnsafePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    if Scalar.self == Double.self {
      let kernel = isa == .avx512 ? tlstm_gates_avx512_f64 : tlstm_gates_avx2_f64
      kernel(code(cell), double(gates), double(cellState), double(hOld), double(h), count)
      return
    }
    let kernel = isa == .avx512 ? tlstm_gates_avx512 : tlstm_gates_avx2
    kernel(code(cell), float(gates), float(cellState), float(hOld), float(h), count)
  }

  /// The LSTM cell's backward for one row; see `tlstm_lstm_gate_gradient_*` and
  /// `LSTMGateGradient` (the Swift one).
  static func lstmGateGradient<Scalar: BLASScalar>(
    isa: VectorISA, gates: UnsafePointer<Scalar>, cell: UnsafePointer<Scalar>,
    cellPrevious: UnsafePointer<Scalar>, dh: UnsafePointer<Scalar>,
    carryC: UnsafeMutablePointer<Scalar>, dG: UnsafeMutablePointer<Scalar>,
    fullHidden: UnsafeMutablePointer<Scalar>?, count: Int, slot: Int
  ) {
    if Scalar.self == Double.self {
      let kernel =
        isa == .avx512 ? tlstm_lstm_gate_gradient_avx512_f64 : tlstm_lstm_gate_gradient_avx2_f64
      kernel(
        double(gates), double(cell), double(cellPrevious), double(dh), double(carryC), double(dG),
        fullHidden.map { double($0) }, count, slot)
      return
    }
    let kernel =
      isa == .avx512 ? tlstm_lstm_gate_gradient_avx512 : tlstm_lstm_gate_gradient_avx2
    kernel(
      float(gates), float(cell), float(cellPrevious), float(dh), float(carryC), float(dG),
      fullHidden.map { float($0) }, count, slot)
  }

  /// The C kernels' cell number.
  private static func code(_ cell: RecurrentCell) -> Int32 {
    switch cell {
    case .lstm: return Int32(TLSTM_CELL_LSTM)
    case .gru(resetAfter: true): return Int32(TLSTM_CELL_GRU)
    case .rnn(.tanh): return Int32(TLSTM_CELL_RNN_TANH)
    case .rnn(.relu): return Int32(TLSTM_CELL_RNN_RELU)
    case .gru(resetAfter: false):
      preconditionFailure("FusedStep: the reset-before GRU has no fused kernel")
    }
  }

  /// `p` as the Float pointer the kernels take, from the engine's generic code.
  ///
  /// - Precondition: `Scalar` is `Float`.
  static func float<Scalar>(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> {
    require(
      Scalar.self == Float.self, "FusedStep: the vector kernels take Float, not \(Scalar.self)")
    return UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
  }

  static func float<Scalar>(
    _ p: UnsafeMutablePointer<Scalar>
  ) -> UnsafeMutablePointer<Float> {
    UnsafeMutablePointer(mutating: float(UnsafePointer(p)))
  }

  /// `p` as the Double pointer the `_f64` kernels take.
  ///
  /// - Precondition: `Scalar` is `Double`.
  static func double<Scalar>(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Double> {
    require(
      Scalar.self == Double.self, "FusedStep: the _f64 kernels take Double, not \(Scalar.self)")
    return UnsafeRawPointer(p).assumingMemoryBound(to: Double.self)
  }

  static func double<Scalar>(
    _ p: UnsafeMutablePointer<Scalar>
  ) -> UnsafeMutablePointer<Double> {
    UnsafeMutablePointer(mutating: double(UnsafePointer(p)))
  }
}

extension FusedStep {
  /// ``skinnyGemm(_:lda:_:ldb:into:ldc:rows:cols:k:isa:)`` from the engine's generic code.
  ///
  /// - Precondition: `Scalar` is `Float`.
  static func skinnyGemm<Scalar>(
    _ a: UnsafePointer<Scalar>, lda: Int, _ bt: UnsafePointer<Scalar>, ldb: Int,
    into c: UnsafeMutablePointer<Scalar>, ldc: Int, rows: Int, cols: Int, k: Int, isa: VectorISA?
  ) {
    skinnyGemm(
      float(a), lda: lda, float(bt), ldb: ldb, into: float(c), ldc: ldc, rows: rows, cols: cols,
      k: k, isa: isa)
  }

  /// `c[m·ldc + n] += Σ_j a[m·lda + j] · bt[n·ldb + j]` for `m < rows`, `n < cols`: a GEMM with
  /// few columns, each row of `a` read once per four columns (no packing), on `isa`'s kernel or,
  /// for nil, in Swift.
  static func skinnyGemm(
    _ a: UnsafePointer<Float>, lda: Int, _ bt: UnsafePointer<Float>, ldb: Int,
    into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, k: Int, isa: VectorISA?
  ) {
    switch isa {
    case .avx512: tlstm_skinny_gemm_avx512(a, lda, bt, ldb, c, ldc, rows, cols, k)
    case .avx2: tlstm_skinny_gemm_avx2(a, lda, bt, ldb, c, ldc, rows, cols, k)
    case nil:
      for m in 0..<rows {
        for n in 0..<cols {
          var sum: Float = 0
          for j in 0..<k { sum += a[m * lda + j] * bt[n * ldb + j] }
          c[m * ldc + n] += sum
        }
      }
    }
  }
}

extension FusedStep {
  /// Scalars a `k × n` operand takes packed for
  /// ``packedGEMM(_:packed:into:ldc:columns:bias:accumulate:isa:)``.
  static func packedOperandCount<Scalar>(
    k: Int, n: Int, isa: VectorISA, _: Scalar.Type
  ) -> Int {
    if Scalar.self == Double.self {
      return isa == .avx512
        ? tlstm_gemm_packed_count_avx512_f64(k, n) : tlstm_gemm_packed_count_avx2_f64(k, n)
    }
    return isa == .avx512
      ? tlstm_gemm_packed_count_avx512(k, n) : tlstm_gemm_packed_count_avx2(k, n)
  }

  /// Packs `b` (`k × n`, read through its strides) into `packed` for `isa`'s packed GEMM.
  ///
  /// - Precondition: `Scalar` is `Float` or `Double`.
  static func packOperand<Scalar>(
    _ b: StridedMatrix<Scalar>, isa: VectorISA, into packed: UnsafeMutablePointer<Scalar>
  ) {
    if Scalar.self == Double.self {
      let pack = isa == .avx512 ? tlstm_gemm_pack_b_avx512_f64 : tlstm_gemm_pack_b_avx2_f64
      pack(double(b.base), b.rowStride, b.columnStride, b.rows, b.columns, double(packed))
      return
    }
    let pack = isa == .avx512 ? tlstm_gemm_pack_b_avx512 : tlstm_gemm_pack_b_avx2
    pack(float(b.base), b.rowStride, b.columnStride, b.rows, b.columns, float(packed))
  }

  /// This thread's buffer for packing an operand per call, at least `count` scalars; allocated
  /// on first use and grown, freed when the thread ends.
  static func operandScratch<Scalar>(
    count: Int, _: Scalar.Type
  ) -> UnsafeMutablePointer<Scalar> {
    let floats = count * MemoryLayout<Scalar>.stride / MemoryLayout<Float>.stride
    guard let scratch = tlstm_gemm_b_scratch(floats) else {
      fatalError("FusedStep: cannot allocate \(floats) floats to pack a GEMM operand")
    }
    return UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: Scalar.self)
  }

  /// `c = [c +] [bias +] a · B` over `columns` columns of a `B` packed by
  /// ``packOperand(_:isa:into:)``, `a` read through its strides; see `tlstm_gemm_packed_*`.
  ///
  /// - Precondition: `Scalar` is `Float` or `Double`.
  static func packedGEMM<Scalar>(
    _ a: StridedMatrix<Scalar>, packed: UnsafePointer<Scalar>,
    into c: UnsafeMutablePointer<Scalar>, ldc: Int, columns: Int, bias: UnsafePointer<Scalar>?,
    accumulate: Bool, isa: VectorISA
  ) {
    if Scalar.self == Double.self {
      let kernel = isa == .avx512 ? tlstm_gemm_packed_avx512_f64 : tlstm_gemm_packed_avx2_f64
      kernel(
        double(a.base), a.rowStride, a.columnStride, double(packed), double(c), ldc, a.rows,
        columns, a.columns, bias.map { double($0) }, accumulate ? 1 : 0)
      return
    }
    let kernel = isa == .avx512 ? tlstm_gemm_packed_avx512 : tlstm_gemm_packed_avx2
    kernel(
      float(a.base), a.rowStride, a.columnStride, float(packed), float(c), ldc, a.rows, columns,
      a.columns, bias.map { float($0) }, accumulate ? 1 : 0)
  }
}
