/// The activations as layers, PyTorch's `nn.ReLU`, `nn.Tanh`, `nn.Sigmoid`, `nn.GELU`,
/// `nn.Softmax(dim)`, `nn.LogSoftmax(dim)`: the tensor operations of the same names, with their backwards.
///
///     Sequential<Float> { Linear<Float>(inFeatures: 8, outFeatures: 8); ReLU<Float>() }
///
/// No parameters; cost one pass over the input (softmax: three).
public struct ReLU<Scalar: BLASScalar>: ElementwiseLayer {
  /// No effect on the computation.
  public var training = true
  /// `nn.ReLU()`.
  public init() {}
  /// `max(x, 0)`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.relu()
  }
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    Tensor.zipped(trace.input, dY) { x, g in x > 0 ? g : 0 }
  }
}

/// `nn.Tanh`; see ``ReLU``.
public struct Tanh<Scalar: BLASScalar>: ElementwiseLayer {
  /// No effect on the computation.
  public var training = true
  /// `nn.Tanh()`.
  public init() {}
  /// `tanh(x)`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.tanh()
  }
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    Tensor.zipped(trace.output, dY) { y, g in g * (1 - y * y) }
  }
}

/// `nn.Sigmoid`; see ``ReLU``.
public struct Sigmoid<Scalar: BLASScalar>: ElementwiseLayer {
  /// No effect on the computation.
  public var training = true
  /// `nn.Sigmoid()`.
  public init() {}
  /// `1 / (1 + e^−x)`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.sigmoid()
  }
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    Tensor.zipped(trace.output, dY) { y, g in g * y * (1 - y) }
  }
}

/// `nn.GELU()` (the exact, erf form); see ``ReLU``.
public struct GELU<Scalar: BLASScalar>: ElementwiseLayer {
  /// No effect on the computation.
  public var training = true
  /// `nn.GELU()`.
  public init() {}
  /// `x · Φ(x)`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.gelu()
  }
  /// `dY · (Φ(x) + x · φ(x))`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    Tensor.zipped(trace.input, dY) { xs, g in
      let x = Double(xs)
      let cdf = 0.5 * (1 + Activations.preciseErf(x * 0.7071067811865476))
      let pdf = Activations.preciseExp(-0.5 * x * x) * 0.3989422804014327
      return Scalar(Double(g) * (cdf + x * pdf))
    }
  }
}

/// `nn.Softmax(dim)`; see ``ReLU``.
public struct Softmax<Scalar: BLASScalar>: ElementwiseLayer {
  /// The axis normalised over.
  public let dim: Int
  /// No effect on the computation.
  public var training = true
  /// `nn.Softmax(dim=dim)`.
  public init(dim: Int) { self.dim = dim }
  /// `softmax(x)` along `dim`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.softmax(axis: dim)
  }
  /// `y · (dY − Σ dY·y)` along `dim`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    let y = trace.output
    return y * (dY - (dY * y).sum(axis: dim, keepingAxis: true))
  }
}

/// `nn.LogSoftmax(dim)`; see ``ReLU``.
public struct LogSoftmax<Scalar: BLASScalar>: ElementwiseLayer {
  /// The axis normalised over.
  public let dim: Int
  /// No effect on the computation.
  public var training = true
  /// `nn.LogSoftmax(dim=dim)`.
  public init(dim: Int) { self.dim = dim }
  /// `log(softmax(x))` along `dim`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.logSoftmax(axis: dim)
  }
  /// `dY − softmax · Σ dY` along `dim`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    dY - trace.output.exp() * dY.sum(axis: dim, keepingAxis: true)
  }
}
