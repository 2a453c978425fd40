/// What each operator computes, on ``ONNXValue``s, with ONNX's semantics. Inputs come checked
/// for presence by the loader (arity); their shapes and values are checked here, and a
/// contradiction throws ``ONNXError/runtime(node:reason:)``.
extension ONNXOperator {
  /// Evaluates on `arguments` and stores result `i` in `slots[outputs[i]]` (an output slot of
  /// -1 is dropped): the one step of every executor (program, trace, plan). Errors other than
  /// ``ONNXError`` (a layer's) become ``ONNXError/runtime(node:reason:)`` naming the node.
  func run(
    _ arguments: [ONNXValue?], outputs: [Int], node: String, isa: VectorISA?,
    into slots: inout [ONNXValue?]
  ) throws(ONNXError) {
    let results: [ONNXValue]
    do {
      results = try evaluate(arguments, outputs: outputs.count, node: node, isa: isa)
    } catch let error as ONNXError {
      throw error
    } catch {
      throw ONNXError.runtime(node: node, reason: "\(error)")
    }
    for (i, o) in outputs.enumerated() where o >= 0 {
      guard i < results.count else {
        throw ONNXError.runtime(node: node, reason: "output \(i) is not produced")
      }
      slots[o] = results[i]
    }
  }

  func evaluate(
    _ inputs: [ONNXValue?], outputs: Int, node: String, isa: VectorISA? = VectorISA.available.last
  ) throws -> [ONNXValue] {
    func fail(_ reason: String) -> ONNXError { .runtime(node: node, reason: reason) }
    func input(_ i: Int) throws(ONNXError) -> ONNXValue {
      guard i < inputs.count, let v = inputs[i] else { throw fail("input \(i) is required") }
      return v
    }
    func optional(_ i: Int) -> ONNXValue? { i < inputs.count ? inputs[i] : nil }
    func float(_ i: Int) throws(ONNXError) -> Tensor<Float> {
      let v = try input(i)
      guard let t = v.float else { throw fail("input \(i) must be float, got \(v.elementType)") }
      return t
    }
    func ints(_ i: Int) throws(ONNXError) -> [Int64] { try Self.ints(inputs, i, node) }
    func intList(_ i: Int) throws(ONNXError) -> [Int] { try Self.intList(inputs, i, node) }

    switch self {
    case .identity:
      return [try input(0)]
    case .unary(let u):
      return [try ONNXArithmetic.unary(u, try input(0), node)]
    case .leakyRelu(let alpha):
      return [.float(try float(0).mapped { $0 < 0 ? alpha * $0 : $0 })]
    case .binary(let b):
      return [try ONNXArithmetic.binary(b, try input(0), try input(1), node)]
    case .whereSelect:
      return [try ONNXArithmetic.select(try input(0), try input(1), try input(2), node)]
    case .cast(let to):
      return [ONNXArithmetic.cast(try input(0), to: to)]
    case .constantOfShape(let value):
      let shape = try intList(0)
      guard shape.allSatisfy({ $0 >= 0 }), let count = TensorLayout.addressableCount(shape) else {
        throw fail("shape \(shape) is not a valid shape")
      }
      try ONNXLimits.check(count, node)
      switch value {
      case .float(let t): return [.float(Tensor(repeating: t.scalars[0], shape: shape))]
      case .int64(let v, _): return [.int64(Array(repeating: v[0], count: count), shape: shape)]
      case .bool(let v, _): return [.bool(Array(repeating: v[0], count: count), shape: shape)]
      }
    case .shape(let start, let end):
      let shape = try input(0).shape
      let r = shape.count
      func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + r : v, 0), r) }
      let (s, e) = (clamp(start), clamp(end ?? r))
      let dims = s < e ? shape[s..<e].map { Int64($0) } : []
      return [.int64(dims, shape: [dims.count])]
    case .size:
      return [.int64([Int64(try input(0).count)], shape: [])]
    case .reshape(let allowZero):
      let x = try input(0)
      var target = try intList(1)
      var hole: Int?
      for i in target.indices {
        if target[i] == 0 && !allowZero {
          guard i < x.shape.count else {
            throw fail("shape \(target): 0 at axis \(i) copies an axis \(x.shape) lacks")
          }
          target[i] = x.shape[i]
        } else if target[i] == -1 {
          guard hole == nil else { throw fail("shape \(target) has more than one -1") }
          hole = i
        } else if target[i] < 0 {
          throw fail("shape \(target) has a negative size")
        }
      }
      let known = target.enumerated().reduce(1) { $1.offset == hole ? $0 : $0 * $1.element }
      if let hole {
        guard known > 0, x.count % known == 0 else {
          throw fail("cannot reshape \(x.shape) to \(target)")
        }
        target[hole] = x.count / known
      }
      guard target.reduce(1, *) == x.count else {
        throw fail("cannot reshape \(x.shape) (\(x.count) elements) to \(target)")
      }
      return [x.reshaped(target)]
    case .flatten(let axis):
      let x = try input(0)
      let r = x.shape.count
      let a = axis < 0 ? axis + r : axis
      guard a >= 0 && a <= r else { throw fail("axis \(axis) is out of range for rank \(r)") }
      return [x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])]
    case .transpose(let perm):
      return [
        try input(0).relayout { l throws(ONNXError) in
          try ONNXLayout.transposed(l, perm: perm, node)
        }
      ]
    case .squeeze(let axes):
      let axes = try axes ?? (optional(1) == nil ? [] : intList(1))
      return [
        try input(0).relayout { l throws(ONNXError) in try ONNXLayout.squeezed(l, axes: axes, node)
        }
      ]
    case .unsqueeze(let axes):
      let axes = try axes ?? intList(1)
      return [
        try input(0).relayout { l throws(ONNXError) in
          try ONNXLayout.unsqueezed(l, axes: axes, node)
        }
      ]
    case .concat(let axis):
      return [try ONNXStructure.concat(inputs.compactMap { $0 }, axis: axis, node)]
    case .split(let axis, let attributeSizes, let count):
      let x = try input(0)
      let a = try ONNXLayout.axis(axis, rank: x.shape.count, node)
      let length = x.shape[a]
      var sizes = try attributeSizes ?? (optional(1) == nil ? nil : intList(1))
      if sizes == nil {
        let part = (length + count - 1) / Swift.max(count, 1)
        sizes = (0..<count).map { i in Swift.max(0, Swift.min(part, length - i * part)) }
      }
      guard let sizes, sizes.count == count, sizes.allSatisfy({ $0 >= 0 }),
        sizes.reduce(0, +) == length
      else {
        throw fail(
          "split sizes \(sizes ?? []) do not divide axis \(a) (\(length)) into \(count) outputs")
      }
      var start: Int64 = 0
      var result: [ONNXValue] = []
      for s in sizes {
        let end = start + Int64(s)
        result.append(
          try x.relayout { l throws(ONNXError) in
            try ONNXLayout.sliced(
              l, starts: [start], ends: [end], axes: [Int64(a)], steps: [1], node)
          })
        start = end
      }
      return result
    case .slice(let attributes):
      let x = try input(0)
      let (starts, ends, axes, steps): ([Int64], [Int64], [Int64]?, [Int64]?)
      if let attributes {
        (starts, ends, axes, steps) = (
          attributes.starts.map(Int64.init), attributes.ends.map(Int64.init),
          attributes.axes.map { $0.map(Int64.init) }, nil
        )
      } else {
        (starts, ends) = (try ints(1), try ints(2))
        axes = optional(3) == nil ? nil : try ints(3)
        steps = optional(4) == nil ? nil : try ints(4)
      }
      return [
        try x.relayout { l throws(ONNXError) in
          try ONNXLayout.sliced(l, starts: starts, ends: ends, axes: axes, steps: steps, node)
        }
      ]
    case .gather(let axis):
      return [try ONNXStructure.gather(try input(0), indices: try input(1), axis: axis, node)]
    case .expand:
      let x = try input(0)
      let shape = try ONNXLayout.broadcast(x.shape, try intList(1), node)
      guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("shape \(shape) is not a valid shape") }
      try ONNXLimits.check(TensorLayout.addressableCount(shape) ?? .max, node)
      return [x.relayout { $0.expanded(to: shape) }]
    case .range:
      return [try ONNXStructure.range(try input(0), try input(1), try input(2), node)]
    case .pad(let reflect, let attributes):
      let x = try float(0)
      let (widths, mode) = try ONNXOperator.padding(
        x, reflect: reflect, attributes: attributes, inputs, node)
      return [.float(x.padded(widths, mode: mode))]
    case .reduce(let kind, let attributeAxes, let keepDims, let noop):
      let x = try float(0)
      var axes = try attributeAxes ?? (optional(1) == nil ? [] : intList(1))
      if axes.isEmpty {
        if noop { return [.float(x)] }
        axes = Array(0..<x.rank)
      }
      var normalized: [Int] = []
      for a in axes { normalized.append(try ONNXLayout.axis(a, rank: x.rank, node)) }
      guard Set(normalized).count == normalized.count else {
        throw fail("axes \(axes) repeat an axis")
      }
      guard normalized.allSatisfy({ x.shape[$0] > 0 }) || kind != .max else {
        throw fail("ReduceMax over an empty axis")
      }
      var y = x
      for a in normalized.sorted(by: >) {
        switch kind {
        case .mean: y = y.mean(axis: a, keepingAxis: true)
        case .sum: y = y.sum(axis: a, keepingAxis: true)
        case .max: y = y.max(axis: a, keepingAxis: true)
        }
      }
      if !keepDims {
        y = y.viewing(try ONNXLayout.squeezed(y.layout, axes: normalized, node))
      }
      return [.float(y)]
    case .softmax(let axis, let log, let coerced):
      let x = try float(0)
      if x.rank == 0 { throw fail("Softmax needs rank ≥ 1") }
      let a = try ONNXLayout.axis(axis, rank: x.rank, node)
      if coerced && a != x.rank - 1 {
        let flat = x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])
        let y = log ? flat.logSoftmax(axis: 1) : flat.softmax(axis: 1)
        return [.float(y.reshaped(x.shape))]
      }
      return [.float(log ? x.logSoftmax(axis: a) : x.softmax(axis: a))]
    case .layerNormalization(let axis, let epsilon):
      return [
        .float(
          try ONNXArithmetic.layerNorm(
            try float(0), scale: try float(1), bias: optional(2) == nil ? nil : try float(2),
            axis: axis,
            epsilon: epsilon, node))
      ]
    case .gemm(let alpha, let beta, let transA, let transB):
      var a = try float(0)
      var b = try float(1)
      guard a.rank == 2, b.rank == 2 else {
        throw fail("Gemm needs rank-2 A and B, got \(a.shape) and \(b.shape)")
      }
      if transA { a = a.transposed(0, 1) }
      if transB { b = b.transposed(0, 1) }
      guard a.shape[1] == b.shape[0] else {
        throw fail("Gemm: A \(a.shape) and B \(b.shape) do not multiply")
      }
      let shape = [a.shape[0], b.shape[1]]
      var y: Tensor<Float>
      if let c = optional(2), beta != 0 {
        guard let c = c.float else { throw fail("C must be float") }
        guard try ONNXLayout.broadcast(c.shape, shape, node) == shape else {
          throw fail("C \(c.shape) does not broadcast to \(shape)")
        }
        y = c.expanded(to: shape).contiguous()
        TensorLSTM.matmul(a, b, into: &y, alpha: alpha, beta: beta)
      } else {
        y = .zeros(shape: shape)
        TensorLSTM.matmul(a, b, into: &y, alpha: alpha, beta: 0)
      }
      return [.float(y)]
    case .matmul:
      return [.float(try ONNXArithmetic.matmul(try float(0), try float(1), node))]
    case .conv(let c):
      return [
        .float(
          try ONNXConvolution.run(
            c, x: try float(0), weight: try float(1), bias: optional(2) == nil ? nil : try float(2),
            isa: isa, node))
      ]
    case .recurrent(let r, let prepared):
      return try ONNXRecurrentRun.run(r, prepared: prepared, inputs, outputs: outputs, node)
    case .lstmCell(let lstm):
      let (x, c) = (try float(0), try float(6))
      let state = [x.shape.first ?? 0, lstm.hiddenSize]
      // An absent initial_h is a zero state (the cell's hidden product was folded into a bias).
      let h = optional(5) == nil ? Tensor<Float>.zeros(shape: state) : try float(5)
      guard x.shape == [state[0], lstm.inputSize], h.shape == state, c.shape == state else {
        throw fail(
          "the fused LSTM cell takes X [B, \(lstm.inputSize)] and states \(state), got \(x.shape), \(h.shape), \(c.shape)"
        )
      }
      let out = try lstm(
        x.unsqueezed(axis: 0),
        initialState: LSTMState(hidden: h.unsqueezed(axis: 0), cell: c.unsqueezed(axis: 0)))
      return [out.output, out.hidden, out.cell].map { .float($0.squeezed(axis: 0)) }
    case .ifElse:
      throw fail("internal: If is run by the executor")
    }
  }
}

