import Foundation
import TensorLSTM
import Testing

/// Tensor operations against dense twins: plain loops over logical indices with libm in
/// `Double`, over random shapes, operand layouts (permuted, stepped, reversed, broadcast) and
/// broadcast pairs.
@Suite("Tensor operations")
struct TensorOpsTests {
  static let layouts = ["plain", "permuted", "stepped", "reversed", "broadcast"]

  /// A tensor of `shape` whose elements sit in the layout `name` (same logical values as a
  /// plain tensor from the same draw would not have: each layout draws its own values).
  static func tensor<S: BLASScalar>(
    _ shape: [Int], _ name: String, _ random: inout TestRandom, positive: Bool = false
  ) -> Tensor<S> {
    var t: Tensor<S>
    switch name {
    case "permuted" where shape.count >= 2:
      let order = Array((0..<shape.count).reversed())
      t = random.tensor(order.map { shape[$0] }).permuted(order)
    case "stepped" where !shape.isEmpty:
      var big = shape
      big[0] = 2 * shape[0] + 1
      t = random.tensor(big).sliced(axis: 0, range: 1..<big[0], step: 2)
    case "reversed" where !shape.isEmpty:
      t = random.tensor(shape).sliced(axis: shape.count - 1, range: 0..<shape.last!, step: -1)
    case "broadcast" where !shape.isEmpty:
      var one = shape
      one[shape.count - 1] = 1
      t = random.tensor(one).expanded(to: shape)
    default:
      t = random.tensor(shape)
    }
    return positive ? t.abs() + S(0.25) : t
  }

  /// The element of `t` that broadcasting reads at output index `index`.
  static func element<S: BLASScalar>(_ t: Tensor<S>, at index: [Int]) -> Double {
    let offset = index.count - t.rank
    return Double(
      t[scalarAt: (0..<t.rank).map { t.shape[$0] == 1 ? 0 : index[$0 + offset] }])
  }

