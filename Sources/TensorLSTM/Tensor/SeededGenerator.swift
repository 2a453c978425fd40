/// A small, fast, seedable random number generator (xoshiro256**, seeded by SplitMix64).
///
///     var rng = SeededGenerator(seed: 42)
///     let x = Tensor<Float>.randomNormal(shape: [2, 3], using: &rng)
///
/// The same seed gives the same stream on every platform, so tests and weights reproduce.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  /// A generator whose stream is fixed by `seed`; O(1).
  public init(seed: UInt64) {
    var s = seed
    func splitMix() -> UInt64 {
      s &+= 0x9E37_79B9_7F4A_7C15
      var z = s
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  /// The next 64 random bits; O(1).
  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotate(state.3, 45)
    return result
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension Tensor {
  /// A contiguous tensor of samples from U(range); allocates.
  ///
  ///     var rng = SeededGenerator(seed: 1)
  ///     Tensor<Float>.randomUniform(shape: [4, 4], in: -0.1...0.1, using: &rng)
  @_specialize(where Scalar == Float, G == SeededGenerator)
  @_specialize(where Scalar == Double, G == SeededGenerator)
  public static func randomUniform<G: RandomNumberGenerator>(
    shape: [Int], in range: ClosedRange<Scalar> = 0...1, using generator: inout G
  ) -> Tensor {
    let layout = TensorLayout(contiguous: shape)
    let storage = TensorStorage<Scalar>(zeroedCount: layout.count)
    let (low, high) = (Double(range.lowerBound), Double(range.upperBound))
    for i in 0..<layout.count {
      storage.base[i] = Scalar(Double.random(in: low...high, using: &generator))
    }
    return Tensor(storage: storage, layout: layout)
  }

  /// A contiguous tensor of samples from U(range) seeded by `seed`; allocates.
  public static func randomUniform(
    shape: [Int], in range: ClosedRange<Scalar> = 0...1, seed: UInt64
  )
    -> Tensor
  {
    var generator = SeededGenerator(seed: seed)
    return randomUniform(shape: shape, in: range, using: &generator)
  }

  /// A contiguous tensor of samples from N(mean, standardDeviation²) (Box–Muller); allocates.
  @_specialize(where Scalar == Float, G == SeededGenerator)
  @_specialize(where Scalar == Double, G == SeededGenerator)
  public static func randomNormal<G: RandomNumberGenerator>(
    shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1, using generator: inout G
  ) -> Tensor {
    let layout = TensorLayout(contiguous: shape)
    let storage = TensorStorage<Scalar>(zeroedCount: layout.count)
    var i = 0
    while i < layout.count {
      let u1 = Double.random(in: Double.ulpOfOne...1, using: &generator)
      let u2 = Double.random(in: 0..<1, using: &generator)
      let radius = (-2 * Math.log(u1)).squareRoot()
      storage.base[i] = mean + standardDeviation * Scalar(radius * Math.cos(2 * .pi * u2))
      if i + 1 < layout.count {
        storage.base[i + 1] = mean + standardDeviation * Scalar(radius * Math.sin(2 * .pi * u2))
      }
      i += 2
    }
    return Tensor(storage: storage, layout: layout)
  }

  /// A contiguous tensor of samples from N(mean, standardDeviation²) seeded by `seed`; allocates.
  public static func randomNormal(
    shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1, seed: UInt64
  ) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return randomNormal(
      shape: shape, mean: mean, standardDeviation: standardDeviation, using: &generator)
  }
}