extension ONNXOperator {
  /// Input `i` as int64 elements; throws naming `node` when it is absent or not int64.
  static func ints(_ inputs: [ONNXValue?], _ i: Int, _ node: String) throws(ONNXError)
    -> [Int64]
  {
    guard i < inputs.count, let v = inputs[i] else {
      throw ONNXError.runtime(node: node, reason: "input \(i) is required")
    }
    guard let e = v.int64Elements else {
      throw ONNXError.runtime(node: node, reason: "input \(i) must be int64, got \(v.elementType)")
    }
    return e
  }

  /// ``ints(_:_:_:)`` as sizes or indices: each must fit in 32 bits.
  static func intList(_ inputs: [ONNXValue?], _ i: Int, _ node: String) throws(ONNXError)
    -> [Int]
  {
    try ints(inputs, i, node).map { v throws(ONNXError) -> Int in
      guard v >= Int64(Int32.min), v <= Int64(Int32.max) else {
        throw ONNXError.runtime(node: node, reason: "value \(v) of input \(i) is out of range")
      }
      return Int(v)
    }
  }

  /// `Pad`'s widths per axis and mode, from its attributes (opset < 11) or its `pads`,
  /// `constant_value` and `axes` inputs; checked against `x` and the element limit.
  static func padding(
    _ x: Tensor<Float>, reflect: Bool, attributes: (pads: [Int], value: Float)?,
    _ inputs: [ONNXValue?], _ node: String
  ) throws(ONNXError) -> (widths: [(before: Int, after: Int)], mode: Tensor<Float>.Padding) {
    func fail(_ reason: String) -> ONNXError { .runtime(node: node, reason: reason) }
    func optional(_ i: Int) -> ONNXValue? { i < inputs.count ? inputs[i] : nil }
    func intList(_ i: Int) throws(ONNXError) -> [Int] { try Self.intList(inputs, i, node) }
    var pads: [Int]
    var value: Float = 0
    if let attributes {
      (pads, value) = attributes
    } else {
      pads = try intList(1)
      if let v = optional(2) {
        guard let t = v.float, t.count == 1 else {
          throw fail("constant_value must be one float")
        }
        value = t.scalars[0]
      }
      if let axesValue = optional(3) {
        guard let axes = axesValue.int64Elements, axes.count * 2 == pads.count else {
          throw fail("axes must be int64 with one entry per pair of pads")
        }
        var full = [Int](repeating: 0, count: 2 * x.rank)
        for (i, a) in axes.enumerated() {
          let n = try ONNXLayout.axis(Int(a), rank: x.rank, node)
          (full[n], full[n + x.rank]) = (pads[i], pads[i + axes.count])
        }
        pads = full
      }
    }
    guard pads.count == 2 * x.rank, pads.allSatisfy({ $0 >= 0 }) else {
      throw fail("pads \(pads) must be \(2 * x.rank) values ≥ 0 for shape \(x.shape)")
    }
    let widths = (0..<x.rank).map { (before: pads[$0], after: pads[$0 + x.rank]) }
    var padded = 1
    for (i, w) in widths.enumerated() {
      padded =
        padded.multipliedReportingOverflow(by: x.shape[i] + w.before + w.after).partialValue
      if padded < 0 || padded > ONNXLimits.elements { padded = .max }
    }
    try ONNXLimits.check(padded, node)
    if reflect {
      for (i, w) in widths.enumerated() where w.before >= x.shape[i] || w.after >= x.shape[i] {
        if w.before == 0 && w.after == 0 { continue }
        throw fail("reflect pads \(pads) need each width smaller than its axis of \(x.shape)")
      }
    }
    return (widths, reflect ? .reflect : .constant(value))
  }
}
