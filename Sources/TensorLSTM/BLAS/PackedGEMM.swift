import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A GEMM operand `B` (`k × n`) packed once for the library's own GEMM on one instruction
/// set: weights the engine multiplies by every call (an input projection's `W_ihᵀ`).
///
/// Packing copies `k · n` scalars (`n` rounded up to the panel width: 32 Floats or 16 Doubles
/// for AVX-512, half that for AVX2) into panels of columns, each `k` rows deep, which the
/// register tile reads in order.
struct PackedMatrix<Scalar: BLASScalar>: Sendable {
  let storage: Tensor<Scalar>
  let k: Int
  let n: Int
  /// Columns per panel: a product of some columns starts on a multiple of it.
  var panelWidth: Int { 2 * isa.width(of: Scalar.self) }
  let isa: VectorISA

  /// `b` packed for `isa`; O(k·n), one allocation.
  init(_ b: StridedMatrix<Scalar>, isa: VectorISA) {
    (k, n, self.isa) = (b.rows, b.columns, isa)
    var storage = Tensor<Scalar>.zeros(
      shape: [FusedStep.packedOperandCount(k: b.rows, n: b.columns, isa: isa, Scalar.self)])
    storage.withMutableBase { FusedStep.packOperand(b, isa: isa, into: $0) }
    self.storage = storage
  }
}

/// The library's GEMM for Float and Double: `c = [c +] [bias +] a · B` with `B` packed
/// (``PackedMatrix``), register tiles of 12 × 32 Floats or 12 × 16 Doubles (AVX-512), 6 × 16
/// or 6 × 8 (AVX2), over blocks of 144 rows × 256 inner steps.
///
/// It runs where the BLAS's sgemm (or dgemm) is slower on this CPU (``GEMMCalibration``): the
/// input projection of the recurrent layers, with the weights packed once and the bias added
/// as the tile is stored, and (Float) ``BLAS`` products. Its result does not depend on the
/// thread count: threads split the rows (a taller than wide product) or the columns, and every
/// element is summed in the same order.
enum PackedGEMM {
  /// Multiply-adds below which a second thread costs more than it saves.
  static let minimumWorkPerThread = 1 << 21

  /// Rows each worker gets at least when a product splits its rows: well above the 4 that
  /// the C driver multiplies row by row (a different summation order), so that the split
  /// leaves every element's result as one thread computes it.
  static let minimumRowsPerWorker = 16

  /// Rows and columns below which ``BLAS/gemm(_:_:into:rowStride:columnStride:alpha:beta:)``
  /// keeps the BLAS: packing `b` per call costs about as much as `minimumRows` rows of the
  /// product.
  static let minimumRows = 16

  /// `c[i·ldc + j] = [c +] [bias[j] +] Σ_p a[i, p] · B[p, j]`, with `a` `m × k` read through its
  /// strides. Splits the columns among the BLAS thread budget in force (``BLAS/withThreads``,
  /// else ``BLAS/threadCount``) when the product is large enough.
  static func multiply<Scalar>(
    _ a: StridedMatrix<Scalar>, _ b: PackedMatrix<Scalar>, into c: UnsafeMutablePointer<Scalar>,
    rowStride ldc: Int, bias: UnsafePointer<Scalar>?, accumulate: Bool
  ) {
    require(
      a.columns == b.k, "PackedGEMM: inner sizes differ, \(a.rows)×\(a.columns) · \(b.k)×\(b.n)")
    b.storage.withBase { packed in
      multiply(
        a, packed: packed, columns: b.n, into: c, rowStride: ldc, bias: bias,
        accumulate: accumulate, isa: b.isa)
    }
  }

  /// Columns `columns` of ``multiply(_:_:into:rowStride:bias:accumulate:)``: the panels of
  /// those columns only, for a worker that owns them. `c` is where column `columns.lowerBound`
  /// goes, and `bias` (when given) that column's bias.
  /// - Precondition: `columns.lowerBound` is a multiple of the panel width.
  static func multiply<Scalar>(
    _ a: StridedMatrix<Scalar>, _ b: PackedMatrix<Scalar>, columns: Range<Int>,
    into c: UnsafeMutablePointer<Scalar>, rowStride ldc: Int, bias: UnsafePointer<Scalar>? = nil,
    accumulate: Bool
  ) {
    let width = 2 * b.isa.width(of: Scalar.self)
    require(
      a.columns == b.k && columns.lowerBound % width == 0 && columns.upperBound <= b.n,
      "PackedGEMM: columns \(columns) of \(b.k)×\(b.n) must start on a panel (\(width))")
    b.storage.withBase { packed in
      multiply(
        a, packed: packed + columns.lowerBound * b.k, columns: columns.count, into: c,
        rowStride: ldc, bias: bias, accumulate: accumulate, isa: b.isa)
    }
  }

