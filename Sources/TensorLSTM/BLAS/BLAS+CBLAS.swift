// The one C boundary of TensorLSTM. No other file imports CBLASShim, and no C type leaves this
// file: sizes become Int32 here (checked), and CblasTrans / leading dimensions are chosen here
// from element strides.
internal import CBLASShim
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// OpenBLAS's process-wide settings.
///
///     BLAS.threadCount = 1   // single-threaded GEMMs from now on
///
/// OpenBLAS 0.3.21 has one thread count for the whole process, and its results depend on it
/// (its GEMMs split work differently). So every BLAS call of the library runs inside a *thread
/// scope* that sets OpenBLAS to the count that call wants for its whole duration: a recurrent
/// forward its plan's count (1 while its own workers run), any other GEMM ``threadCount``.
/// Concurrent scopes that want the same count run together; one that wants another count
/// waits until they finish (first come, first served). A call's result therefore never depends
/// on what other threads do, at the price of serialising callers that want different counts.
public enum BLAS {
  /// The number of threads OpenBLAS uses for one call outside a planned forward, and the
  /// budget a recurrent layer whose `threads` is nil spends; setting it affects the whole
  /// process (PyTorch's `torch.set_num_threads`).
  ///
  /// Clamped to the cores this process may run on: `BLAS.threadCount = 1000` on a 2-core
  /// machine reads back 2 (more threads than cores only oversubscribe them, and OpenBLAS's
  /// thread start can fail under a memory limit).
  /// - Precondition: the new value is at least 1.
  public static var threadCount: Int {
    get { scopes.withLock { $0.configured } }
    set {
      require(newValue >= 1, "BLAS.threadCount must be ≥ 1, got \(newValue)")
      scopes.withLock { $0.configured = Swift.min(newValue, cores) }
    }
  }

  /// The cores this process may use: the upper bound of every thread budget.
  public static let cores = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

  /// Who holds OpenBLAS's thread count: scopes are admitted in ticket order; those wanting the
  /// count in force join while it is held, others wait until it is released.
  struct ScopeState {
    /// ``threadCount``: what OpenBLAS is set to at a scope's start unless it asks otherwise.
    var configured = Swift.min(Swift.max(1, Int(openblas_get_num_threads())), cores)
    /// OpenBLAS's setting now.
    var current = Int(openblas_get_num_threads())
    /// Scopes running.
    var active = 0
    /// The next ticket to hand out, and the ticket admitted next.
    var nextTicket = 0
    var serving = 0
  }
  static let scopes = Mutex(ScopeState())

  /// The count of the scope this thread runs in (0: none), so that nested calls and the
  /// engine's helper threads (which inherit their caller's scope) never wait on themselves.
  static let scopeKey = threadKey()

  /// A new key for a per-thread value (no destructor), stopping with a message when the
  /// system has none left.
  static func threadKey() -> pthread_key_t {
    var key = pthread_key_t()
    require(pthread_key_create(&key, nil) == 0, "BLAS: pthread_key_create failed")
    return key
  }

  /// The OpenBLAS thread count of the scope this thread runs in, or nil outside any.
  static var currentScope: Int? {
    let value = Int(bitPattern: pthread_getspecific(scopeKey))
    return value == 0 ? nil : value
  }

  /// Runs `body` with this thread (and the helpers it hands ``inheritingScope(_:_:)`` to)
  /// inside the scope `count`, without admission: for helpers whose caller holds the scope.
  static func inheritingScope<R>(_ count: Int?, _ body: () throws -> R) rethrows -> R {
    let saved = pthread_getspecific(scopeKey)
    pthread_setspecific(scopeKey, UnsafeRawPointer(bitPattern: count ?? 0))
    defer { pthread_setspecific(scopeKey, saved) }
    return try body()
  }

  /// Runs `body` with OpenBLAS at `count` threads per call for its whole duration (`nil`:
  /// ``threadCount``); see ``BLAS``. Inside a scope already (a nested call, a helper thread of
  /// a forward), `body` runs in that scope.
  static func withThreads<R>(_ count: Int? = nil, _ body: () throws -> R) rethrows -> R {
    if currentScope != nil { return try body() }
    let count = enter(count)
    defer { leave() }
    return try inheritingScope(count, body)
  }

  /// Waits for admission with `count` threads; returns the count in force.
  private static func enter(_ requested: Int?) -> Int {
    var (ticket, count) = (0, 0)
    scopes.withLock { state in
      ticket = state.nextTicket
      state.nextTicket += 1
      count = Swift.min(requested ?? state.configured, cores)
    }
    var spins = 0
    while true {
      let admitted = scopes.withLock { state -> Bool in
        guard ticket == state.serving, state.active == 0 || state.current == count else {
          return false
        }
        if state.current != count {
          openblas_set_num_threads(int32(count, "threadCount"))
          state.current = count
        }
        state.active += 1
        state.serving += 1
        return true
      }
      if admitted { return count }
      spins += 1
      if spins < 100 { sched_yield() } else { usleep(20) }
    }
  }

