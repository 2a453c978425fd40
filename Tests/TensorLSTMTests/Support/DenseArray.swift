import TensorLSTM

/// The checking twin: a plain row-major array with each view op written as "for every output
/// index, which input index?" — no strides, no sharing. Tests run every op on a ``Tensor`` and
/// on this, and compare all elements after each step.
struct DenseArray: Equatable {
  var shape: [Int]
  var values: [Double]

  init(shape: [Int], values: [Double]) {
    precondition(shape.reduce(1, *) == values.count)
    self.shape = shape
    self.values = values
  }

  init<S: BLASScalar>(_ tensor: Tensor<S>) {
    self.init(shape: tensor.shape, values: tensor.scalars.map(Double.init))
  }

  /// All multi-indices of `shape` in row-major order.
  static func indices(of shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for size in shape {
      result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } }
    }
    return result
  }

  func flatIndex(_ index: [Int]) -> Int {
    var flat = 0
    for (i, size) in zip(index, shape) { flat = flat * size + i }
    return flat
  }

  /// A new array of `newShape` whose element at `i` is this array's element at `source(i)`.
  func mapped(to newShape: [Int], _ source: ([Int]) -> [Int]) -> DenseArray {
    DenseArray(
      shape: newShape,
      values: DenseArray.indices(of: newShape).map { values[flatIndex(source($0))] })
  }

  func permuted(_ axes: [Int]) -> DenseArray {
    mapped(to: axes.map { shape[$0] }) { index in
      var old = [Int](repeating: 0, count: index.count)
      for (k, axis) in axes.enumerated() { old[axis] = index[k] }
      return old
    }
  }

  func reshaped(_ newShape: [Int]) -> DenseArray { DenseArray(shape: newShape, values: values) }

  func selected(axis: Int, index: Int) -> DenseArray {
    var newShape = shape
    newShape.remove(at: axis)
    return mapped(to: newShape) { i in
      var old = i
      old.insert(index, at: axis)
      return old
    }
  }

  /// Positions of `range`, every `|step|`-th: forwards from its first for a positive step,
  /// backwards from its last for a negative one (Swift's `stride`, NumPy's `x[a:b][::step]`).
  func sliced(axis: Int, range: Range<Int>, step: Int) -> DenseArray {
    let picked =
      step > 0
      ? Array(stride(from: range.lowerBound, to: range.upperBound, by: step))
      : Array(stride(from: range.upperBound - 1, through: range.lowerBound, by: step))
    var newShape = shape
    newShape[axis] = picked.count
    return mapped(to: newShape) { i in
      var old = i
      old[axis] = picked[i[axis]]
      return old
    }
  }

  func expanded(to newShape: [Int]) -> DenseArray {
    let lead = newShape.count - shape.count
    return mapped(to: newShape) { i in
      (0..<shape.count).map { axis in shape[axis] == 1 ? 0 : i[lead + axis] }
    }
  }
}