  /// ``multiply(_:_:into:rowStride:bias:accumulate:)`` with `b` packed here, into this thread's
  /// operand buffer (``FusedStep/operandScratch(count:_:)``): no allocation once it is large
  /// enough.
  static func multiply<Scalar>(
    _ a: StridedMatrix<Scalar>, packing b: StridedMatrix<Scalar>,
    into c: UnsafeMutablePointer<Scalar>, rowStride ldc: Int, accumulate: Bool, isa: VectorISA
  ) {
    let scratch = FusedStep.operandScratch(
      count: FusedStep.packedOperandCount(k: b.rows, n: b.columns, isa: isa, Scalar.self),
      Scalar.self)
    FusedStep.packOperand(b, isa: isa, into: scratch)
    multiply(
      a, packed: scratch, columns: b.columns, into: c, rowStride: ldc, bias: nil,
      accumulate: accumulate, isa: isa)
  }

  private static func multiply<Scalar>(
    _ a: StridedMatrix<Scalar>, packed: UnsafePointer<Scalar>, columns n: Int,
    into c: UnsafeMutablePointer<Scalar>, rowStride ldc: Int, bias: UnsafePointer<Scalar>?,
    accumulate: Bool, isa: VectorISA
  ) {
    if a.rows == 0 || n == 0 { return }
    let budget = BLAS.currentScope ?? BLAS.threadCount
    let width = 2 * isa.width(of: Scalar.self)
    let panels = (n + width - 1) / width
    let work = a.rows * n * Swift.max(a.columns, 1)
    let wanted = Swift.min(budget, Swift.max(1, work / minimumWorkPerThread))
    // A taller than wide product splits its rows: each worker packs only its rows of `a`
    // (split by columns, every worker packed all of them: 12 % of a char-LM training step at
    // 2 threads, in the products of B·T = 2048 rows by 64 columns). Both splits leave every
    // element's sum in the same order.
    if wanted > 1 && a.rows > n && a.rows / wanted >= minimumRowsPerWorker {
      Workers.forEach(wanted) { worker in
        let first = a.rows * worker / wanted
        let end = a.rows * (worker + 1) / wanted
        FusedStep.packedGEMM(
          a.rows(first..<end), packed: packed, into: c + first * ldc, ldc: ldc, columns: n,
          bias: bias, accumulate: accumulate, isa: isa)
      }
      return
    }
    let threads = Swift.min(wanted, panels)
    if threads == 1 {
      FusedStep.packedGEMM(
        a, packed: packed, into: c, ldc: ldc, columns: n, bias: bias, accumulate: accumulate,
        isa: isa)
      return
    }
    Workers.forEach(threads) { worker in
      let first = panels * worker / threads * width
      let end = Swift.min(n, panels * (worker + 1) / threads * width)
      FusedStep.packedGEMM(
        a, packed: packed + first * a.columns, into: c + first, ldc: ldc, columns: end - first,
        bias: bias.map { $0 + first }, accumulate: accumulate, isa: isa)
    }
  }

  /// The instruction set whose packed GEMM multiplies a Float `rows × columns` product in
  /// ``BLAS/gemm(_:_:into:rowStride:columnStride:alpha:beta:)``, or nil for the BLAS: the
  /// override of ``BLAS/withGEMMKernels(_:_:)`` on this thread, else the calibration of the
  /// widest set this CPU runs.
  /// `minimumRows` is lower for an operand packed once for many products
  /// (``ReusedOperand``).
  /// `Scalar` picks the calibration: Float's against sgemm, Double's against dgemm.
  static func isa<Scalar: BLASScalar>(
    rows: Int, columns: Int, minimumRows: Int = minimumRows, _: Scalar.Type = Float.self
  ) -> VectorISA? {
    guard rows >= minimumRows, columns >= Self.minimumRows else { return nil }
    let kernels = BLAS.gemmKernelsOverride ?? .automatic
    guard let isa = kernels.vectorISA else { return nil }
    return GEMMCalibration.packsProjection(kernels, Scalar.self) ? isa : nil
  }
}