  private static func leave() {
    scopes.withLock { $0.active -= 1 }
  }

  /// The kernel family OpenBLAS runs on this CPU (`openblas_get_corename`): "SkylakeX",
  /// "Haswell", "Zen", … — or "Prescott" (SSE3) when an older OpenBLAS does not know the CPU
  /// (0.3.21 on Intel family 6 model 207) and `OPENBLAS_CORETYPE` is not set.
  public static let coreName: String = {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }()

  /// The vector width of OpenBLAS's kernels in bits (512, 256 or 128), or nil for a core name
  /// this table does not know.
  static var coreVectorBits: Int? {
    switch coreName.lowercased() {
    case "skylakex", "cooperlake", "sapphirerapids": return 512
    case "haswell", "zen", "sandybridge", "excavator", "steamroller", "piledriver", "bulldozer":
      return 256
    case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron",
      "opteron_sse3", "barcelona", "bobcat", "katmai", "coppermine", "northwood", "banias",
      "athlon", "nano":
      return 128
    default: return nil
    }
  }

  /// A warning when OpenBLAS runs narrower vector kernels than this CPU has (its GEMMs then run
  /// several times slower), with the fix; nil otherwise. ``ForwardPlan`` prints it.
  public static let narrowKernelWarning: String? = {
    let cpuBits =
      VectorISA.available.contains(.avx512) ? 512 : (VectorISA.available.isEmpty ? 128 : 256)
    guard let bits = coreVectorBits, bits < cpuBits else { return nil }
    let suggestion = cpuBits == 512 ? "SkylakeX" : "Haswell"
    return
      "OpenBLAS runs its \(coreName) kernels (\(bits)-bit) on a CPU with \(cpuBits)-bit vectors: its GEMMs run several times slower than they could; start the process with OPENBLAS_CORETYPE=\(suggestion) or use a newer OpenBLAS"
  }()

  /// OpenBLAS's build description (version, target core, threading), for logs and benchmarks.
  public static var configuration: String {
    guard let config = openblas_get_config() else { return "unknown" }
    return String(cString: config)
  }

  /// A size, index or stride converted for C, stopping with a message when it does not fit.
  static func int32(_ value: Int, _ what: String) -> Int32 {
    require(
      value >= Int(Int32.min) && value <= Int(Int32.max),
      "BLAS: \(what) = \(value) does not fit the 32-bit integers OpenBLAS takes; split the work")
    return Int32(truncatingIfNeeded: value)
  }
}

/// A matrix read through element strides: `base[i * rowStride + j * columnStride]`.
struct StridedMatrix<Scalar: BLASScalar> {
  var base: UnsafePointer<Scalar>
  var rows: Int
  var columns: Int
  var rowStride: Int
  var columnStride: Int

  /// The rows `range` of this matrix; O(1), the same memory.
  func rows(_ range: Range<Int>) -> StridedMatrix {
    StridedMatrix(
      base: base + range.lowerBound * rowStride, rows: range.count, columns: columns,
      rowStride: rowStride, columnStride: columnStride)
  }

  /// The columns `range` of this matrix; O(1), the same memory.
  func columns(_ range: Range<Int>) -> StridedMatrix {
    StridedMatrix(
      base: base + range.lowerBound * columnStride, rows: rows, columns: range.count,
      rowStride: rowStride, columnStride: columnStride)
  }

  /// How BLAS reads this matrix without copying: row-major (`transposed == false`, `ld` =
  /// row stride) or as the transpose of a row-major matrix (`ld` = column stride). `nil` when
  /// neither stride is 1 with a large enough leading dimension (broadcast, negative, or
  /// doubly strided): the caller must copy.
  var blasForm: (transposed: Bool, leading: Int)? {
    Self.blasForm(rows: rows, columns: columns, rowStride: rowStride, columnStride: columnStride)
  }

  /// ``blasForm`` from the shape and strides alone, for deciding before any pointer exists.
  static func blasForm(rows: Int, columns: Int, rowStride: Int, columnStride: Int)
    -> (transposed: Bool, leading: Int)?
  {
    let rowStride = rows <= 1 ? Swift.max(columns, 1) : rowStride
    let columnStride = columns <= 1 ? Swift.max(rows, 1) : columnStride
    if columns <= 1 && rowStride >= 1 { return (false, rowStride) }
    if rows <= 1 && columnStride >= 1 { return (true, columnStride) }
    if columnStride == 1 && rowStride >= columns { return (false, rowStride) }
    if rowStride == 1 && columnStride >= rows { return (true, columnStride) }
    return nil
  }

