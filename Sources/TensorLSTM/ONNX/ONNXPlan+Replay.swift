import Synchronization

/// How one plan step runs once the plan exists, decided from the values its trace saw: the
/// output layouts of a view, the buffers a computing step writes into, the recurrent engine's
/// own plan. A run replays a step only when its float inputs have the layouts the trace saw
/// (``ONNXPlan/Kernel/matches(_:)``); otherwise, and for operators without a replay, the
/// step is evaluated as in the traced run. Replays allocate nothing: their outputs go to
/// buffers the caller's ``ONNXRunState`` keeps from run to run.
indirect enum ONNXReplay: Sendable {
  /// Evaluated as in the traced run (allocates its outputs).
  case generic
  /// The outputs are input 0's storage with these layouts (Reshape, Transpose, Slice,
  /// Squeeze, Unsqueeze, Split, a scalar Gather, …).
  case view([TensorLayout?])
  /// A float activation, contiguous input to a buffer of this layout.
  case unary(ONNXOperator.Unary, TensorLayout)
  /// Float arithmetic through the operands' layouts expanded to the result's into a buffer.
  case binary(ONNXOperator.Binary, a: TensorLayout, b: TensorLayout, out: TensorLayout)
  /// `Conv` into a buffer, with an im2col scratch of `scratch` floats.
  case conv(ONNXOperator.Convolution, out: TensorLayout, scratch: Int)
  /// `Pad` through its per-axis source table.
  case pad(sources: [[Int]], mode: Tensor<Float>.Padding, out: TensorLayout)
  /// `Concat` of floats: input `j` copied to the buffer through `parts[j]`.
  case concat(parts: [TensorLayout], out: TensorLayout)
  /// `ReduceMean`/`ReduceSum` over one axis of a contiguous input: `outer` rows of `n`
  /// elements `inner` apart.
  case reduce(mean: Bool, outer: Int, n: Int, inner: Int, out: TensorLayout)
  /// `Gemm` into a buffer preloaded with `C` (read through `c`, its layout expanded).
  case gemm(ONNXOperator, c: TensorLayout?, out: TensorLayout)
  /// `Softmax`/`LogSoftmax` along the innermost axis of these permuted layouts.
  case softmax(log: Bool, rows: TensorLayout, out: TensorLayout, outRows: TensorLayout)
  /// `LayerNormalization` over rows of `inner` elements (input copied to buffer 1 first when it
  /// is not contiguous).
  case layerNorm(inner: Int, epsilon: Float, copiesInput: Bool, out: TensorLayout)
  /// `MatMul` of A read as `[M, K]` through `rows` (after a copy to buffer 1 of layout `copy`
  /// when A has no such view) by a 2-D B into `[M, N]` rows.
  case matmul(rows: TensorLayout, copy: TensorLayout?, out: TensorLayout)
  /// `Gather` of rows of a contiguous table by int64 indices (an embedding): `rows` indices
  /// of `inner` elements each, from an axis of `size`.
  case gatherRows(rows: Int, inner: Int, size: Int, out: TensorLayout)
  /// An `LSTM`, `GRU` or `RNN` node on the engine, with the engine's plan for this shape.
  case recurrent(ONNXRecurrentReplay)

  /// The name the plan prints.
  var label: String {
    switch self {
    case .generic: "evaluated"
    case .view: "view"
    default: "into buffers"
    }
  }
}

/// An ONNX recurrent node's replay: the engine, its ``ForwardPlan`` for the traced shape, and
/// the layouts that turn the caller's tensors into the engine's and its results into ONNX's.
struct ONNXRecurrentReplay: Sendable {
  var engine: RecurrentForward<Float>
  var plan: ForwardPlan
  /// X read time-major (`[T, B, I]`), over X's storage.
  var source: TensorLayout
  /// `initial_h`/`initial_c` read as `[D·L, B, ·]`, over their storage.
  var h0: TensorLayout?
  var c0: TensorLayout?
  var lengths: [Int]?
  /// The engine's buffers: output (call layout), h_n, c_n, and the time-major copy of X when
  /// the plan copies it (``ForwardPlan/copiesInput``).
  var buffers: [TensorLayout]
  var batchMajor: Bool
  /// `Y`, `Y_h`, `Y_c` as views of buffers 0, 1, 2.
  var outputs: [TensorLayout]
}

