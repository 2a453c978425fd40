import TensorLSTM
import Testing

/// BLAS matmul against the naive triple loop on strided operands.
@Suite("matmul: BLAS vs naive")
struct MatmulTests {
  /// How an operand is presented to matmul: each form is a different stride pattern.
  enum Form: String, CaseIterable, Sendable {
    case contiguous, transposed, sliced, reversed, broadcastRows, permutedBatch
  }

  /// A `[rows, cols]` operand (with an optional batch axis) in the given form, holding the same
  /// values as `dense`.
  static func present<S: BLASScalar>(
    _ dense: Tensor<S>, as form: Form, _ random: inout TestRandom
  ) -> Tensor<S> {
    let r = dense.rank
    switch form {
    case .contiguous:
      return dense
    case .transposed:
      return dense.transposed(r - 2, r - 1).contiguous().transposed(r - 2, r - 1)
    case .sliced:
      // Embed in a wider tensor and slice out every second column.
      var wide = Tensor<S>.zeros(shape: Array(dense.shape.dropLast()) + [dense.shape[r - 1] * 2])
      for index in allIndices(dense.shape) {
        wide[scalarAt: Array(index.dropLast()) + [index[r - 1] * 2]] = dense[scalarAt: index]
      }
      return wide.sliced(axis: -1, range: 0..<(dense.shape[r - 1] * 2), step: 2)
    case .reversed:
      let flipped = dense.sliced(axis: -2, range: 0..<dense.shape[r - 2], step: -1).contiguous()
      return flipped.sliced(axis: -2, range: 0..<dense.shape[r - 2], step: -1)
    case .broadcastRows:
      return dense
    case .permutedBatch:
      guard r == 3 else { return dense }
      return dense.permuted([1, 0, 2]).contiguous().permuted([1, 0, 2])
    }
  }

