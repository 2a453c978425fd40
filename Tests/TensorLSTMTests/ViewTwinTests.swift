import TensorLSTM
import Testing

/// Every view op runs on a Tensor and on the dense twin; after each step the shapes and all
/// elements must agree, and views must share storage with the tensor they came from.
@Suite("View ops against the dense twin")
struct ViewTwinTests {
  /// Splits `count` into a random shape of rank 1...4.
  static func randomShape(count: Int, _ random: inout TestRandom) -> [Int] {
    var factors: [Int] = []
    var rest = count
    var p = 2
    while rest > 1 {
      while rest % p == 0 {
        factors.append(p)
        rest /= p
      }
      p += 1
    }
    let rank = random.int(1...4)
    var shape = [Int](repeating: 1, count: rank)
    for f in factors { shape[random.int(0...(rank - 1))] *= f }
    if count == 0 { shape[random.int(0...(rank - 1))] = 0 }
    return shape
  }

  @Test("random op chains", arguments: 0..<300)
  func randomChain(seed: Int) {
    var random = TestRandom(seed: UInt64(seed))
    let startShape = (0..<random.int(1...4)).map { _ in random.int(1...5) }
    var tensor: Tensor<Double> = random.tensor(startShape)
    var twin = DenseArray(tensor)
    var history: [String] = ["start \(startShape)"]
    for _ in 0..<8 {
      let before = tensor
      var mustShare = true
      let rank = tensor.rank
      switch random.int(0...10) {
      case 0:
        var target = Self.randomShape(count: tensor.count, &random)
        let resolved = target
        if random.bool() && tensor.count > 0 { target[random.int(0...(target.count - 1))] = -1 }
        let view = tensor.reshapedView(target)
        if tensor.isContiguous { #expect(view != nil, "contiguous reshape must be a view") }
        tensor = tensor.reshaped(target)
        twin = twin.reshaped(resolved)
        mustShare = view != nil
        history.append("reshaped(\(target)) view: \(view != nil)")
      case 1 where rank > 0:
        var axes = Array(0..<rank)
        axes.shuffle(using: &random.generator)
        tensor = tensor.permuted(axes.map { random.bool() ? $0 - rank : $0 })
        twin = twin.permuted(axes)
        history.append("permuted(\(axes))")
      case 2 where rank > 0:
        let (a, b) = (random.int(0...(rank - 1)), random.int(0...(rank - 1)))
        tensor = tensor.transposed(a, b - rank)
        var axes = Array(0..<rank)
        axes.swapAt(a, b)
        twin = twin.permuted(axes)
        history.append("transposed(\(a), \(b))")
      case 3 where rank > 1 && tensor.count > 0:
        let axis = random.int(0...(rank - 1))
        let index = random.int(0...(tensor.shape[axis] - 1))
        let negative = random.bool()
        tensor = tensor.selected(axis: axis, index: negative ? index - tensor.shape[axis] : index)
        twin = twin.selected(axis: axis, index: index)
        history.append("selected(axis: \(axis), index: \(index))")
      case 4 where rank > 0:
        let axis = random.int(0...(rank - 1))
        let size = tensor.shape[axis]
        let low = random.int(0...size)
        let high = random.int(low...size)
        let step = random.int(1...3) * (random.bool() ? -1 : 1)
        tensor = tensor.sliced(axis: axis, range: low..<high, step: step)
        twin = twin.sliced(axis: axis, range: low..<high, step: step)
        history.append("sliced(axis: \(axis), range: \(low)..<\(high), step: \(step))")
      case 5 where tensor.count <= 200:
        var target = tensor.shape.map { $0 == 1 ? random.int(1...3) : (random.bool() ? -1 : $0) }
        if random.bool() && rank < 4 { target.insert(random.int(1...3), at: 0) }
        let resolved = zip(target.suffix(rank), tensor.shape).map { $0 == -1 ? $1 : $0 }
        let full = Array(target.prefix(target.count - rank)) + resolved
        tensor = tensor.expanded(to: target)
        twin = twin.expanded(to: full)
        history.append("expanded(to: \(target))")
      case 6 where rank < 5:
        let axis = random.int(0...rank)
        tensor = tensor.unsqueezed(axis: random.bool() ? axis : axis - rank - 1)
        var shape = twin.shape
        shape.insert(1, at: axis)
        twin = twin.reshaped(shape)
        history.append("unsqueezed(axis: \(axis))")
      case 7 where rank > 0:
        let axis = random.int(0...(rank - 1))
        tensor = tensor.squeezed(axis: axis)
        if twin.shape[axis] == 1 {
          var shape = twin.shape
          shape.remove(at: axis)
          twin = twin.reshaped(shape)
        }
        history.append("squeezed(axis: \(axis))")
      case 8 where rank > 0:
        let start = random.int(0...(rank - 1))
        let end = random.int(start...(rank - 1))
        mustShare = tensor.layout.flattenedView(startAxis: start, endAxis: end) != nil
        tensor = tensor.flattened(startAxis: start, endAxis: end)
        let merged = twin.shape[start...end].reduce(1, *)
        twin = twin.reshaped(
          Array(twin.shape[..<start]) + [merged] + Array(twin.shape[(end + 1)...]))
        history.append("flattened(\(start), \(end)) view: \(mustShare)")
      case 9 where rank > 0 && rank < 4:
        let axis = random.int(0...(rank - 1))
        let pieces = Self.randomShape(count: Swift.max(tensor.shape[axis], 1), &random)
        guard tensor.shape[axis] > 0 else { continue }
        tensor = tensor.unflattened(axis: axis, shape: pieces)
        var shape = twin.shape
        shape.replaceSubrange(axis...axis, with: pieces)
        twin = twin.reshaped(shape)
        history.append("unflattened(axis: \(axis), shape: \(pieces))")
      case 10:
        mustShare = before.isContiguous
        tensor = tensor.contiguous()
        #expect(tensor.isContiguous)
        history.append("contiguous()")
      default:
        continue
      }
      let trail = history.joined(separator: " → ")
      #expect(tensor.shape == twin.shape, "\(trail)")
      #expect(tensor.scalars.map { $0 } == twin.values, "\(trail)")
      #expect(tensor.sharesStorage(with: before) == mustShare, "storage sharing after \(trail)")
      if tensor.shape != twin.shape { return }
    }
  }

  @Test("reshape is a view exactly when PyTorch's chunk rule allows it")
  func reshapeViewRule() {
    let x = Tensor<Float>(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
    // Transposed inner axes cannot merge, but splitting the untouched leading axis can.
    let xt = x.transposed(1, 2)  // [2, 4, 3]
    #expect(xt.reshapedView([2, 12]) == nil)
    #expect(xt.reshapedView([1, 2, 4, 3]) != nil)
    #expect(xt.reshapedView([2, 2, 2, 3]) != nil)
    // Size-1 axes never block a view, whatever their stride: [2, 3, 1] with strides
    // [12, 4, 1] merges into [6] with stride 4.
    let column = x.sliced(axis: 2, range: 1..<2)
    #expect(column.reshapedView([6])?.strides == [4])
    // A gap between rows blocks merging them.
    let narrow = x.sliced(axis: 1, range: 0..<2)  // [2, 2, 4], strides [12, 4, 1]
    #expect(narrow.reshapedView([16]) == nil)
    #expect(narrow.reshapedView([2, 8])?.strides == [12, 1])
    // A copy when no view exists, with the right values.
    let copy = xt.reshaped([2, 12])
    #expect(!copy.sharesStorage(with: x))
    #expect(copy.scalars == xt.scalars)
  }

  @Test("views are O(1) values: writing to one never changes another")
  func copyOnWrite() {
    let x = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    var y = x.transposed(0, 1)
    y[scalarAt: [0, 1]] = 40
    #expect(x.scalars == [1, 2, 3, 4, 5, 6])
    #expect(y.scalars == [1, 40, 2, 5, 3, 6])
    #expect(!y.sharesStorage(with: x))
    var unique = Tensor<Float>.zeros(shape: [3])
    let before = unique
    unique[scalarAt: [-1]] = 7
    #expect(before.scalars == [0, 0, 0])
    #expect(unique.scalars == [0, 0, 7])
    // A broadcast view is copied before a write so that one write changes one element.
    var row = Tensor<Float>(shape: [1, 2], scalars: [1, 2]).expanded(to: [3, 2])
    row[scalarAt: [1, 0]] = 9
    #expect(row.scalars == [1, 2, 9, 2, 1, 2])
  }

  @Test("subscript sugar matches the named ops")
  func subscriptSugar() {
    let x = Tensor<Float>.randomNormal(shape: [4, 5, 6], seed: 3)
    #expect(x[.all, -1, .all].scalars == x.selected(axis: 1, index: -1).scalars)
    #expect(x[-1].scalars == x.selected(axis: 0, index: 3).scalars)
    #expect(
      x[.range(1..<4, step: -2)].scalars == x.sliced(axis: 0, range: 1..<4, step: -2).scalars)
    #expect(x[1, 2, 3].shape == [])
    #expect(x[1, 2, 3].scalars == [x[scalarAt: [1, 2, 3]]])
  }

  @Test("a full negative-step slice reverses the axis")
  func reversal() {
    let x = Tensor<Double>(shape: [2, 4], scalars: (0..<8).map(Double.init))
    let r = x.sliced(axis: 1, range: 0..<4, step: -1)
    #expect(r.scalars == [3, 2, 1, 0, 7, 6, 5, 4])
    #expect(r.strides == [4, -1])
    #expect(r.sharesStorage(with: x))
    #expect(r.contiguous().scalars == r.scalars)
  }
}

/// Elementwise walks merge the axes every operand steps through as one (a slice of contiguous
/// rows is one long row): on views of every kind, results equal an element-by-element twin.
@Suite struct MergedWalkTests {
  /// The element at row-major position `i` of `t`, read through `subscript(scalarAt:)`.
  static func element(_ t: Tensor<Float>, _ i: Int) -> Float {
    var index: [Int] = []
    var rest = i
    for size in t.shape.reversed() {
      index.insert(rest % size, at: 0)
      rest /= size
    }
    return t[scalarAt: index]
  }