extension ONNXPlan {
  /// A step with its replay and the float input layouts the replay was made for; a class, so
  /// that the run loop holds each step by one reference.
  final class Kernel: Sendable {
    let step: Step
    let replay: ONNXReplay
    /// The float inputs whose layouts are checked, and those layouts.
    private let checkedInputs: [Int]
    private let checkedLayouts: [TensorLayout]

    /// `inputLayouts[i]`: the layout input `i` must have for the replay (nil: not checked).
    init(step: Step, replay: ONNXReplay, inputLayouts: [TensorLayout?]) {
      (self.step, self.replay) = (step, replay)
      checkedInputs = inputLayouts.indices.filter { inputLayouts[$0] != nil }
      checkedLayouts = inputLayouts.compactMap { $0 }
    }

    /// Whether `arguments` are what the replay was made for.
    /// Whether the step's inputs in `slots` are what the replay was made for.
    func matches(_ slots: [ONNXValue?]) -> Bool {
      if case .generic = replay { return false }
      let inputs = step.inputs
      for (k, i) in checkedInputs.enumerated() {
        guard i < inputs.count, inputs[i] >= 0,
          slots[inputs[i]]?.hasLayout(checkedLayouts[k]) == true
        else { return false }
      }
      return true
    }

    static let generic: (ONNXReplay, [TensorLayout?]) = (.generic, [])