/// Whether the library's packed GEMM or the BLAS's sgemm runs the engine's Float GEMMs on this
/// CPU (the recurrent input projections, and ``BLAS`` products of 16+ rows and columns),
/// measured once per process and instruction set: both multiply the same probe shapes at one
/// thread (the packed one packing B each time, as per-call products do), best of three, and
/// the faster total wins.
///
///     print(GEMMCalibration.current)
///     // GEMMCalibration (AVX-512F, OpenBLAS Prescott): packed GEMM — 0.21 vs sgemm 0.95 ms …
///
/// Forcing ``RecurrentKernels/avx512`` or ``RecurrentKernels/avx2`` runs the packed GEMM of
/// that set whatever the calibration says; ``RecurrentKernels/portable`` runs sgemm.
public struct GEMMCalibration: Sendable, CustomStringConvertible {
  /// One probe shape: `[m, k] · [k, n]`, and the best time of each GEMM in seconds.
  public struct Probe: Sendable {
    /// Rows of `a` (and of the product).
    public let m: Int
    /// Columns of `b` (and of the product).
    public let n: Int
    /// The inner size.
    public let k: Int
    /// The packed GEMM's best time (packing `b` included), in seconds.
    public let packed: Double
    /// The BLAS's sgemm's (dgemm's) best time, in seconds.
    public let system: Double
  }

  /// The instruction set of the packed GEMM measured ("AVX-512F", "AVX2+FMA").
  public let instructionSet: String
  /// The scalar type of the products measured: "Float" (packed GEMM against sgemm) or
  /// "Double" (against dgemm).
  public let scalarType: String
  /// The probes, in the order they ran.
  public let probes: [Probe]
  /// Whether the packed GEMM was faster over all probes.
  public var prefersPacked: Bool {
    probes.map(\.packed).reduce(0, +) < probes.map(\.system).reduce(0, +)
  }

  /// The shapes measured: the article's projection (T·B 320, 4·H 512, I 64) and one with a
  /// full 256-step inner block; the second is skipped when the first differs by 2× or more.
  static let probeShapes = [(m: 320, n: 512, k: 64), (m: 144, n: 512, k: 256)]

  /// The Float calibration for the widest instruction set this CPU runs, or nil without one.
  public static var current: GEMMCalibration? { current(for: Float.self) }

  /// The calibration of `Scalar`'s products (Float against sgemm, Double against dgemm) for
  /// the widest instruction set this CPU runs, or nil without one.
  public static func current<Scalar: BLASScalar>(for _: Scalar.Type) -> GEMMCalibration? {
    VectorISA.available.last.map { calibration(for: $0, Scalar.self) }
  }

  /// The calibration of every instruction set this CPU runs, widest first (a forced
  /// ``RecurrentKernels/avx2`` on an AVX-512 CPU runs the AVX2 one), Float then Double.
  public static var everyInstructionSet: [GEMMCalibration] {
    VectorISA.available.reversed().flatMap {
      [calibration(for: $0, Float.self), calibration(for: $0, Double.self)]
    }
  }

  private static let cache = Mutex<[String: GEMMCalibration]>([:])

  /// The calibration of `isa` for `Scalar`, measured on first use (a few ms) and kept for the
  /// process.
  static func calibration<Scalar: BLASScalar>(
    for isa: VectorISA, _: Scalar.Type
  ) -> GEMMCalibration {
    let key = "\(isa) \(Scalar.self)"
    if let known = cache.withLock({ $0[key] }) { return known }
    let measured = measure(isa, Scalar.self)
    return cache.withLock { table in
      if let known = table[key] { return known }
      table[key] = measured
      return measured
    }
  }