  /// The same matrix, transposed; O(1).
  var transposed: StridedMatrix {
    StridedMatrix(
      base: base, rows: columns, columns: rows, rowStride: columnStride, columnStride: rowStride)
  }
}

extension BLAS {
  /// `c ← alpha · a · b + beta · c` with `a` (m×k), `b` (k×n), `c` (m×n) read through strides.
  ///
  /// For Float products of at least ``PackedGEMM/minimumRows`` rows and columns with `alpha`
  /// 1 and `beta` 0 or 1, runs the library's packed GEMM where ``GEMMCalibration`` found it
  /// faster than the BLAS's sgemm (or where ``withGEMMKernels(_:_:)`` forces it). Otherwise
  /// picks gemv when m or n is 1 (OpenBLAS's sgemm at M = 1 is several times slower), and
  /// sgemm/dgemm. `c` must have a unit stride along one axis; `a` and `b` must have a
  /// ``StridedMatrix/blasForm`` (callers copy first when not).
  static func gemm<Scalar: BLASScalar>(
    _ a: StridedMatrix<Scalar>, _ b: StridedMatrix<Scalar>,
    into c: UnsafeMutablePointer<Scalar>, rowStride ldc: Int, columnStride cColumnStride: Int = 1,
    alpha: Scalar = 1, beta: Scalar = 0
  ) {
    let m = a.rows
    let k = a.columns
    let n = b.columns
    require(b.rows == k, "BLAS.gemm: inner sizes differ, \(m)×\(k) · \(b.rows)×\(n)")
    if m == 0 || n == 0 { return }
    if cColumnStride != 1 && !(n == 1) {
      // A column-major c: compute cᵀ = bᵀ · aᵀ into it instead.
      require(ldc == 1 || m == 1, "BLAS.gemm: c needs a unit stride on one axis")
      gemm(
        b.transposed, a.transposed, into: c, rowStride: cColumnStride, alpha: alpha, beta: beta)
      return
    }
    if k == 0 {
      scale(c, rows: m, columns: n, rowStride: ldc, columnStride: cColumnStride, by: beta)
      return
    }
    if Scalar.self == Float.self, alpha == 1, beta == 0 || beta == 1,
      let isa = PackedGEMM.isa(rows: m, columns: n)
    {
      // The library's GEMM where it beats this BLAS's sgemm (GEMMCalibration), b packed here.
      PackedGEMM.multiply(a, packing: b, into: c, rowStride: ldc, accumulate: beta == 1, isa: isa)
      return
    }
    if m == 1, let bForm = b.blasForm, a.columnStride > 0 || k == 1 {
      // y(n) = bᵀ · x, x = a's row: gemv on b with its transpose flag flipped.
      gemv(
        transposed: !bForm.transposed, rows: bForm.transposed ? n : k,
        columns: bForm.transposed ? k : n, alpha: alpha, matrix: b.base, leading: bForm.leading,
        x: a.base, xStride: k == 1 ? 1 : a.columnStride, beta: beta, y: c,
        yStride: n == 1 ? 1 : cColumnStride)
      return
    }
    if n == 1, let aForm = a.blasForm, b.rowStride > 0 || k == 1 {
      // y(m) = a · x, x = b's column.
      gemv(
        transposed: aForm.transposed, rows: aForm.transposed ? k : m,
        columns: aForm.transposed ? m : k, alpha: alpha, matrix: a.base, leading: aForm.leading,
        x: b.base, xStride: k == 1 ? 1 : b.rowStride, beta: beta, y: c,
        yStride: m == 1 ? 1 : ldc)
      return
    }
    guard let aForm = a.blasForm, let bForm = b.blasForm else {
      fatalError("BLAS.gemm: an operand has no unit stride; copy it first")
    }
    let ldc = m == 1 ? Swift.max(ldc, n) : ldc
    let transA = aForm.transposed ? CblasTrans : CblasNoTrans
    let transB = bForm.transposed ? CblasTrans : CblasNoTrans
    let (m32, n32, k32) = (int32(m, "M"), int32(n, "N"), int32(k, "K"))
    let (lda, ldb, ldc32) =
      (int32(aForm.leading, "lda"), int32(bForm.leading, "ldb"), int32(ldc, "ldc"))
    withThreads {
      switch Scalar.precision {
      case .single:
        cblas_sgemm(
          CblasRowMajor, transA, transB, m32, n32, k32, Float(alpha), float(a.base), lda,
          float(b.base), ldb, Float(beta), float(c), ldc32)
      case .double:
        cblas_dgemm(
          CblasRowMajor, transA, transB, m32, n32, k32, Double(alpha), double(a.base), lda,
          double(b.base), ldb, Double(beta), double(c), ldc32)
      }
    }
  }