    /// The replay of `step` and the input layouts it needs, given the values its trace read
    /// and wrote; `constant[i]` tells whether input `i` is fixed in the plan.
    static func replay(
      for step: Step, inputs: [ONNXValue?], outputs: [ONNXValue?], constant: [Bool]
    ) -> (ONNXReplay, [TensorLayout?]) {
      let layouts = inputs.map { $0?.float?.layout }
      if case .lstmCell(let lstm) = step.op {
        guard let r = ONNXReplay.cell(lstm, inputs: inputs) else { return generic }
        return (.recurrent(r), layouts)
      }
      // Every input that is not float data must be fixed (its value shaped the outputs),
      // but for a Gather's indices, whose count the signature fixes.
      var gathersByData = false
      if case .gather = step.op { gathersByData = true }
      for (i, v) in inputs.enumerated()
      where v != nil && v?.float == nil && !constant[i] && !(gathersByData && i == 1) {
        return generic
      }
      guard let first = inputs.first ?? nil, case .float(let x) = first else { return generic }
      // Outputs nobody reads are nil; every other one must be float.
      guard outputs.allSatisfy({ $0 == nil || $0?.float != nil }), let first = outputs.first,
        let result0 = first?.float
      else { return generic }
      let results = outputs.map { $0?.float }
      // A view: every output reads input 0's storage, and nothing but input 0 is data.
      if results.allSatisfy({ $0 == nil || $0!.sharesStorage(with: x) }),
        inputs.indices.dropFirst().allSatisfy({ inputs[$0] == nil || constant[$0] })
      {
        return (.view(results.map { $0?.layout }), [x.layout])
      }
      if !isRecurrent(step.op) && (!result0.isContiguous || result0.layout.offset != 0) {
        return generic
      }
      let out = result0.layout
      var replay = ONNXReplay.generic
      switch step.op {
      case .unary(let u) where x.isContiguous && x.shape == result0.shape:
        replay = .unary(u, out)
      case .binary(let b) where b.isArithmetic:
        if let y = inputs.count > 1 ? inputs[1]?.float : nil {
          replay = .binary(
            b, a: x.layout.expanded(to: out.shape), b: y.layout.expanded(to: out.shape), out: out)
        }
      case .conv(let c):
        replay = .conv(
          c, out: out, scratch: ONNXConvolution.scratchCount(c, x: x, weight: inputs[1]?.float))
      case .pad(let reflect, let attributes):
        if let (widths, mode) = try? ONNXOperator.padding(
          x, reflect: reflect, attributes: attributes, inputs, step.name)
        {
          replay = .pad(sources: x.paddingSources(widths, mode: mode), mode: mode, out: out)
        }
      case .concat(let axis):
        let parts = inputs.compactMap { $0?.float }
        if parts.count == inputs.count,
          let a = try? ONNXLayout.axis(axis, rank: out.rank, step.name)
        {
          var start = 0
          var destinations: [TensorLayout] = []
          for p in parts {
            destinations.append(out.sliced(axis: a, range: start..<(start + p.shape[a]), step: 1))
            start += p.shape[a]
          }
          replay = .concat(parts: destinations, out: out)
        }
      case .reduce(let kind, let attributeAxes, _, _)
      where kind != .max && x.isContiguous && x.layout.offset == 0:
        let given =
          attributeAxes ?? (inputs.count > 1 ? inputs[1]?.int64Elements?.map { Int($0) } : nil)
        if let axes = given, axes.count == 1,
          let a = try? ONNXLayout.axis(axes[0], rank: x.rank, step.name)
        {
          replay = .reduce(
            mean: kind == .mean, outer: x.shape[..<a].reduce(1, *), n: x.shape[a],
            inner: x.shape[(a + 1)...].reduce(1, *), out: out)
        }
      case .gemm(_, let beta, let transA, let transB):
        let c = inputs.count > 2 && beta != 0 ? inputs[2]?.float : nil
        if let b = inputs[1]?.float, x.rank == 2, b.rank == 2,
          ONNXReplay.matrix(x, transA).blasForm != nil, ONNXReplay.matrix(b, transB).blasForm != nil
        {
          replay = .gemm(step.op, c: c.map { $0.layout.expanded(to: out.shape) }, out: out)
        }
      case .softmax(let axis, let log, let coerced):
        if let a = try? ONNXLayout.axis(axis, rank: x.rank, step.name), !coerced || a == x.rank - 1
        {
          let (rows, outRows) = Tensor<Float>.rowLayouts(x.layout, out, axis: a)
          replay = .softmax(log: log, rows: rows, out: out, outRows: outRows)
        }
      case .layerNormalization(let axis, let epsilon):
        let a = try? ONNXLayout.axis(axis, rank: x.rank, step.name)
        let inner = a.map { x.shape[$0...].reduce(1, *) } ?? 0
        let parameters = inputs.dropFirst().compactMap { $0?.float }
        if a != nil,
          parameters.allSatisfy({ $0.isContiguous && $0.count == inner && $0.layout.offset == 0 })
        {
          replay = .layerNorm(
            inner: inner, epsilon: epsilon, copiesInput: !x.isContiguous || x.layout.offset != 0,
            out: out)
        }
      case .matmul:
        if let b = inputs[1]?.float, b.rank == 2, x.rank >= 2, x.shape[x.rank - 1] > 0,
          ONNXReplay.matrix(b, false).blasForm != nil
        {
          let k = x.shape[x.rank - 1]
          let flat = [x.count / k, k]
          var a = x.layout.reshapedView(flat)
          if let view = a,
            ONNXReplay.matrix(Tensor(storage: x.storage, layout: view), false)
              .blasForm == nil
          {
            a = nil
          }
          replay = .matmul(
            rows: a ?? TensorLayout(contiguous: flat),
            copy: a == nil ? TensorLayout(contiguous: x.shape) : nil, out: out)
        }
      case .gather(let axis):
        if let indices = inputs[1]?.int64Elements, !(inputs[1]?.shape.isEmpty ?? true),
          (try? ONNXLayout.axis(axis, rank: x.rank, step.name)) == 0, x.isContiguous
        {
          replay = .gatherRows(
            rows: indices.count, inner: x.count / Swift.max(x.shape[0], 1), size: x.shape[0],
            out: out)
        }
      case .recurrent(_, let prepared?):
        if let r = ONNXReplay.recurrent(
          prepared, step.op, inputs: inputs, outputs: results, constant: constant)
        {
          replay = .recurrent(r)
        }
      default: break
      }
      if case .generic = replay { return generic }
      return (replay, layouts)
    }

