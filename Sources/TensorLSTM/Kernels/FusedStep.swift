// The one file that imports CRecurrentKernels, TensorLSTM's AVX2+FMA step kernels. As with the BLAS
// boundary, no C type leaves it; the kernels take Float only, and every entry point here checks
// that `Scalar` is Float before rebinding.
internal import CRecurrentKernels

/// Which kernels an LSTM's time loop runs on.
///
///     var lstm = LSTM<Float>(inputSize: 128, hiddenSize: 64)
///     lstm.kernels = .portable   // e.g. to compare against the fused path
public enum RecurrentKernels: Sendable, Hashable {
  /// For `Float` on a CPU with AVX2 and FMA: the fused step, which accumulates
  /// `h(t−1) · W_hhᵀ` for 8 units × 4 gates in registers from a copy of `W_hh` packed when the
  /// weights are set, and updates `c` and `h` from those registers; where the per-step GEMM
  /// stays (more than 32 sequences per worker, or `lengths`), the AVX2 gate pass after it.
  /// Otherwise the same as `.portable`.
  case automatic
  /// A BLAS GEMM per step and the Swift gate pass, compiled for the baseline CPU.
  case portable

  /// Whether this CPU runs the fused AVX2+FMA kernels (`.automatic` uses them for `Float`).
  public static var isFusedSupported: Bool { FusedStep.isSupported }
}

/// Thin, checked wrappers over the C kernels.
enum FusedStep {
  static let isSupported = tlstm_has_avx2_fma() != 0

  /// Rows up to which the fused step beats OpenBLAS's GEMM plus the AVX2 gate pass; above it
  /// OpenBLAS's larger register tiles win. Measured per step on this machine's Zen 3, 1 thread,
  /// best of 7 (tools/kernel_bench.c): B 8, H 512: 269 vs 492 µs; B 32, H 64: 17.8 vs 21.5 µs;
  /// B 32, H 512: 947 vs 1024 µs; B 64, H 512: 2719 vs 2357 µs.
  static let maximumBatch = 32

  /// `weight_hh` `[4H, K]` packed for ``step``, or nil when the fused kernels cannot run it
  /// (not Float, or the CPU lacks AVX2/FMA). Copies; 4H·K floats (rounded up to 8 units).
  static func packedRecurrent<Scalar: BLASScalar>(_ weightHH: Tensor<Scalar>) -> Tensor<Scalar>? {
    guard Scalar.self == Float.self, isSupported else { return nil }
    let (units, k) = (weightHH.shape[0] / 4, weightHH.shape[1])
    var packed = Tensor<Scalar>.zeros(shape: [tlstm_packed_count(units, k)])
    weightHH.withBase { w in
      packed.withMutableBase { p in
        tlstm_pack_recurrent(float(w), units, units, k, float(p))
      }
    }
    return packed
  }

  /// The first of `units` units' panels in a packed `W_hh` of inner size `k`, for a worker that
  /// owns units `first..<first + units` (`first` a multiple of 8).
  static func panels<Scalar>(_ packed: UnsafePointer<Scalar>, first: Int, k: Int)
    -> UnsafePointer<Scalar>
  {
    require(first % 8 == 0, "FusedStep.panels: first unit \(first) must be a multiple of 8")
    return packed + tlstm_packed_count(first, k)
  }

  /// One fused LSTM step for `batch` rows; see `tlstm_lstm_step` in recurrent_kernels.h. `gates`
  /// is scratch afterwards.
  static func step<Scalar: BLASScalar>(
    packed: UnsafePointer<Scalar>, units: Int, k: Int,
    hPrevious: UnsafePointer<Scalar>, hPreviousStride: Int,
    gates: UnsafeMutablePointer<Scalar>, gateStride: Int, gateBlock: Int,
    cell: UnsafeMutablePointer<Scalar>, cellStride: Int,
    hidden h: UnsafeMutablePointer<Scalar>, hiddenStride: Int, batch: Int
  ) {
    tlstm_lstm_step(
      float(packed), units, k, float(hPrevious), hPreviousStride, float(gates), gateStride,
      gateBlock, float(cell), cellStride, float(h), hiddenStride, batch)
  }

  /// The AVX2 gate pass for one row; see `LSTMGatePass.apply` for the Swift one.
  static func gates<Scalar: BLASScalar>(
    _ gates: UnsafePointer<Scalar>, cell: UnsafeMutablePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    tlstm_gates(float(gates), float(cell), float(h), count)
  }

  private static func float<Scalar>(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> {
    require(Scalar.self == Float.self, "FusedStep: the AVX2 kernels take Float, not \(Scalar.self)")
    return UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
  }

  private static func float<Scalar>(
    _ p: UnsafeMutablePointer<Scalar>
  ) -> UnsafeMutablePointer<Float> {
    UnsafeMutablePointer(mutating: float(UnsafePointer(p)))
  }
}
