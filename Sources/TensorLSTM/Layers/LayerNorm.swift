/// Normalises the trailing `normalizedShape` axes of every element to zero mean and unit
/// variance, then scales and shifts, PyTorch's `nn.LayerNorm`:
/// `y = (x − mean) / √(var + eps) · weight + bias` (biased variance).
///
///     let norm = LayerNorm<Float>(normalizedShape: [32])
///     let y = try norm(x)   // [*, 32] → [*, 32]
///
/// Parameters `weight` and `bias` of `normalizedShape` (ones and zeros) when
/// `elementwiseAffine`. Statistics in `Double`; one pass to normalise, one to write.
public struct LayerNorm<Scalar: BLASScalar>: Layer {
  /// The trailing shape normalised over.
  public let normalizedShape: [Int]
  /// Added to the variance.
  public let eps: Double
  /// Whether `weight` and `bias` exist.
  public let elementwiseAffine: Bool
  /// `normalizedShape`, or nil without affine parameters.
  public private(set) var weight: Tensor<Scalar>?
  /// `normalizedShape`, or nil without affine parameters.
  public private(set) var bias: Tensor<Scalar>?
  /// Training or evaluation mode; the same in both.
  public var training = true

  /// - Precondition: a non-empty shape of positive sizes; `eps` ≥ 0.
  public init(normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true) {
    require(
      !normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 } && eps >= 0,
      "LayerNorm: normalizedShape \(normalizedShape) must be non-empty with positive sizes, eps (\(eps)) ≥ 0"
    )
    requireCountable([normalizedShape], "LayerNorm(normalizedShape: \(normalizedShape))")
    (self.normalizedShape, self.eps, self.elementwiseAffine) =
      (normalizedShape, eps, elementwiseAffine)
    if elementwiseAffine {
      weight = Tensor(repeating: 1, shape: normalizedShape)
      bias = Tensor(repeating: 0, shape: normalizedShape)
    }
  }

  /// `weight` and `bias` with affine parameters.
  public var parameterShapes: [(name: String, shape: [Int])] {
    elementwiseAffine ? [("weight", normalizedShape), ("bias", normalizedShape)] : []
  }

  /// The parameters by PyTorch name; shares storage.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func stateDict() -> [String: Tensor<Scalar>] {
    guard let weight, let bias else { return [:] }
    return ["weight": weight, "bias": bias]
  }

  /// Replaces `weight` and `bias`; validates first; copies.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try StateDictCheck.validate(dict, expected: parameterShapes)
    (weight, bias) = (dict["weight"]?.contiguous(), dict["bias"]?.contiguous())
  }

  /// Elements per normalised group.
  var width: Int { normalizedShape.reduce(1, *) }

  /// The rows `[N, width]` of `x`, checked.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func rows(_ x: Tensor<Scalar>) throws -> Tensor<Scalar> {
    guard x.rank >= normalizedShape.count,
      Array(x.shape.suffix(normalizedShape.count)) == normalizedShape
    else {
      throw LayerError.rankMismatch(
        name: "input", expected: "[*, \(normalizedShape.map(String.init).joined(separator: ", "))]",
        actual: x.shape)
    }
    return x.contiguous().reshaped([-1, width])
  }

  /// The normalised rows `x̂` and each row's `1/√(var + eps)`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func normalize(_ rows: Tensor<Scalar>) -> (
    normalized: Tensor<Scalar>, inverseDeviations: [Double]
  ) {
    let (n, w) = (rows.shape[0], width)
    var normalized = Tensor<Scalar>.zeros(shape: [n, w])
    var inverse = [Double](repeating: 0, count: n)
    rows.withBase { x in
      normalized.withMutableBase { y in
        for r in 0..<n {
          let row = x + r * w
          var mean = 0.0
          for j in 0..<w { mean += Double(row[j]) }
          mean /= Double(w)
          var variance = 0.0
          for j in 0..<w {
            let d = Double(row[j]) - mean
            variance += d * d
          }
          let scale = 1 / (variance / Double(w) + eps).squareRoot()
          inverse[r] = scale
          for j in 0..<w { y[r * w + j] = Scalar((Double(row[j]) - mean) * scale) }
        }
      }
    }
    return (normalized, inverse)
  }

  /// `x̂ · weight + bias`, in `x`'s shape.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func affine(_ normalized: Tensor<Scalar>, shape: [Int]) -> Tensor<Scalar> {
    guard let weight, let bias else { return normalized.reshaped(shape) }
    return (normalized * weight.reshaped([width]) + bias.reshaped([width])).reshaped(shape)
  }

  /// The normalisation of `x` `[*, normalizedShape]`.
  /// - Throws: ``LayerError`` when `x` does not end in `normalizedShape`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    affine(normalize(try rows(input)).normalized, shape: input.shape)
  }

  /// The forward, keeping `x̂` and the inverse deviations.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    let (normalized, inverse) = normalize(try rows(input))
    return LayerTrace(
      input: input, output: affine(normalized, shape: input.shape), lengths: lengths,
      record: NormRecord(normalized: normalized, inverseDeviations: inverse))
  }

  struct NormRecord: Sendable {
    var normalized: Tensor<Scalar>
    var inverseDeviations: [Double]
  }

  /// `dx = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) / σ` with `dx̂ = dY · weight`;
  /// `dweight = Σ dY · x̂`, `dbias = Σ dY` over the rows.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    let record = try trace.record(as: NormRecord.self, layer: "LayerNorm")
    try TrainingError.check("outputGradient", outputGradient, is: trace.output.shape)
    let (n, w) = (record.normalized.shape[0], width)
    let dY = outputGradient.contiguous().reshaped([n, w])
    var parameters: [String: Tensor<Scalar>] = [:]
    if elementwiseAffine {
      parameters["weight"] = (dY * record.normalized).sum(axis: 0).reshaped(normalizedShape)
      parameters["bias"] = dY.sum(axis: 0).reshaped(normalizedShape)
    }
    guard inputGradient else {
      return LayerGradients(input: .zeros(shape: [0]), parameters: parameters)
    }
    let dNormalized = weight.map { dY * $0.reshaped([w]) } ?? dY
    var dX = Tensor<Scalar>.zeros(shape: [n, w])
    dNormalized.withBase { g in
      record.normalized.withBase { xh in
        dX.withMutableBase { out in
          for r in 0..<n {
            var (meanG, meanGX) = (0.0, 0.0)
            for j in 0..<w {
              let (gj, xj) = (Double(g[r * w + j]), Double(xh[r * w + j]))
              meanG += gj
              meanGX += gj * xj
            }
            (meanG, meanGX) = (meanG / Double(w), meanGX / Double(w))
            let s = record.inverseDeviations[r]
            for j in 0..<w {
              let (gj, xj) = (Double(g[r * w + j]), Double(xh[r * w + j]))
              out[r * w + j] = Scalar((gj - meanG - xj * meanGX) * s)
            }
          }
        }
      }
    }
    return LayerGradients(input: dX.reshaped(trace.input.shape), parameters: parameters)
  }
}