  /// `y ← alpha · op(A) · x + beta · y`, `A` row-major `rows × columns` with leading dimension
  /// `leading`, `op` the transpose when `transposed`.
  static func gemv<Scalar: BLASScalar>(
    transposed: Bool, rows: Int, columns: Int, alpha: Scalar, matrix: UnsafePointer<Scalar>,
    leading: Int, x: UnsafePointer<Scalar>, xStride: Int, beta: Scalar,
    y: UnsafeMutablePointer<Scalar>, yStride: Int
  ) {
    require(xStride > 0 && yStride > 0, "BLAS.gemv: vector strides must be positive")
    let trans = transposed ? CblasTrans : CblasNoTrans
    let (m, n) = (int32(rows, "rows"), int32(columns, "columns"))
    let (lda, incx, incy) =
      (int32(Swift.max(leading, columns, 1), "lda"), int32(xStride, "incx"), int32(yStride, "incy"))
    withThreads {
      switch Scalar.precision {
      case .single:
        cblas_sgemv(
          CblasRowMajor, trans, m, n, Float(alpha), float(matrix), lda, float(x), incx, Float(beta),
          float(y), incy)
      case .double:
        cblas_dgemv(
          CblasRowMajor, trans, m, n, Double(alpha), double(matrix), lda, double(x), incx,
          Double(beta), double(y), incy)
      }
    }
  }

  /// `c ← beta · c` elementwise (BLAS's convention: beta = 0 writes zeros, even over NaN).
  static func scale<Scalar: BLASScalar>(
    _ c: UnsafeMutablePointer<Scalar>, rows: Int, columns: Int, rowStride: Int, columnStride: Int,
    by beta: Scalar
  ) {
    for i in 0..<rows {
      for j in 0..<columns {
        let p = c + i * rowStride + j * columnStride
        p.pointee = beta == 0 ? 0 : beta * p.pointee
      }
    }
  }

  /// LAPACK `?gesv`: solves `A · X = B` in place (row-major); returns LAPACK's `info`.
  static func gesv<Scalar: BLASScalar>(
    n: Int, rightHandSides: Int, a: UnsafeMutablePointer<Scalar>, b: UnsafeMutablePointer<Scalar>
  ) -> Int {
    var pivots = [Int32](repeating: 0, count: Swift.max(n, 1))
    let (n32, nrhs) = (int32(n, "n"), int32(rightHandSides, "nrhs"))
    let lda = int32(Swift.max(n, 1), "lda")
    let ldb = int32(Swift.max(rightHandSides, 1), "ldb")
    let info: Int32 = withThreads {
      switch Scalar.precision {
      case .single:
        LAPACKE_sgesv(LAPACK_ROW_MAJOR, n32, nrhs, float(a), lda, &pivots, float(b), ldb)
      case .double:
        LAPACKE_dgesv(LAPACK_ROW_MAJOR, n32, nrhs, double(a), lda, &pivots, double(b), ldb)
      }
    }
    return Int(info)
  }

  /// LAPACK `?gels`: least squares (or minimum norm) `A · X ≈ B` in place, `A` m×n row-major,
  /// `b` max(m, n) × nrhs; returns LAPACK's `info`.
  static func gels<Scalar: BLASScalar>(
    rows m: Int, columns n: Int, rightHandSides: Int, a: UnsafeMutablePointer<Scalar>,
    b: UnsafeMutablePointer<Scalar>
  ) -> Int {
    let (m32, n32, nrhs) = (int32(m, "m"), int32(n, "n"), int32(rightHandSides, "nrhs"))
    let lda = int32(Swift.max(n, 1), "lda")
    let ldb = int32(Swift.max(rightHandSides, 1), "ldb")
    let no = CChar(UInt8(ascii: "N"))
    let info: Int32 = withThreads {
      switch Scalar.precision {
      case .single:
        LAPACKE_sgels(LAPACK_ROW_MAJOR, no, m32, n32, nrhs, float(a), lda, float(b), ldb)
      case .double:
        LAPACKE_dgels(LAPACK_ROW_MAJOR, no, m32, n32, nrhs, double(a), lda, double(b), ldb)
      }
    }
    return Int(info)
  }

  private static func float<Scalar>(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
  }
  private static func float<Scalar>(_ p: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<
    Float
  > {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
  }
  private static func double<Scalar>(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Double> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Double.self)
  }
  private static func double<Scalar>(_ p: UnsafeMutablePointer<Scalar>)
    -> UnsafeMutablePointer<Double>
  {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Double.self)
  }
}
