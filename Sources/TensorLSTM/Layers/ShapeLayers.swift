/// The article's three moves as layers: take each sequence's last step, flatten, permute.
///
///     Sequential<Float> {
///       LSTM<Float>(inputSize: 8, hiddenSize: 16, batchFirst: true)
///       LastStep<Float>()                      // [B, T, H] → [B, H], length-aware
///     }
///     Flatten<Float>()                         // [B, T, H] → [B, T·H] (view)
///     Permute<Float>([0, 2, 1])                // [B, T, H] → [B, H, T] for a Conv1d (view)
public struct LastStep<Scalar: BLASScalar>: ElementwiseLayer {
  /// Whether the input is `[B, T, F]` (default, the article's) or `[T, B, F]`.
  public let batchFirst: Bool
  /// No effect on the computation.
  public var training = true
  /// Picks `[B, T, F]` → `[B, F]` (or time-major with `batchFirst: false`).
  public init(batchFirst: Bool = true) { self.batchFirst = batchFirst }

  /// Each sequence's output at its last valid step (`lengths[b] − 1`; the last step without
  /// lengths, a view then). Padded batches: `output[:, -1, :]` would return padding.
  /// - Throws: ``LayerError`` for an input that is not rank 3 or bad lengths.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    let (timeAxis, batchAxis) = batchFirst ? (1, 0) : (0, 1)
    guard input.rank == 3 else {
      throw LayerError.rankMismatch(
        name: "input", expected: batchFirst ? "[B, T, F]" : "[T, B, F]", actual: input.shape)
    }
    guard let lengths else { return input.selected(axis: timeAxis, index: -1) }
    let (batch, steps) = (input.shape[batchAxis], input.shape[timeAxis])
    guard lengths.count == batch, lengths.allSatisfy({ (1...steps).contains($0) }) else {
      throw LayerError.invalidLengths(
        "expected \(batch) lengths in 1...\(steps), got \(lengths)")
    }
    return Tensor.stacked(
      lengths.enumerated().map { b, length in
        input.selected(axis: batchAxis, index: b).selected(axis: 0, index: length - 1)
      }, axis: 0)
  }

  /// dY placed at each sequence's last valid step; zeros elsewhere.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    let shape = trace.input.shape
    var dX = Tensor<Scalar>.zeros(shape: shape)
    let steps = shape[batchFirst ? 1 : 0]
    for b in 0..<dY.shape[0] {
      let t = (trace.lengths?[b] ?? steps) - 1
      if batchFirst { dX[b, t] = dY[b] } else { dX[t, b] = dY[b] }
    }
    return dX
  }
}

/// `nn.Flatten(start_dim, end_dim)`: axes `startDim...endDim` merged (a view when strides
/// allow, as ``Tensor/flattened(startAxis:endAxis:)``).
public struct Flatten<Scalar: BLASScalar>: ElementwiseLayer {
  /// The first axis merged (PyTorch's default 1).
  public let startDim: Int
  /// The last axis merged (default −1).
  public let endDim: Int
  /// No effect on the computation.
  public var training = true
  /// `nn.Flatten(start_dim=startDim, end_dim=endDim)`.
  public init(startDim: Int = 1, endDim: Int = -1) {
    (self.startDim, self.endDim) = (startDim, endDim)
  }
  /// The flattened view.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.flattened(startAxis: startDim, endAxis: endDim)
  }
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    dY.reshaped(trace.input.shape)
  }
}

/// `x.permute(axes)` as a layer (a view), e.g. `[B, T, H]` → `[B, H, T]` before a `Conv1d`.
public struct Permute<Scalar: BLASScalar>: ElementwiseLayer {
  /// The new order of the axes.
  public let axes: [Int]
  /// No effect on the computation.
  public var training = true
  /// A permutation of `0..<rank`.
  public init(_ axes: [Int]) { self.axes = axes }
  /// The permuted view.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    input.permuted(axes)
  }
  /// dY permuted back.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func inputGradient(_ trace: LayerTrace<Scalar>, _ dY: Tensor<Scalar>) throws -> Tensor<Scalar> {
    var inverse = [Int](repeating: 0, count: axes.count)
    for (i, a) in axes.enumerated() { inverse[(a + axes.count) % axes.count] = i }
    return dY.permuted(inverse)
  }
}