    static func isRecurrent(_ op: ONNXOperator) -> Bool {
      if case .recurrent = op { return true }
      return false
    }
  }
}

extension ONNXValue {
  /// Whether this is a float tensor with `layout` (read in place, no copy of the value).
  func hasLayout(_ layout: TensorLayout) -> Bool {
    switch self {
    case .float(let t): t.layout == layout
    default: false
    }
  }
}

extension ONNXOperator.Binary {
  /// Float arithmetic (not a comparison or logic).
  var isArithmetic: Bool {
    switch self {
    case .add, .sub, .mul, .div, .pow: true
    default: false
    }
  }
}

extension ONNXReplay {
  /// A rank-2 tensor as a matrix (transposed when `transposed`); its storage must outlive
  /// the use.
  static func matrix(_ t: Tensor<Float>, _ transposed: Bool) -> StridedMatrix<Float> {
    let m = StridedMatrix(
      base: UnsafePointer(t.storage.base + t.layout.offset), rows: t.shape[0],
      columns: t.shape[1], rowStride: t.strides[0], columnStride: t.strides[1])
    return transposed ? m.transposed : m
  }

  /// The recurrent replay of a traced node, or nil (lengths from data, an input copy).
  static func recurrent(
    _ prepared: PreparedRecurrent, _ op: ONNXOperator, inputs: [ONNXValue?],
    outputs: [Tensor<Float>?], constant: [Bool]
  ) -> ONNXRecurrentReplay? {
    guard case .recurrent(let node, _) = op, let x = inputs[0]?.float else { return nil }
    let core = prepared.core
    let engine = core.engine
    var lengths: [Int]?
    if inputs.count > 4, let l = inputs[4] {
      guard constant[4], let v = l.int64Elements else { return nil }
      lengths = v.map { Int(clamping: $0) }
    }
    guard
      let shape = try? ForwardShape(
        geometry: core.geometry, batchFirst: engine.batchFirst, input: x, lengths: lengths),
      !shape.unbatched
    else { return nil }
    let plan = engine.plan(shape, input: x, hasLengths: lengths != nil)
    func state(_ i: Int) -> TensorLayout? {
      guard inputs.count > i, let t = inputs[i]?.float else { return nil }
      return LSTM<Float>.onnxStateTensor(t, layout: node.layout).layout
    }
    let g = core.geometry
    let (steps, batch) = (shape.steps, shape.batch)
    let width = g.directions * g.outputHiddenSize
    let output = TensorLayout(
      contiguous: engine.batchFirst ? [batch, steps, width] : [steps, batch, width])
    let hidden = TensorLayout(contiguous: [g.layers * g.directions, batch, g.outputHiddenSize])
    let cell = TensorLayout(
      contiguous: g.cell.hasCellState ? [g.layers * g.directions, batch, g.hiddenSize] : [0])
    let probe = [output, hidden, cell].map {
      Tensor<Float>(storage: TensorStorage(zeroedCount: $0.count), layout: $0)
    }
    var views = [
      LSTM<Float>.onnxY(probe[0], directions: g.directions, layout: node.layout).layout,
      LSTM<Float>.onnxStateTensor(probe[1], layout: node.layout).layout,
    ]
    if g.cell.hasCellState {
      views.append(LSTM<Float>.onnxStateTensor(probe[2], layout: node.layout).layout)
    }
    guard views.count >= outputs.count,
      zip(views, outputs).allSatisfy({ $1 == nil || $0.shape == $1!.shape })
    else { return nil }
    return ONNXRecurrentReplay(
      engine: engine, plan: plan, source: shape.timeMajor(x, batchFirst: engine.batchFirst).layout,
      h0: state(5), c0: state(6), lengths: lengths,
      buffers: [output, hidden, cell]
        + (plan.copiesInput ? [TensorLayout(contiguous: [steps, batch, g.inputSize])] : []),
      batchMajor: engine.batchFirst, outputs: Array(views.prefix(outputs.count)))
  }
}