  @Test(arguments: 0..<48)
  func elementwiseOnViewsMatchesItsTwin(seed: Int) {
    var random = TestRandom(seed: UInt64(seed))
    let base: Tensor<Float> = random.tensor([3, 4, 5, 6])
    // A view of the [3, 4, 5, 6] tensor: slices, steps, permutations, size-1 axes.
    var views: [Tensor<Float>] = [
      base, base.sliced(axis: 1, range: 1..<3), base.sliced(axis: 3, range: 0..<6, step: 2),
      base.permuted([0, 2, 1, 3]), base.sliced(axis: 0, range: 1..<2),
      base.sliced(axis: 2, range: 2..<3).sliced(axis: 1, range: 0..<4, step: 3),
    ]
    views.append(views[random.int(0...4)].permuted([3, 2, 1, 0]))
    let x = views[seed % views.count]
    let y = views[(seed / views.count) % views.count]
    // A second operand of x's shape: y's elements where the shapes agree, else broadcast.
    let other: Tensor<Float> =
      y.shape == x.shape
      ? y : random.tensor(x.shape.map { random.bool() ? 1 : $0 })
    let sum = x + other
    let copy = x.contiguous()
    let doubled = x.relu()
    let broadcastOther = other.expanded(to: x.shape)
    for i in 0..<x.count {
      #expect(Self.element(sum, i) == Self.element(x, i) + Self.element(broadcastOther, i))
      #expect(Self.element(copy, i) == Self.element(x, i))
      #expect(Self.element(doubled, i) == Swift.max(Self.element(x, i), 0))
    }
  }
}
