/// A fully connected layer, PyTorch's `nn.Linear`: `y = x · weightᵀ + bias` on `[*, in]`.
///
///     let dense = Linear<Float>(inFeatures: 640, outFeatures: 10)
///     let logits = try dense(lstmOutput.flattened(startAxis: 1))   // [B, T·H] → [B, 10]
///
/// Parameters: `weight` `[out, in]`, `bias` `[out]` (PyTorch names and shapes).
public struct Linear<Scalar: BLASScalar>: Sendable, StateDictLayer {
  /// Features per input row.
  public let inFeatures: Int
  /// Features per output row.
  public let outFeatures: Int
  /// Whether the layer adds `bias`.
  public let hasBias: Bool
  /// `[out, in]`.
  public private(set) var weight: Tensor<Scalar>
  /// `[out]`, or nil without bias.
  public private(set) var bias: Tensor<Scalar>?
  /// Training or evaluation mode (``Layer``); the layer computes the same in both.
  public var training = true

  /// A layer with PyTorch's default initialisation, U(−1/√in, 1/√in); allocates.
  public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, seed: UInt64 = 0) {
    require(
      inFeatures > 0 && outFeatures > 0,
      "Linear: inFeatures (\(inFeatures)) and outFeatures (\(outFeatures)) must be positive")
    requireCountable(
      [[outFeatures, inFeatures]], "Linear(inFeatures: \(inFeatures), outFeatures: \(outFeatures))")
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.hasBias = bias
    let shapes = [[outFeatures, inFeatures]] + (bias ? [[outFeatures]] : [])
    let parameters: [Tensor<Scalar>] = uniformParameters(
      shapes: shapes, fanIn: inFeatures, seed: seed)
    weight = parameters[0]
    self.bias = bias ? parameters[1] : nil
  }

  /// `weight` and, with bias, `bias`.
  public var parameterShapes: [(name: String, shape: [Int])] {
    [("weight", [outFeatures, inFeatures])] + (hasBias ? [("bias", [outFeatures])] : [])
  }

  /// The parameters by PyTorch name; shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] {
    WeightAndBias.stateDict(weight, bias)
  }

  /// Replaces `weight` (and `bias`); validates before changing anything; copies.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    (weight, bias) = try WeightAndBias.load(dict, expected: parameterShapes)
  }

  /// `x · weightᵀ + bias` for `x` of shape `[*, in]`, any strides.
  ///
  ///     try dense(x)   // [B, T, in] → [B, T, out]
  ///
  /// One GEMM when the leading axes of `x` merge into a view (always for contiguous `x`), a
  /// batch of GEMMs otherwise; `weight` is read transposed, never copied. Allocates the result.
  /// - Throws: ``LayerError`` when `x` has no axes or its last axis is not `inFeatures`.
  public func callAsFunction(_ x: Tensor<Scalar>) throws -> Tensor<Scalar> {
    guard x.rank >= 1 else {
      throw LayerError.rankMismatch(name: "input", expected: "[*, \(inFeatures)]", actual: x.shape)
    }
    guard x.shape[x.rank - 1] == inFeatures else {
      var expected = x.shape
      expected[x.rank - 1] = inFeatures
      throw LayerError.shapeMismatch(name: "input", expected: expected, actual: x.shape)
    }
    let rows = x.reshapedView([-1, inFeatures]) ?? x
    let outputShape = Array(x.shape.dropLast()) + [outFeatures]
    var y: Tensor<Scalar>
    if let bias {
      y = bias.expanded(to: Array(rows.shape.dropLast()) + [outFeatures]).contiguous()
    } else {
      y = .zeros(shape: Array(rows.shape.dropLast()) + [outFeatures])
    }
    matmul(rows, weight.transposed(0, 1), into: &y, beta: hasBias ? 1 : 0)
    return y.reshaped(outputShape)
  }
}
