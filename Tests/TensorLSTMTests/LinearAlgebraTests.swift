import TensorLSTM
import Testing

@Suite("LAPACK: solve and lstsq")
struct LinearAlgebraTests {
  @Test("solve recovers a known solution", arguments: [1, 3, 8])
  func solveKnown(n: Int) throws {
    var random = TestRandom(seed: UInt64(n))
    // Diagonally dominant, hence well conditioned.
    var a: Tensor<Double> = random.tensor([n, n])
    for i in 0..<n { a[scalarAt: [i, i]] += Double(n) + 1 }
    let x: Tensor<Double> = random.tensor([n, 2])
    let b = Naive.matmul(a, x)
    expectClose(try solve(a, b), x, absolute: 1e-10, relative: 1e-10)
    let xf = try solve(
      Tensor<Float>(shape: a.shape, scalars: a.scalars.map(Float.init)),
      Tensor<Float>(shape: [n], scalars: b.selected(axis: 1, index: 0).scalars.map(Float.init)))
    let expected = x.selected(axis: 1, index: 0).scalars.map(Float.init)
    expectClose(xf, Tensor<Float>(shape: [n], scalars: expected), absolute: 1e-4)
  }

  @Test("solve leaves its inputs untouched and reads strided inputs")
  func solveStrided() throws {
    let a = Tensor<Double>(shape: [2, 2], scalars: [2, 1, 1, 3])
    let at = a.transposed(0, 1)  // [[2, 1], [1, 3]] is symmetric, so the transpose is equal
    let b = Tensor<Double>(shape: [2], scalars: [3, 5])
    let x = try solve(at, b)
    expectClose(x, Tensor(shape: [2], scalars: [0.8, 1.4]), absolute: 1e-12)
    #expect(a.scalars == [2, 1, 1, 3])
  }

  @Test("a singular system throws with LAPACK's info")
  func singular() {
    let a = Tensor<Float>(shape: [3, 3], scalars: [1, 2, 3, 2, 4, 6, 0, 1, 1])
    #expect(throws: LinearAlgebraError.singular(info: 3)) {
      try solve(a, Tensor<Float>.zeros(shape: [3]))
    }
  }

  @Test("lstsq fits a line exactly and in the least-squares sense")
  func lstsqLine() throws {
    // y = 2x + 1 sampled at 4 points, plus a residual orthogonal to [1, x].
    let xs: [Double] = [0, 1, 2, 3]
    let a = Tensor<Double>(shape: [4, 2], scalars: xs.flatMap { [1, $0] })
    let noise: [Double] = [1, -1, -1, 1]  // orthogonal to both columns
    let y = Tensor<Double>(shape: [4], scalars: zip(xs, noise).map { 2 * $0 + 1 + 0.1 * $1 })
    expectClose(try lstsq(a, y), Tensor(shape: [2], scalars: [1, 2]), absolute: 1e-12)
    let yf = Tensor<Float>(shape: [4, 1], scalars: y.scalars.map(Float.init))
    let af = Tensor<Float>(shape: [4, 2], scalars: a.scalars.map(Float.init))
    expectClose(try lstsq(af, yf), Tensor(shape: [2, 1], scalars: [1, 2]), absolute: 1e-5)
  }

  @Test("lstsq of a rank-deficient matrix throws")
  func lstsqRankDeficient() {
    let a = Tensor<Double>(shape: [3, 2], scalars: [1, 2, 2, 4, 3, 6])
    #expect(throws: LinearAlgebraError.self) {
      try lstsq(a, Tensor<Double>.zeros(shape: [3]))
    }
  }
}
