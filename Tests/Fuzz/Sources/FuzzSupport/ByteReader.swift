import TensorLSTM

/// Reads the fuzzer's bytes as small sizes and float values; zeros once exhausted.
public struct ByteReader {
  var bytes: [UInt8]
  var position = 0
  /// A reader over `bytes`.
  public init(_ bytes: [UInt8]) { self.bytes = bytes }

  /// The next byte, or 0 past the end.
  public mutating func next() -> UInt8 {
    defer { position += 1 }
    return position < bytes.count ? bytes[position] : 0
  }

  /// A size in 0...6, with 0 and 1 frequent (the edges).
  public mutating func dimension() -> Int { Int(next() % 7) }

  /// Four bytes as a Float bit pattern (NaN, infinities and subnormals included).
  public mutating func value() -> Float {
    var pattern: UInt32 = 0
    for _ in 0..<4 { pattern = pattern << 8 | UInt32(next()) }
    return Float(bitPattern: pattern)
  }

  /// A tensor of `rank` sizes in 0...6 and drawn values.
  public mutating func tensor(rank: Int) -> Tensor<Float> {
    tensor(shape: (0..<rank).map { _ in dimension() })
  }

  /// A tensor of `shape` with drawn values.
  public mutating func tensor(shape: [Int]) -> Tensor<Float> {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<count).map { _ in value() })
  }
}
