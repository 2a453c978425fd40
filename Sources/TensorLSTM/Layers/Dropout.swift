import Synchronization

/// Zeroes each element with probability `p` in training mode and scales the rest by
/// `1 / (1 − p)`, PyTorch's `nn.Dropout`; the identity in evaluation mode.
///
///     var drop = Dropout<Float>(p: 0.5, seed: 7)
///     let y = try drop(x)          // training: about half of x's elements zero, the rest 2x
///     drop.training = false        // eval(): y == x
///
/// Masks come from the layer's own seeded generator (shared by copies of the layer, like
/// PyTorch's global generator): the same seed gives the same sequence of masks, successive
/// calls new masks. The traced forward keeps its mask; the backward multiplies by it.
public struct Dropout<Scalar: BLASScalar>: ParameterFreeLayer {
  /// The probability of zeroing an element.
  public let p: Double
  /// Training mode (masks) or evaluation mode (identity).
  public var training = true
  let masks: MaskSource

  /// - Precondition: `p` in `[0, 1]`.
  public init(p: Double = 0.5, seed: UInt64 = 0) {
    require(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got \(p)")
    self.p = p
    masks = MaskSource(seed: seed)
  }

  /// `x` times a fresh mask in training mode (p > 0); `x` itself otherwise.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    try forwardWithTrace(input, lengths: lengths).output
  }

  /// The forward, keeping its mask (nil when the identity).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    guard training && p > 0 else {
      return LayerTrace(input: input, output: input, lengths: lengths, record: Tensor<Scalar>?.none)
    }
    let mask: Tensor<Scalar> = masks.next(shape: input.shape, p: p)
    return LayerTrace(input: input, output: input * mask, lengths: lengths, record: Optional(mask))
  }

  /// `dY · mask` (or `dY` for the identity).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    let mask = try trace.record(as: Tensor<Scalar>?.self, layer: "Dropout")
    try TrainingError.check("outputGradient", outputGradient, is: trace.output.shape)
    let dX = mask.map { outputGradient * $0 } ?? outputGradient
    return LayerGradients(input: inputGradient ? dX : .zeros(shape: [0]), parameters: [:])
  }
}

/// A seeded generator behind a lock, for masks drawn by non-mutating calls.
final class MaskSource: Sendable {
  private let generator: Mutex<SeededGenerator>

  init(seed: UInt64) { generator = Mutex(SeededGenerator(seed: seed)) }

  /// A mask of `shape`: each element `1/(1−p)` with probability `1 − p`, else 0.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func next<Scalar: BLASScalar>(shape: [Int], p: Double) -> Tensor<Scalar> {
    let count = TensorLayout(contiguous: shape).count
    let keep = Scalar(p >= 1 ? 0 : 1 / (1 - p))
    let scalars = generator.withLock { g in
      (0..<count).map { _ in Double.random(in: 0..<1, using: &g) < p ? 0 : keep }
    }
    return Tensor(shape: shape, scalars: scalars)
  }
}