  /// Whether `Scalar`'s GEMMs (the recurrent input projection, and for Float ``BLAS``
  /// products) run on the packed GEMM for `kernels`.
  static func packsProjection<Scalar: BLASScalar>(
    _ kernels: RecurrentKernels, _: Scalar.Type = Float.self
  ) -> Bool {
    switch kernels {
    case .portable: return false
    case .avx512VNNI, .avx512, .avx2: return true
    case .automatic:
      return Scalar.self == Double.self ? automaticPrefersPackedDouble : automaticPrefersPacked
    }
  }

  /// The verdicts for `.automatic` (the widest set's calibrations), read by every GEMM:
  /// measured on first use, then constants (no lock per call).
  private static let automaticPrefersPacked = current?.prefersPacked ?? false
  private static let automaticPrefersPackedDouble =
    current(for: Double.self)?.prefersPacked ?? false

  private static func measure<Scalar: BLASScalar>(
    _ isa: VectorISA, _: Scalar.Type
  ) -> GEMMCalibration {
    var generator = SeededGenerator(seed: 0xca11b)
    var probes: [Probe] = []
    for shape in probeShapes {
      if let last = probes.last,
        Swift.max(last.packed, last.system) >= 2 * Swift.min(last.packed, last.system)
      {
        break
      }
      let a = Tensor<Scalar>.randomUniform(
        shape: [shape.m, shape.k], in: -1...1, using: &generator)
      let w = Tensor<Scalar>.randomUniform(
        shape: [shape.n, shape.k], in: -1...1, using: &generator)
      var c = Tensor<Scalar>.zeros(shape: [shape.m, shape.n])
      let probe = a.withBase { a in
        w.withBase { w in
          c.withMutableBase { c in
            let left = StridedMatrix(
              base: a, rows: shape.m, columns: shape.k, rowStride: shape.k, columnStride: 1)
            let right = StridedMatrix(
              base: w, rows: shape.k, columns: shape.n, rowStride: 1, columnStride: shape.k)
            return BLAS.withThreads(1) {
              // Packing B is timed too: BLAS.gemm's calls pay it every time.
              let packedTime = bestSeconds {
                PackedGEMM.multiply(
                  left, packing: right, into: c, rowStride: shape.n, accumulate: false, isa: isa)
              }
              let systemTime = bestSeconds {
                BLAS.withGEMMKernels(.portable) {
                  BLAS.gemm(left, right, into: c, rowStride: shape.n)
                }
              }
              return Probe(
                m: shape.m, n: shape.n, k: shape.k, packed: packedTime, system: systemTime)
            }
          }
        }
      }
      probes.append(probe)
    }
    return GEMMCalibration(
      instructionSet: isa.description, scalarType: "\(Scalar.self)", probes: probes)
  }

  /// The best of three timed runs after one warm-up, in seconds.

  /// The BLAS routine the packed GEMM was measured against: "sgemm" or "dgemm".
  var systemName: String { scalarType == "Double" ? "dgemm" : "sgemm" }

  /// The verdict in a few words: "calibrated: packed 0.21 vs sgemm 0.95 ms".
  var summary: String {
    let packed = probes.map(\.packed).reduce(0, +)
    let system = probes.map(\.system).reduce(0, +)
    return
      "calibrated: packed \(Self.milliseconds(packed)) vs \(systemName) \(Self.milliseconds(system)) ms on the probes"
  }

  /// The verdict and the times behind it.
  public var description: String {
    let verdict = prefersPacked ? "packed GEMM" : "BLAS \(systemName)"
    let times = probes.map {
      "\($0.m)×\($0.k)·\($0.k)×\($0.n): packed \(Self.milliseconds($0.packed)) vs \(systemName) \(Self.milliseconds($0.system)) ms"
    }
    return
      "GEMMCalibration (\(instructionSet), OpenBLAS \(BLAS.coreName)): \(verdict) for \(scalarType) products — "
      + times.joined(separator: "; ")
  }

  static func milliseconds(_ seconds: Double) -> String {
    String(format: "%.3f", seconds * 1000)
  }
}

