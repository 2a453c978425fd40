import TensorLSTM
import Testing

/// OpenBLAS's kernel family is named, and a plan says when it is narrower than the CPU (issue
/// 22: OpenBLAS 0.3.21 runs SSE3 "Prescott" kernels on Intel family 6 model 207).
@Suite("BLAS core")
struct BLASCoreTests {
  @Test("the core is named and the plan warns exactly when it is narrower than the CPU")
  func coreName() throws {
    #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
    let lstm = LSTM<Float>(inputSize: 4, hiddenSize: 8)
    let plan = try lstm.plan(for: .zeros(shape: [3, 2, 4]))
    #expect(plan.description.contains("blas: ") == (BLAS.narrowKernelWarning != nil), "\(plan)")
    if BLAS.coreName == "Prescott" && RecurrentKernels.supported.contains(.avx2) {
      #expect(BLAS.narrowKernelWarning?.contains("OPENBLAS_CORETYPE=") == true)
    }
    if BLAS.coreName == "SkylakeX" { #expect(BLAS.narrowKernelWarning == nil) }
  }
}