extension ONNXReplay {
  /// The replay of a fused LSTM cell (``ONNXOperator/lstmCell(_:)``): the engine runs one time
  /// step over `X` `[B, I]` read as `[1, B, I]`, states read as `[1, B, H]`, and its results are
  /// viewed back as `[B, H]`.
  static func cell(_ lstm: LSTM<Float>, inputs: [ONNXValue?]) -> ONNXRecurrentReplay? {
    guard inputs.count == 7, let x = inputs[0]?.float, let c = inputs[6]?.float, x.rank == 2
    else { return nil }
    let engine = lstm._core.engine
    let source = x.layout.unsqueezed(axis: 0)
    let timeMajor = Tensor(storage: x.storage, layout: source)
    guard
      let shape = try? ForwardShape(
        geometry: lstm._core.geometry, batchFirst: false, input: timeMajor, lengths: nil),
      !shape.unbatched
    else { return nil }
    let plan = engine.plan(shape, input: timeMajor, hasLengths: false)
    let state = TensorLayout(contiguous: [1, shape.batch, lstm.hiddenSize])
    let view = TensorLayout(contiguous: [shape.batch, lstm.hiddenSize])
    return ONNXRecurrentReplay(
      engine: engine, plan: plan, source: source,
      h0: inputs[5]?.float.map { $0.layout.unsqueezed(axis: 0) },
      c0: c.layout.unsqueezed(axis: 0), lengths: nil,
      buffers: [state, state, state]
        + (plan.copiesInput ? [TensorLayout(contiguous: [1, shape.batch, lstm.inputSize])] : []),
      batchMajor: false, outputs: [view, view, view])
  }
}

extension PreparedRecurrent {
  var core: RecurrentCore<Float> {
    switch self {
    case .lstm(let l): l._core
    case .gru(let g): g._core
    case .rnn(let r): r._core
    }
  }
}

/// One caller's memory for an ``ONNXPlan``: the slot array, the argument list, and per step
/// the output buffers its replay writes and the recurrent engine's workspace. A run takes a
/// state from the plan's pool and gives it back, so concurrent callers never share one and a
/// caller that runs the same shape again allocates nothing in the steps.
final class ONNXRunState: @unchecked Sendable {
  var slots: [ONNXValue?]
  var arguments: [ONNXValue?] = []
  /// Per step, per buffer, the tensors written in earlier runs (at most two, so that a caller
  /// who keeps one run's output while making the next still finds one free).
  var buffers: [[[Tensor<Float>]]]
  /// Per step, an im2col scratch or a recurrent workspace.
  var scratch: [UnsafeMutablePointer<Float>?]
  var workspaces: [Workspace<Float>?]

  init(plan: ONNXPlan) {
    slots = plan.template
    arguments.reserveCapacity(16)
    buffers = Array(repeating: [], count: plan.kernels.count)
    scratch = Array(repeating: nil, count: plan.kernels.count)
    workspaces = Array(repeating: nil, count: plan.kernels.count)
  }

  deinit {
    for s in scratch { s?.deallocate() }
    for w in workspaces { w?.deallocate() }
  }

  /// A contiguous tensor of `layout` for buffer `index` of step `step`, its contents whatever
  /// an earlier run left: a kept one that nothing else holds, else a new one (then kept).
  func buffer(_ step: Int, _ index: Int, _ layout: TensorLayout) -> Tensor<Float> {
    while buffers[step].count <= index { buffers[step].append([]) }
    for k in buffers[step][index].indices
    where isKnownUniquelyReferenced(&buffers[step][index][k].storage) {
      return buffers[step][index][k]
    }
    let fresh = Tensor<Float>(storage: TensorStorage(unfilledCount: layout.count), layout: layout)
    if buffers[step][index].count >= 2 { buffers[step][index].removeFirst() }
    buffers[step][index].append(fresh)
    return fresh
  }

  /// Step `step`'s scratch of at least `count` floats (kept across runs).
  func scratch(_ step: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
    if let s = scratch[step] { return s }
    let s = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
    scratch[step] = s
    return s
  }
}