  /// Every multi-index of `shape` in row-major order.
  static func indices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for size in shape { result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } } }
    return result
  }

  /// A random broadcast pair: `b` drops leading axes and sets some sizes to 1.
  static func pair(_ random: inout TestRandom) -> ([Int], [Int]) {
    let rank = random.int(0...4)
    let a = (0..<rank).map { _ in random.int(1...5) }
    var b = Array(a.dropFirst(random.int(0...rank)))
    for i in b.indices where random.int(0...2) == 0 { b[i] = 1 }
    return random.bool() ? (a, b) : (b, a)
  }

  @Test(
    "buffer pointers read every layout in logical order and write only their own tensor",
    arguments: layouts)
  func bufferPointers(layout: String) {
    var random = TestRandom(seed: 31)
    var t: Tensor<Float> = Self.tensor([3, 4], layout, &random)
    let shared = t
    let read = t.withUnsafeBufferPointer { Array($0) }
    #expect(read == t.scalars)
    t.withUnsafeMutableBufferPointer { buffer in
      for i in buffer.indices { buffer[i] = Float(i) }
    }
    #expect(t.scalars == (0..<12).map(Float.init))
    #expect(t.isContiguous)
    // The copy taken before the write keeps its values: writes never reach shared storage.
    #expect(shared.scalars == read)
    // A uniquely held contiguous tensor is written in place, without a copy.
    var plain = Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3, 4])
    let before = plain.withUnsafeBufferPointer { $0.baseAddress! }
    let after = plain.withUnsafeMutableBufferPointer { $0.baseAddress! }
    #expect(before == after)
  }

  @Test("+ − × ÷ and pow with broadcasting, every layout", arguments: layouts, 0..<6)
  func binary(layout: String, seed: Int) throws {
    var random = TestRandom(seed: UInt64(seed) * 31 + 7)
    let (sa, sb) = Self.pair(&random)
    let a: Tensor<Double> = Self.tensor(sa, layout, &random)
    let b: Tensor<Double> = Self.tensor(sb, Self.layouts[seed % 5], &random)
    let shape = Tensor<Double>.broadcastShape(sa, sb)
    let operations: [(String, Tensor<Double>, (Double, Double) -> Double)] = [
      ("+", a + b, +), ("-", a - b, -), ("*", a * b, *), ("/", a / b, /),
      ("pow", a.abs().pow(b), { Foundation.pow(Swift.abs($0), $1) }),
    ]
    for (name, result, twin) in operations {
      #expect(result.shape == shape, "\(name): \(sa) with \(sb)")
      let expected = Self.indices(shape).map {
        twin(Self.element(a, at: $0), Self.element(b, at: $0))
      }
      expectClose(result.scalars, expected, absolute: 1e-12, relative: 1e-12, "\(name) \(sa) \(sb)")
    }
    // Scalar operands are rank-0 tensors.
    expectClose((a * 3 - 1).scalars, a.scalars.map { $0 * 3 - 1 }, absolute: 0, relative: 0)
    expectClose((2 / a.abs().pow(0.5)).scalars, a.scalars.map { 2 / Swift.abs($0).squareRoot() })
  }

  @Test("unary ops and activations, Float and Double, every layout", arguments: layouts)
  func unary(layout: String) throws {
    var random = TestRandom(seed: 11)
    let shape = [3, 4, 5]
    let x: Tensor<Double> = Self.tensor(shape, layout, &random)
    let scaled = x * 6
    let positive = x.abs() + 1e-3
    let cases: [(String, Tensor<Double>, [Double])] = [
      ("neg", -x, x.scalars.map { -$0 }),
      ("abs", x.abs(), x.scalars.map { Swift.abs($0) }),
      ("sqrt", positive.sqrt(), positive.scalars.map { $0.squareRoot() }),
      ("exp", scaled.exp(), scaled.scalars.map { Foundation.exp($0) }),
      ("log", positive.log(), positive.scalars.map { Foundation.log($0) }),
      ("relu", x.relu(), x.scalars.map { Swift.max($0, 0) }),
      ("sigmoid", scaled.sigmoid(), scaled.scalars.map { 1 / (1 + Foundation.exp(-$0)) }),
      ("tanh", scaled.tanh(), scaled.scalars.map { Foundation.tanh($0) }),
      (
        "gelu", scaled.gelu(),
        scaled.scalars.map { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
      ),
    ]
    for (name, result, expected) in cases {
      #expect(result.shape == shape)
      expectClose(result.scalars, expected, absolute: 1e-14, relative: 1e-13, "\(name) Double")
    }
    // Float: the same within Float's rounding (tanh/sigmoid: the 1e-6 rational form).
    let xf = Tensor<Float>(shape: shape, scalars: scaled.scalars.map(Float.init))
    let floatCases: [(String, Tensor<Float>, [Double])] = [
      ("exp", xf.exp(), xf.scalars.map { Foundation.exp(Double($0)) }),
      (
        "log", (xf.abs() + 1e-3).log(),
        xf.scalars.map { Foundation.log(Double(Swift.abs($0) + 1e-3)) }
      ),
      ("sigmoid", xf.sigmoid(), xf.scalars.map { 1 / (1 + Foundation.exp(-Double($0))) }),
      ("tanh", xf.tanh(), xf.scalars.map { Foundation.tanh(Double($0)) }),
    ]
    for (name, result, expected) in floatCases {
      expectClose(
        result.scalars.map(Double.init), expected, absolute: 2e-6, relative: 2e-6, "\(name) Float")
    }
  }

  @Test("erf over −7…7 and at the edges is libm's to 4e-15 relative")
  func erfSweep() {
    for i in 0...14_000 {
      let x = -7 + Double(i) * 0.001
      let (ours, libm) = (Activations.preciseErf(x), Foundation.erf(x))
      #expect(
        abs(ours - libm) <= 4e-15 * Swift.max(abs(libm), 1e-300), "erf(\(x)): \(ours) vs \(libm)")
    }
    #expect(Activations.preciseErf(.nan).isNaN && Activations.preciseErf(-.infinity) == -1)
    #expect(Activations.preciseErf(1e-300) == Foundation.erf(1e-300))
  }

  @Test("log and exp at the edges behave as libm's")
  func edges() {
    let x = Tensor<Double>(
      shape: [9], scalars: [0, -0.0, -1, .infinity, .nan, 5e-324, 1e-310, 1e308, 1])
    let logs = x.log().scalars
    let expected = x.scalars.map { Foundation.log($0) }
    for (l, e) in zip(logs, expected) {
      #expect((l.isNaN && e.isNaN) || l == e || Swift.abs(l - e) <= 4 * e.ulp, "\(l) vs \(e)")
    }
    let p = Tensor<Double>(shape: [4], scalars: [-2, -2, 0, 3]).pow(
      Tensor(shape: [4], scalars: [3, 0.5, 0, -1]))
    #expect(Swift.abs(p.scalars[0] + 8) < 1e-14 && p.scalars[1].isNaN && p.scalars[2] == 1)
    #expect(Swift.abs(p.scalars[3] - 1.0 / 3) < 1e-15)
  }

  @Test(
    "sum, mean, max, softmax and logSoftmax along every axis, every layout",
    arguments: layouts)
  func reductions(layout: String) throws {
    var random = TestRandom(seed: 23)
    let shape = [3, 4, 5]
    let x: Tensor<Double> = Self.tensor(shape, layout, &random)
    for axis in -3..<3 {
      let a = (axis + 3) % 3
      var kept = shape
      kept[a] = 1
      let rows = Self.indices(kept)
      func along(_ index: [Int]) -> [Double] {
        (0..<shape[a]).map { i in
          var j = index
          j[a] = i
          return Double(x[scalarAt: j])
        }
      }
      let sums = rows.map { along($0).reduce(0, +) }
      expectClose(x.sum(axis: axis).scalars, sums, absolute: 1e-13, relative: 1e-13, "sum")
      #expect(
        x.sum(axis: axis).shape == shape.enumerated().filter { $0.offset != a }.map(\.element))
      #expect(x.sum(axis: axis, keepingAxis: true).shape == kept)
      expectClose(
        x.mean(axis: axis).scalars, sums.map { $0 / Double(shape[a]) }, absolute: 1e-13,
        relative: 1e-13, "mean")
      #expect(x.max(axis: axis).scalars == rows.map { along($0).max()! })
      // softmax: each row's exp(x − max) / Σ, written back at the row's positions.
      var soft = [Double](repeating: 0, count: x.count)
      var logSoft = soft
      let flat = Self.indices(shape)
      for row in rows {
        let v = along(row)
        let top = v.max()!
        let total = v.map { Foundation.exp($0 - top) }.reduce(0, +)
        for (i, value) in v.enumerated() {
          var j = row
          j[a] = i
          let k = flat.firstIndex(of: j)!
          soft[k] = Foundation.exp(value - top) / total
          logSoft[k] = value - top - Foundation.log(total)
        }
      }
      expectClose(x.softmax(axis: axis).scalars, soft, absolute: 1e-15, relative: 1e-13, "softmax")
      expectClose(
        x.logSoftmax(axis: axis).scalars, logSoft, absolute: 1e-14, relative: 1e-13, "logSoftmax")
    }
  }

  @Test("softmax of huge logits stays finite; a NaN row stays NaN")
  func softmaxStability() {
    let x = Tensor<Float>(shape: [2, 3], scalars: [1e30, 1e30, -1e30, .nan, 0, 1])
    let s = x.softmax(axis: -1).scalars
    #expect(s[0] == 0.5 && s[1] == 0.5 && s[2] == 0)
    #expect(s[3...].allSatisfy { $0.isNaN })
    #expect(x.logSoftmax(axis: 1).scalars[2] < -1e29)
  }

  @Test("concatenated, stacked and split: twins of slicing, every layout", arguments: layouts)
  func joining(layout: String) throws {
    var random = TestRandom(seed: 37)
    let parts: [Tensor<Float>] = [[2, 3, 4], [2, 1, 4], [2, 5, 4]].map {
      Self.tensor($0, layout, &random)
    }
    let joined = Tensor.concatenated(parts, axis: 1)
    #expect(joined.shape == [2, 9, 4])
    let pieces = joined.split(sizes: [3, 1, 5], axis: -2)
    for (piece, part) in zip(pieces, parts) {
      #expect(piece.shape == part.shape && piece.scalars == part.scalars)
      #expect(piece.sharesStorage(with: joined), "split returns views")
    }
    let same: [Tensor<Float>] = (0..<3).map { _ in Self.tensor([2, 4], layout, &random) }
    for axis in [0, 1, 2, -1] {
      let s = Tensor.stacked(same, axis: axis)
      let a = (axis + 3) % 3
      #expect(s.shape == [2, 4].inserting(3, at: a))
      for (i, t) in same.enumerated() {
        #expect(s.selected(axis: a, index: i).scalars == t.scalars, "stacked axis \(axis)")
      }
    }
  }

  @Test("padded (constant and reflect) and gathered against index twins", arguments: layouts)
  func paddingAndGathering(layout: String) throws {
    var random = TestRandom(seed: 41)
    let x: Tensor<Double> = Self.tensor([3, 4, 5], layout, &random)
    let widths = [(before: 1, after: 2), (before: 3, after: 0)]
    for mode in [Tensor<Double>.Padding.constant(7), .reflect] {
      let p = x.padded(widths, mode: mode)
      #expect(p.shape == [3, 7, 8])
      for index in Self.indices(p.shape) {
        func source(_ i: Int, _ before: Int, _ n: Int) -> Int? {
          let j = i - before
          if (0..<n).contains(j) { return j }
          if mode != .reflect { return nil }
          return j < 0 ? -j : 2 * (n - 1) - j
        }
        let expected: Double
        if let j = source(index[1], 1, 4), let k = source(index[2], 3, 5) {
          expected = x[scalarAt: [index[0], j, k]]
        } else {
          expected = 7
        }
        #expect(p[scalarAt: index] == expected, "\(mode) at \(index)")
      }
    }
    let g = x.gathered(indices: [3, 0, 3, 1], axis: 1)
    #expect(g.shape == [3, 4, 5])
    for (position, index) in [3, 0, 3, 1].enumerated() {
      #expect(
        g.selected(axis: 1, index: position).scalars == x.selected(axis: 1, index: index).scalars)
    }
    #expect(x.gathered(indices: [], axis: 0).shape == [0, 4, 5])
  }

  @Test func broadcastMismatchStops() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3]) + Tensor<Float>.zeros(shape: [4])
    }
    #expect(stderrText(result).contains("shapes [2, 3] and [4]"), "\(stderrText(result))")
  }

  @Test func gatherOutOfRangeStops() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3]).gathered(indices: [0, 3], axis: 1)
    }
    #expect(stderrText(result).contains("index 3 is outside 0..<3"), "\(stderrText(result))")
  }

  @Test("the contract's broadcasting line runs")
  func contractLine() {
    let x = Tensor<Float>.randomNormal(shape: [2, 3, 4], seed: 1)
    let b = Tensor<Float>.randomNormal(shape: [4], seed: 2)
    let y = (x + b) * Tensor<Float>(repeating: 2, shape: [1])
    let z = y.softmax(axis: -1)
    expectClose(z.sum(axis: -1), Tensor(repeating: 1, shape: [2, 3]), absolute: 1e-6)
  }
}

extension Array {
  fileprivate func inserting(_ element: Element, at index: Int) -> [Element] {
    var copy = self
    copy.insert(element, at: index)
    return copy
  }
}
