import TensorLSTM
import Testing

@Suite("NumPy .npy files")
struct NumPyTests {
  /// x[i, j, k] = 100 i + 10 j + k, as tools/make_interop_fixtures.py wrote it.
  static let expected: Tensor<Double> = {
    var values: [Double] = []
    for i in 0..<2 {
      for j in 0..<3 {
        for k in 0..<4 { values.append(Double(100 * i + 10 * j + k)) }
      }
    }
    return Tensor(shape: [2, 3, 4], scalars: values)
  }()

  @Test(
    "numpy's files: endianness, order, versions",
    arguments: [
      "c_f4", "fortran_f8", "big_f4", "big_fortran_f8", "v2_f4",
    ])
  func readsNumPy(name: String) throws {
    let x: Tensor<Double> = try NumPy.read(contentsOf: "\(Fixtures.directory)/npy/\(name).npy")
    #expect(x.shape == [2, 3, 4])
    #expect(x.scalars == Self.expected.scalars)
    // Fortran order is a strided view of column-major storage, not a copy into C order.
    #expect(x.isContiguous == !name.contains("fortran"))
    if name.contains("fortran") { #expect(x.strides == [1, 2, 6]) }
  }

  @Test("write then read, Float and Double, strided input")
  func roundTrip() throws {
    let f = Tensor<Float>.randomNormal(shape: [3, 5], seed: 1).transposed(0, 1)
    let back: Tensor<Float> = try NumPy.decode(NumPy.encode(f))
    #expect(back.shape == [5, 3] && back.scalars == f.scalars)
    let d = Tensor<Double>.randomNormal(shape: [7], seed: 2)
    let path = "/tmp/tensorlstm-\(UInt32.random(in: 0...UInt32.max)).npy"
    try NumPy.write(d, to: path)
    let read: Tensor<Double> = try NumPy.read(contentsOf: path)
    #expect(read.scalars == d.scalars)
  }

  @Test(
    "malformed files throw",
    arguments: [
      Array("not numpy at all".utf8),
      NumPy.encode(Tensor<Float>.zeros(shape: [2, 2])).dropLast(3).map { $0 },
      NumPy.encode(Tensor<Float>.zeros(shape: [2])).enumerated().map {
        $0.offset == 8 ? 0xFF : $0.element
      },
      Array(
        String(decoding: NumPy.encode(Tensor<Float>.zeros(shape: [2])), as: UTF8.self)
          .replacingOccurrences("<f4", with: "<i4").utf8),
      Array(
        String(decoding: NumPy.encode(Tensor<Float>.zeros(shape: [2])), as: UTF8.self)
          .replacingOccurrences("(2,)", with: "(99999999999999999,99999999999)").utf8),
    ])
  func malformed(bytes: [UInt8]) {
    #expect(throws: NumPyError.self) {
      let _: Tensor<Float> = try NumPy.decode(bytes)
    }
  }
}

extension String {
  /// `self` with every `target` replaced (no Foundation needed).
  func replacingOccurrences(_ target: String, with replacement: String) -> String {
    var result = ""
    var rest = Substring(self)
    while let range = rest.firstRange(of: target) {
      result += rest[..<range.lowerBound] + replacement
      rest = rest[range.upperBound...]
    }
    return result + rest
  }
}