extension ONNXPlan {
  /// Runs step `index` by its replay into `state`'s buffers and `slots`.
  /// Returns false when the step must be evaluated instead (a Gather's index count changed).
  func replay(
    _ index: Int, _ kernel: Kernel, _ state: ONNXRunState, _ slots: inout [ONNXValue?],
    isa: VectorISA?
  ) throws(ONNXError) -> Bool {
    let (inputs, outputs) = (kernel.step.inputs, kernel.step.outputs)
    func store(_ i: Int, _ t: Tensor<Float>) {
      if i < outputs.count, outputs[i] >= 0 { slots[outputs[i]] = .float(t) }
    }
    func float(_ i: Int) -> Tensor<Float> { slots[inputs[i]]!.float! }
    switch kernel.replay {
    case .generic:
      break
    case .view(let layouts):
      let x = float(0)
      for (i, layout) in layouts.enumerated() {
        if let layout { store(i, Tensor(storage: x.storage, layout: layout)) }
      }
    case .unary(let op, let layout):
      let x = float(0)
      let y = state.buffer(index, 0, layout)
      withExtendedLifetime(x) {
        ONNXArithmetic.apply(
          op, x.storage.base + x.layout.offset, into: y.storage.base, count: layout.count)
      }
      store(0, y)
    case .binary(let op, let a, let b, let out):
      let y = state.buffer(index, 0, out)
      ONNXArithmetic.floatBinary(op, float(0), a, float(1), b, into: y)
      store(0, y)
    case .conv(let c, let out, let scratch):
      let y = state.buffer(index, 0, out)
      let bias = inputs.count > 2 && inputs[2] >= 0 ? float(2) : nil
      try ONNXConvolution.run(
        c, x: float(0), weight: float(1), bias: bias, isa: isa, kernel.step.name, into: y,
        column: state.scratch(index, scratch))
      store(0, y)
    case .pad(let sources, let mode, let out):
      let y = state.buffer(index, 0, out)
      float(0).pad(into: y, sources: sources, mode: mode)
      store(0, y)
    case .concat(let parts, let out):
      let y = state.buffer(index, 0, out)
      for (j, destination) in parts.enumerated() {
        let x = float(j)
        withExtendedLifetime(x) {
          Tensor.copyElements(from: x.storage.base, x.layout, to: y.storage.base, destination)
        }
      }
      store(0, y)
    case .reduce(let mean, let outer, let n, let inner, let out):
      let x = float(0)
      let y = state.buffer(index, 0, out)
      withExtendedLifetime(x) {
        let base = x.storage.base
        for o in 0..<outer {
          for r in 0..<inner {
            let sum = Tensor<Float>.rowSum(base + o * n * inner + r, inner, n)
            y.storage.base[o * inner + r] = Float(mean ? sum / Double(n) : sum)
          }
        }
      }
      store(0, y)
    case .gemm(let op, let c, let out):
      guard case .gemm(let alpha, let beta, let transA, let transB) = op else { break }
      let y = state.buffer(index, 0, out)
      let (a, b) = (float(0), float(1))
      if let c {
        let ct = float(2)
        withExtendedLifetime(ct) {
          Tensor.copyElements(from: ct.storage.base, c, to: y.storage.base, y.layout)
        }
      }
      withExtendedLifetime((a, b)) {
        let (ma, mb) = (ONNXReplay.matrix(a, transA), ONNXReplay.matrix(b, transB))
        // Few rows, B as [N, K] rows, plain sum: the skinny kernel (no packing, no gemv at
        // SSE width when OpenBLAS picks old kernels).
        if let isa, ma.rows <= ONNXConvolution.skinnyColumns, alpha == 1, c == nil || beta == 1,
          ma.columnStride == 1, mb.rowStride == 1
        {
          if c == nil { y.storage.base.update(repeating: 0, count: out.count) }
          FusedStep.skinnyGemm(
            ma.base, lda: ma.rowStride, mb.base, ldb: mb.columnStride, into: y.storage.base,
            ldc: out.shape[1], rows: ma.rows, cols: mb.columns, k: ma.columns, isa: isa)
        } else {
          BLAS.gemm(
            ma, mb, into: y.storage.base, rowStride: out.shape[1], alpha: alpha,
            beta: c == nil ? 0 : beta)
        }
      }
      store(0, y)
    case .softmax(let log, let rows, let out, let outRows):
      let y = state.buffer(index, 0, out)
      Tensor.normalize(float(0), rows, into: y, outRows, logarithm: log)
      store(0, y)
    case .layerNorm(let inner, let epsilon, let copiesInput, let out):
      var x = float(0)
      if copiesInput {
        let copy = state.buffer(index, 1, out)
        withExtendedLifetime(x) {
          Tensor.copyElements(from: x.storage.base, x.layout, to: copy.storage.base, copy.layout)
        }
        x = copy
      }
      let y = state.buffer(index, 0, out)
      let bias = inputs.count > 2 && inputs[2] >= 0 ? float(2) : nil
      ONNXArithmetic.layerNormRows(
        x, scale: float(1), bias: bias, inner: inner, epsilon: epsilon, into: y)
      store(0, y)
    case .matmul(let rows, let copy, let out):
      var (x, b) = (float(0), float(1))
      if let copy {
        let contiguous = state.buffer(index, 1, copy)
        withExtendedLifetime(x) {
          Tensor.copyElements(
            from: x.storage.base, x.layout, to: contiguous.storage.base, contiguous.layout)
        }
        x = contiguous
      }
      let y = state.buffer(index, 0, out)
      withExtendedLifetime((x, b)) {
        BLAS.gemm(
          ONNXReplay.matrix(Tensor(storage: x.storage, layout: rows), false),
          ONNXReplay.matrix(b, false), into: y.storage.base, rowStride: b.shape[1])
      }
      store(0, y)
    case .gatherRows(let rows, let inner, let size, let out):
      guard case .int64(let indices, _)? = slots[inputs[1]], indices.count == rows else {
        return false
      }
      let table = float(0)
      let y = state.buffer(index, 0, out)
      for (k, i) in indices.enumerated() {
        guard i >= -Int64(size) && i < Int64(size) else {
          throw ONNXError.runtime(
            node: kernel.step.name,
            reason: "index \(i) is out of range for axis 0 of \(table.shape) (size \(size))")
        }
        let row = Int(i < 0 ? i + Int64(size) : i)
        withExtendedLifetime(table) {
          (y.storage.base + k * inner).update(
            from: table.storage.base + table.layout.offset + row * inner, count: inner)
        }
      }
      store(0, y)
    case .recurrent(let r):
      let x = float(0)
      let output = state.buffer(index, 0, r.buffers[0])
      let hidden = state.buffer(index, 1, r.buffers[1])
      let cell = state.buffer(index, 2, r.buffers[2])
      if r.lengths != nil { output.storage.base.update(repeating: 0, count: output.count) }
      if state.workspaces[index] == nil {
        state.workspaces[index] = Workspace(plan: r.plan, geometry: r.engine.geometry)
      }
      let h0 = r.h0.map { Tensor(storage: float(5).storage, layout: $0) }
      let c0 = r.c0.map { Tensor(storage: float(6).storage, layout: $0) }
      var source = Tensor(storage: x.storage, layout: r.source)
      if r.buffers.count > 3 {
        // The plan reads X contiguous: copy it time-major, as the engine's own call does.
        let copy = state.buffer(index, 3, r.buffers[3])
        withExtendedLifetime(x) {
          Tensor.copyElements(from: x.storage.base, r.source, to: copy.storage.base, copy.layout)
        }
        source = copy
      }
      r.engine.run(
        r.plan, source: source, output: output,
        batchMajor: r.batchMajor, hiddenOut: hidden, cellOut: cell, h0: h0, c0: c0,
        lengths: r.lengths, workspace: state.workspaces[index]!)
      for (i, layout) in r.outputs.enumerated() {
        store(
          i,
          Tensor(
            storage: i == 0 ? output.storage : i == 1 ? hidden.storage : cell.storage,
            layout: layout))
      }
    }
    return true
  }
}