extension BLAS {
  /// Runs `body` with this thread's Float GEMMs on `kernels`: `.avx512` or `.avx2` force the
  /// library's packed GEMM of that set, `.portable` the BLAS's sgemm, `.automatic` what
  /// ``GEMMCalibration`` chose (the default). For comparing the two, or testing each.
  ///
  ///     let reference = BLAS.withGEMMKernels(.portable) { a.matmul(b) }
  ///
  /// It applies to GEMMs called on this thread during `body` (matmul, Linear, Conv1d, the
  /// backward passes, ONNX Gemm and MatMul). A recurrent layer's forward runs all its GEMMs on
  /// its own ``LSTM/kernels`` instead.
  /// - Precondition: a forced set is in ``RecurrentKernels/supported``.
  public static func withGEMMKernels<R>(
    _ kernels: RecurrentKernels, _ body: () throws -> R
  ) rethrows -> R {
    _ = kernels.vectorISA  // checks a forced set
    let saved = pthread_getspecific(gemmKernelsKey)
    let code: Int
    switch kernels {
    case .automatic: code = 1
    case .avx512: code = 2
    case .avx2: code = 3
    case .portable: code = 4
    case .avx512VNNI: code = 5
    }
    pthread_setspecific(gemmKernelsKey, UnsafeRawPointer(bitPattern: code))
    defer { pthread_setspecific(gemmKernelsKey, saved) }
    return try body()
  }

  /// This thread's ``withGEMMKernels(_:_:)`` choice, nil outside one.
  static var gemmKernelsOverride: RecurrentKernels? {
    switch Int(bitPattern: pthread_getspecific(gemmKernelsKey)) {
    case 1: return .automatic
    case 2: return .avx512
    case 3: return .avx2
    case 4: return .portable
    case 5: return .avx512VNNI
    default: return nil
    }
  }

  private static let gemmKernelsKey = threadKey()
}

/// A `B` operand that many products of the same size multiply (a backward's `W_hh`, once per
/// time step): packed once where the packed GEMM beats the BLAS for `Scalar`
/// (``GEMMCalibration``, or the forced ``BLAS/withGEMMKernels(_:_:)``), so no step repacks it;
/// otherwise read in place by the BLAS each time.
struct ReusedOperand<Scalar: BLASScalar> {
  let matrix: StridedMatrix<Scalar>
  let packed: PackedMatrix<Scalar>?

  /// `b` for products of `rows` rows; packs it (one allocation, `b`'s size) when the packed
  /// GEMM runs them (from one row: a product of up to 4 rows runs row by row on the packed
  /// panels, where the BLAS would run gemv).
  init(_ b: StridedMatrix<Scalar>, rows: Int) {
    matrix = b
    packed = PackedGEMM.isa(rows: rows, columns: b.columns, minimumRows: 1, Scalar.self).map {
      PackedMatrix(b, isa: $0)
    }
  }

  /// The panel width of the packed copy (columns a worker's share starts on), nil when `b` is
  /// not packed.
  var panelWidth: Int? { packed?.panelWidth }

  /// Columns `columns` of `c = a · B` (the others untouched), from their panels of the packed
  /// copy.
  /// - Precondition: `b` is packed (``panelWidth``) and `columns` starts on a panel.
  func multiply(
    _ a: StridedMatrix<Scalar>, columns: Range<Int>, into c: UnsafeMutablePointer<Scalar>,
    rowStride ldc: Int
  ) {
    guard let packed else {
      preconditionFailure("ReusedOperand: column shares need the packed copy")
    }
    PackedGEMM.multiply(
      a, packed, columns: columns, into: c + columns.lowerBound, rowStride: ldc,
      accumulate: false)
  }

  /// `c = a · B + beta · c` (`beta` 0 or 1), `c` row-major with row stride `ldc`.
  func multiply(
    _ a: StridedMatrix<Scalar>, into c: UnsafeMutablePointer<Scalar>, rowStride ldc: Int,
    beta: Scalar = 0
  ) {
    if let packed {
      PackedGEMM.multiply(a, packed, into: c, rowStride: ldc, bias: nil, accumulate: beta == 1)
    } else {
      BLAS.gemm(a, matrix, into: c, rowStride: ldc, beta: beta)
    }
  }
}

/// The best of three timed runs of `body` after one untimed, in seconds: what the calibrations
/// (``GEMMCalibration``, ``SplitCalibration``) measure.
func bestSeconds(_ body: () -> Void) -> Double {
  body()
  var best = Double.infinity
  for _ in 0..<3 {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
  }
  return best
}