  static func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for size in shape { result = result.flatMap { p in (0..<size).map { p + [$0] } } }
    return result
  }

  static let cases: [(Form, Form)] = Form.allCases.flatMap { a in Form.allCases.map { (a, $0) } }

  @Test("2-D and batched, Float", arguments: cases)
  func float(a: Form, b: Form) { check(Float.self, a, b, tolerance: 1e-5) }

  @Test("2-D and batched, Double", arguments: cases)
  func double(a: Form, b: Form) { check(Double.self, a, b, tolerance: 1e-12) }

  func check<S: BLASScalar>(_: S.Type, _ aForm: Form, _ bForm: Form, tolerance: Double) {
    var random = TestRandom(seed: UInt64(aForm.hashValue & 0xFFFF))
    for (batch, m, k, n) in [(0, 5, 7, 3), (0, 1, 6, 4), (0, 4, 6, 1), (2, 3, 4, 5), (1, 1, 3, 1)] {
      let aShape = (batch > 0 ? [batch] : []) + [m, k]
      let bShape = (batch > 0 ? [batch] : []) + [k, n]
      var a: Tensor<S> = random.tensor(aShape)
      var b: Tensor<S> = random.tensor(bShape)
      if aForm == .broadcastRows {
        a = random.tensor(Array(aShape.dropLast(2)) + [1, k], S.self)
          .expanded(to: aShape)
      }
      if bForm == .broadcastRows, batch > 0 {
        b = random.tensor([k, n], S.self).unsqueezed(axis: 0).expanded(to: bShape)
      }
      let aView = Self.present(a, as: aForm, &random)
      let bView = Self.present(b, as: bForm, &random)
      let context = "\(aForm)·\(bForm) batch \(batch) \(m)×\(k)·\(k)×\(n)"
      #expect(aView.scalars == a.scalars, "presentation changed values: \(context)")
      expectClose(
        matmul(aView, bView), Naive.matmul(a, b), absolute: tolerance, relative: tolerance,
        context)
    }
  }

  /// Products of at least 16 rows and columns run on the library's packed GEMM where the
  /// calibration (or `BLAS.withGEMMKernels`) says so: each kernel the CPU runs, forced, over
  /// several 144-row and 256-step blocks, partial tiles and panels, every operand form.
  @Test("Float products on every GEMM kernel this CPU runs", arguments: Form.allCases)
  func gemmKernels(form: Form) {
    var random = TestRandom(seed: 12)
    for (m, k, n) in [(16, 16, 16), (17, 300, 33), (150, 40, 70), (300, 513, 65)] {
      let a: Tensor<Float> = random.tensor([m, k])
      let b: Tensor<Float> = random.tensor([k, n])
      let c0: Tensor<Float> = random.tensor([m, n])
      let aView = Self.present(a, as: form, &random)
      let bView = Self.present(b, as: form == .reversed ? .transposed : form, &random)
      let product = Naive.matmul(a, b)
      for kernels in RecurrentKernels.supported {
        let context = "\(form) \(m)×\(k)·\(k)×\(n) \(kernels)"
        BLAS.withGEMMKernels(kernels) {
          expectClose(matmul(aView, bView), product, absolute: 1e-4, relative: 1e-5, context)
          var c = c0.transposed(0, 1).contiguous().transposed(0, 1)
          matmul(aView, bView, into: &c, beta: 1)
          let expected = zip(product.scalars, c0.scalars).map { Double($0 + $1) }
          expectClose(c.scalars.map(Double.init), expected, absolute: 1e-4, "beta 1, \(context)")
        }
      }
    }
  }

  @Test("accumulate form: c = alpha·a·b + beta·c, through c's strides")
  func accumulate() {
    var random = TestRandom(seed: 9)
    let a: Tensor<Float> = random.tensor([4, 3])
    let b: Tensor<Float> = random.tensor([3, 5])
    let c0: Tensor<Float> = random.tensor([5, 4])
    var c = c0.transposed(0, 1)  // column-major c: written as cᵀ = bᵀ·aᵀ
    let original = c
    matmul(a, b, into: &c, alpha: 2, beta: 0.5)
    let product = Naive.matmul(a, b).scalars
    let expected = zip(product, original.scalars).map { 2 * $0 + 0.5 * $1 }
    expectClose(c.scalars.map(Double.init), expected.map(Double.init), absolute: 1e-5)
    #expect(original.scalars == c0.transposed(0, 1).scalars, "c's old value must not change")
  }

  @Test(
    "accumulate into a c that BLAS cannot write in place: one row or column, reversed",
    arguments: [(1, 4), (4, 1), (3, 5)])
  func accumulateReversed(m: Int, n: Int) {
    var random = TestRandom(seed: UInt64(10 * m + n))
    let a: Tensor<Double> = random.tensor([m, 3])
    let b: Tensor<Double> = random.tensor([3, n])
    // Both axes reversed: negative strides, which BLAS cannot take. Built from a temporary so
    // that c owns its storage alone and copy-on-write does not make it contiguous first.
    var c = random.tensor([m, n], Double.self).sliced(axis: 0, range: 0..<m, step: -1)
      .sliced(axis: 1, range: 0..<n, step: -1)
    let before = c.scalars
    matmul(a, b, into: &c, alpha: 2, beta: 0.5)
    let expected = zip(Naive.matmul(a, b).scalars, before).map { 2 * $0 + 0.5 * $1 }
    expectClose(c.scalars, expected, absolute: 1e-12, "\(m)×\(n)")
  }

  @Test("vectors follow PyTorch: 1-D operands drop their axis")
  func vectors() {
    let m = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let v = Tensor<Double>(shape: [3], scalars: [1, 0, -1])
    #expect(matmul(m, v).shape == [2])
    #expect(matmul(m, v).scalars == [-2, -2])
    #expect(matmul(v, m.transposed(0, 1)).scalars == [-2, -2])
    #expect(matmul(v, v).shape == [])
    #expect(matmul(v, v).scalars == [2])
  }
}
