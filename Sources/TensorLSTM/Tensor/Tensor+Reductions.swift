/// Reductions and normalisations along one axis, with PyTorch's names and shapes.
///
///     let logits = Tensor<Float>.randomNormal(shape: [B, T, C], seed: 1)
///     logits.softmax(axis: -1)                   // [B, T, C], rows summing to 1
///     logits.sum(axis: 1)                        // [B, C]
///     logits.max(axis: -1, keepingAxis: true)    // [B, T, 1]
///
/// The axis is read through its stride (no copy of the input); sums accumulate in `Double`.
/// Cost: one pass (softmax and logSoftmax: three) over the input.
extension Tensor {
  /// Calls `body(inputStart, inputStride, outputStart, outputStride, length)` once per row
  /// along `axis` of this tensor and of `output`, a layout of this shape (or of it with that
  /// axis of size 1, broadcast).
  @inline(__always)
  func forEachRow(
    along axis: Int, output: TensorLayout,
    _ body: (_ x: Int, _ xStride: Int, _ y: Int, _ yStride: Int, _ length: Int) -> Void
  ) {
    let a = layout.normalizedAxis(axis, "axis \(axis) of shape \(shape)")
    var order = Array(0..<rank)
    order.remove(at: a)
    order.append(a)
    StridedWalk.forEachRow(layout.permuted(order), output.permuted(order)) { x, y, n, sx, sy in
      body(x, sx, y, sy, n)
    }
  }

  /// `reduce(row pointer, stride, length)` of every row along `axis`, as a tensor without that
  /// axis (or with it at size 1 when `keepingAxis`).
  @inline(__always)
  func reduced(
    axis: Int, keepingAxis: Bool, _ reduce: (UnsafePointer<Scalar>, Int, Int) -> Scalar
  ) -> Tensor {
    let a = layout.normalizedAxis(axis, "axis \(axis) of shape \(shape)")
    var kept = shape
    kept[a] = 1
    let result = Tensor.zeros(shape: kept)
    let out = result.storage.base
    // The result's layout stretched over the reduced axis with stride 0: every element of a
    // row maps to the row's one output.
    var stretched = result.layout
    stretched.shape[a] = shape[a]
    stretched.strides[a] = 0
    withExtendedLifetime(self) {
      forEachRow(along: a, output: stretched) { x, sx, y, _, n in
        out[y] = reduce(storage.base + x, sx, n)
      }
    }
    return keepingAxis ? result : result.squeezed(axis: a)
  }

  /// The sum along `axis` (PyTorch's `sum(dim, keepdim)`), accumulated in `Double`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func sum(axis: Int, keepingAxis: Bool = false) -> Tensor {
    reduced(axis: axis, keepingAxis: keepingAxis) { x, stride, n in
      Scalar(Tensor.rowSum(x, stride, n))
    }
  }

  /// The sum of `n` elements `stride` apart, in `Double`.
  @inline(__always)
  static func rowSum(_ x: UnsafePointer<Scalar>, _ stride: Int, _ n: Int) -> Double {
    var total = 0.0
    for t in 0..<n { total += Double(x[t * stride]) }
    return total
  }

  /// The mean along `axis` (NaN for an empty axis, as PyTorch).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func mean(axis: Int, keepingAxis: Bool = false) -> Tensor {
    reduced(axis: axis, keepingAxis: keepingAxis) { x, stride, n in
      Scalar(Tensor.rowSum(x, stride, n) / Double(n))
    }
  }

  /// The largest element along `axis` (NaN if any is NaN, as PyTorch's `amax`).
  ///
  /// - Precondition: the axis is not empty.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func max(axis: Int, keepingAxis: Bool = false) -> Tensor {
    let a = layout.normalizedAxis(axis, "max(axis: \(axis)) of shape \(shape)")
    require(shape[a] > 0, "max(axis: \(axis)): the axis of shape \(shape) is empty")
    return reduced(axis: a, keepingAxis: keepingAxis) { x, stride, n in
      Tensor.rowMax(x, stride, n)
    }
  }

  /// The largest of `n` elements `stride` apart; NaN wins.
  @inline(__always)
  static func rowMax(_ x: UnsafePointer<Scalar>, _ stride: Int, _ n: Int) -> Scalar {
    var top = -Scalar.infinity
    var sawNaN = false
    for t in 0..<n {
      let v = x[t * stride]
      sawNaN = sawNaN || v.isNaN
      top = v > top ? v : top
    }
    return sawNaN ? .nan : top
  }

  /// `softmax(x)` along `axis`: `exp(x − max) / Σ exp(x − max)`, as `torch.softmax`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func softmax(axis: Int) -> Tensor {
    normalized(axis: axis, logarithm: false)
  }

  /// `log(softmax(x))` along `axis`, computed as `x − max − log Σ exp(x − max)` (no log of a
  /// rounded probability), as `torch.log_softmax`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func logSoftmax(axis: Int) -> Tensor {
    normalized(axis: axis, logarithm: true)
  }

  @inline(__always)
  func normalized(axis: Int, logarithm: Bool) -> Tensor {
    let result = Tensor.zeros(shape: shape)
    let (x, y) = Tensor.rowLayouts(layout, result.layout, axis: axis)
    Tensor.normalize(self, x, into: result, y, logarithm: logarithm)
    return result
  }

  /// `x` and `y` permuted so that `axis` is innermost: the rows ``normalize(_:_:into:_:logarithm:)``
  /// walks.
  static func rowLayouts(_ x: TensorLayout, _ y: TensorLayout, axis: Int)
    -> (TensorLayout, TensorLayout)
  {
    let a = x.normalizedAxis(axis, "axis \(axis) of shape \(x.shape)")
    var order = Array(0..<x.rank)
    order.remove(at: a)
    order.append(a)
    return (x.permuted(order), y.permuted(order))
  }

  /// softmax (or logSoftmax) of `input`'s rows into `result`'s, both read through layouts
  /// from ``rowLayouts(_:_:axis:)``; allocates nothing.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func normalize(
    _ input: Tensor, _ rows: TensorLayout, into result: Tensor, _ resultRows: TensorLayout,
    logarithm: Bool
  ) {
    let out = result.storage.base
    withExtendedLifetime((input, result)) {
      StridedWalk.forEachRow(rows, resultRows) { x, y, n, sx, sy in
        guard n > 0 else { return }
        let input = input.storage.base + x
        let top = Double(Tensor.rowMax(input, sx, n))
        // An all −∞ row (or +∞ max) shifts by 0 so that the result is NaN/0 as PyTorch's.
        let shift = top.isFinite ? top : 0
        var total = 0.0
        for t in 0..<n {
          let e = Activations.preciseExp(Double(input[t * sx]) - shift)
          total += e
          if !logarithm { out[y + t * sy] = Scalar(e) }
        }
        if logarithm {
          let offset = shift + Activations.preciseLog(total)
          for t in 0..<n { out[y + t * sy] = Scalar(Double(input[t * sx]) - offset) }
        } else {
          let scale = 1 / total
          for t in 0..<n { out[y + t * sy] = Scalar(Double(out[y + t * sy]) * scale) }
        }
      }
    }
  }
}
