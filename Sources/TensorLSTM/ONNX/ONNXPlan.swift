import Synchronization

/// What a run's plan is specialised on: every input's shape, and the values of small integer
/// and bool inputs (a sample rate, a flag) — the things exporters branch on.
struct ONNXSignature: Hashable, Sendable {
  var shapes: [[Int]]
  var values: [[Int64]?]

  /// Integer and bool inputs of at most this many elements are part of the signature.
  static let smallInput = 8

  /// Whether `inputs` have this signature; allocates nothing.
  func matches(_ inputs: some RandomAccessCollection<ONNXValue>) -> Bool {
    guard inputs.count == shapes.count else { return false }
    for (i, v) in zip(shapes.indices, inputs) {
      guard v.shape == shapes[i] else { return false }
      switch v {
      case .float:
        if values[i] != nil { return false }
      case .int64(let e, _):
        if e.count > Self.smallInput {
          if values[i] != nil { return false }
        } else {
          guard let expected = values[i], e == expected else { return false }
        }
      case .bool(let e, _):
        if e.count > Self.smallInput {
          if values[i] != nil { return false }
        } else {
          guard let expected = values[i], e.count == expected.count,
            zip(e, expected).allSatisfy({ ($0 ? 1 : 0) == $1 })
          else { return false }
        }
      }
    }
    return true
  }

  init(_ inputs: [ONNXValue]) {
    shapes = inputs.map(\.shape)
    values = inputs.map { v in
      switch v {
      case .int64(let e, _) where e.count <= Self.smallInput: e
      case .bool(let e, _) where e.count <= Self.smallInput: e.map { $0 ? 1 : 0 }
      default: nil
      }
    }
  }
}

/// The program specialised to one ``ONNXSignature``, made by tracing the first run with that
/// signature: every value that depends only on the signature (the exporter's `Shape → Gather →
/// Equal → If` chains, `ConstantOfShape` of a batch size) is a constant, every `If` whose
/// condition is one is replaced by the branch taken, `Identity` steps become aliases, and the
/// remaining steps form one flat list over a compact slot array with liveness. A printable
/// value, like ``ForwardPlan``.
///
///     print(try model.plan(for: ["input": .float(chunk), "state": .float(state), "sr": sr])!)
public final class ONNXPlan: Sendable, CustomStringConvertible {
  /// A step of the plan: the program's step type, over the plan's compact slots.
  typealias Step = ONNXProgram.Step

  /// The steps in order.
  var steps: [Step] { kernels.map(\.step) }
  /// The number of steps a run executes.
  public var stepCount: Int { kernels.count }
  /// Per slot, the constant it holds from the start, or nil.
  let template: [ONNXValue?]
  /// Per program input, its slot (-1 when the plan does not read it).
  let inputSlots: [Int]
  /// Per program output, its slot.
  let outputSlots: [Int]
  let names: [String]
  /// Per step, how it replays (``ONNXReplay``).
  let kernels: [Kernel]
  /// The slots a run writes (not constants): cleared after each run; a run state keeps the
  /// constants from its creation.
  let computedSlots: [Int]
  /// Run states not in use; a run takes one (or makes one) and gives it back.
  private let idle = Mutex<[ONNXRunState]>([])
  /// Idle run states kept, for as many concurrent callers.
  static let idleLimit = 8

  init(
    kernels: [Kernel], template: [ONNXValue?], inputSlots: [Int], outputSlots: [Int],
    names: [String]
  ) {
    (self.kernels, self.template, self.inputSlots, self.outputSlots, self.names) = (
      kernels, template, inputSlots, outputSlots, names
    )
    computedSlots = template.indices.filter { template[$0] == nil }
  }

  /// Runs the plan on the program's inputs (in program order), giving output `i` to `emit`.
  ///
  /// Steps whose inputs have the traced layouts replay into the run state's buffers; after
  /// the first run of a caller, those allocate nothing.
  func run(
    _ inputs: some Collection<ONNXValue>, isa: VectorISA?, emit: (Int, ONNXValue) -> Void
  ) throws(ONNXError) {
    let state = idle.withLock { $0.popLast() } ?? ONNXRunState(plan: self)
    // The slots live in a local array for the run (moved, not copied): its accesses need no
    // dynamic exclusivity checks, and its element reads no retains of the run state.
    var slots: [ONNXValue?] = []
    swap(&slots, &state.slots)
    defer {
      // Hold no caller value between runs: buffers are free again once the caller drops them.
      state.arguments.removeAll(keepingCapacity: true)
      for i in computedSlots { slots[i] = nil }
      swap(&slots, &state.slots)
      idle.withLock { if $0.count < Self.idleLimit { $0.append(state) } }
    }
    for (slot, value) in zip(inputSlots, inputs) where slot >= 0 { slots[slot] = value }
    for index in kernels.indices {
      let kernel = kernels[index]
      let replayed =
        kernel.matches(slots) ? try replay(index, kernel, state, &slots, isa: isa) : false
      if !replayed {
        state.arguments.removeAll(keepingCapacity: true)
        for s in kernel.step.inputs { state.arguments.append(s >= 0 ? slots[s] : nil) }
        try kernel.step.op.run(
          state.arguments, outputs: kernel.step.outputs, node: kernel.step.name, isa: isa,
          into: &slots)
        state.arguments.removeAll(keepingCapacity: true)
      }
      for r in kernel.step.release { slots[r] = nil }
    }
    for (i, slot) in outputSlots.enumerated() {
      guard let v = slots[slot] else {
        throw ONNXError.runtime(node: names[slot], reason: "the output was not computed")
      }
      emit(i, v)
    }
  }

  /// The steps, one per line, with their inputs; constants are marked `=`.
  public var description: String {
    var lines = [
      "ONNXPlan: \(steps.count) steps over \(template.count) slots (\(template.compactMap { $0 }.count) constants)"
    ]
    for kernel in kernels {
      let step = kernel.step
      let ins = step.inputs.map { $0 < 0 ? "-" : (template[$0] != nil ? "=" : "") + names[$0] }
      lines.append(
        "  \(step.opType) '\(step.name)' (\(ins.joined(separator: ", "))) \(kernel.replay.label)")
    }
    return lines.joined(separator: "\n")
  }
}

/// Records a traced run of an ``ONNXProgram``: which values depend only on the signature
/// (`fixed`), which have shapes that do (`fixedShape`), the steps run in order, and the aliases
/// `If` and `Identity` create.
struct ONNXTracer {
  var fixed: [Bool]
  var fixedShape: [Bool]
  var captured: [ONNXValue?]
  var recorded: [ONNXProgram.Step] = []
  var aliases: [Int: Int] = [:]
  var dynamicCondition: String?

  /// Operators whose output shape depends on the values of inputs after the first.
  static func shapeFromValues(_ op: ONNXOperator) -> Bool {
    switch op {
    case .reshape, .expand, .constantOfShape, .slice, .squeeze, .unsqueeze, .split, .pad,
      .range, .reduce:
      true
    default: false
    }
  }

  mutating func record(_ step: ONNXProgram.Step, _ slots: [ONNXValue?]) {
    let ins = step.inputs.filter { $0 >= 0 }
    var shape = ins.allSatisfy { fixedShape[$0] }
    if Self.shapeFromValues(step.op) {
      shape = shape && step.inputs.dropFirst().allSatisfy { $0 < 0 || fixed[$0] }
    }
    if case .constantOfShape = step.op { shape = ins.allSatisfy { fixed[$0] } }
    let value: Bool
    switch step.op {
    case .shape, .size: value = ins.allSatisfy { fixedShape[$0] }
    default: value = ins.allSatisfy { fixed[$0] }
    }
    for o in step.outputs where o >= 0 {
      fixed[o] = value
      fixedShape[o] = shape || value
      if value { captured[o] = slots[o] }
    }
    recorded.append(step)
  }

  /// The flat plan, or nil when an `If` condition depended on data. Besides dropping the
  /// steps whose outputs are fixed, it fuses a `Relu` into the `Conv` it is the only reader of
  /// and an LSTM cell written as operators into one engine step (``fuseLSTMCells``).
  func plan(
    _ program: ONNXProgram, values: [ONNXValue?], kernels: RecurrentKernels,
    precision: WeightPrecision? = nil
  ) -> ONNXPlan? {
    if dynamicCondition != nil { return nil }
    var aliases = self.aliases
    func resolve(_ s: Int) -> Int {
      var s = s
      while let t = aliases[s] { s = t }
      return s
    }
    var kept = recorded.filter { !$0.outputs.allSatisfy { $0 < 0 || fixed[$0] } }
    var readers: [Int: Int] = [:]
    for step in kept { for s in step.inputs where s >= 0 { readers[resolve(s), default: 0] += 1 } }
    for output in program.outputs { readers[resolve(output.slot), default: 0] += 1 }
    var producer: [Int: Int] = [:]
    var dropped = Set<Int>()
    for (i, step) in kept.enumerated() {
      if case .conv = step.op, step.outputs.count == 1, step.outputs[0] >= 0 {
        producer[step.outputs[0]] = i
      }
      if case .unary(.relu) = step.op, step.inputs[0] >= 0, step.outputs[0] >= 0 {
        let source = resolve(step.inputs[0])
        if let j = producer[source], readers[source] == 1, case .conv(var c) = kept[j].op {
          c.relu = true
          kept[j].op = .conv(c)
          aliases[step.outputs[0]] = source
          dropped.insert(i)
        }
      }
    }
    Self.fuseLSTMCells(
      &kept, dropped: &dropped, resolve: resolve, outputs: program.outputs.map(\.slot),
      values: values, fixed: fixed, kernels: kernels, precision: precision)
    var compact: [Int: Int] = [:]
    var names: [String] = []
    var template: [ONNXValue?] = []
    func slot(_ s: Int) -> Int {
      let r = resolve(s)
      if let c = compact[r] { return c }
      compact[r] = names.count
      names.append(program.names[r])
      template.append(fixed[r] ? captured[r] : nil)
      return names.count - 1
    }
    var steps: [ONNXPlan.Step] = []
    var replays: [(ONNXReplay, [TensorLayout?])] = []
    for (i, step) in kept.enumerated() where !dropped.contains(i) {
      replays.append(
        ONNXPlan.Kernel.replay(
          for: step, inputs: step.inputs.map { $0 < 0 ? nil : values[$0] },
          outputs: step.outputs.map { $0 < 0 ? nil : values[$0] },
          constant: step.inputs.map { $0 >= 0 && fixed[resolve($0)] }))
      steps.append(
        ONNXPlan.Step(
          name: step.name, opType: step.opType, op: step.op,
          inputs: step.inputs.map { $0 < 0 ? -1 : slot($0) },
          outputs: step.outputs.map { $0 < 0 ? -1 : slot($0) }))
    }
    let outputs = program.outputs.map { slot($0.slot) }
    let inputs = program.inputs.map { compact[resolve($0.slot)] ?? -1 }
    // Liveness: release each computed value after its last reader (outputs kept).
    var last: [Int: Int] = [:]
    for (i, step) in steps.enumerated() {
      for s in step.outputs + step.inputs where s >= 0 { last[s] = i }
    }
    let keep = Set(outputs)
    for (s, i) in last where !keep.contains(s) && template[s] == nil {
      steps[i].release.append(s)
    }
    return ONNXPlan(
      kernels: zip(steps, replays).map {
        ONNXPlan.Kernel(step: $0, replay: $1.0, inputLayouts: $1.1)
      }, template: template, inputSlots: inputs, outputSlots: outputs, names: names)
  }
}

extension ONNXProgram {
  /// Runs graph `index` like ``execute(_:_:)``, recording into `tracer`.
  func trace(
    _ index: Int, _ slots: inout [ONNXValue?], _ tracer: inout ONNXTracer, isa: VectorISA?
  ) throws(ONNXError) {
    for step in graphs[index].steps {
      if case .ifElse(let then, let otherwise) = step.op {
        guard case .bool(let c, _)? = slots[step.inputs[0]], c.count == 1 else {
          throw ONNXError.runtime(node: step.name, reason: "the If condition must be one bool")
        }
        if !tracer.fixed[step.inputs[0]] { tracer.dynamicCondition = step.name }
        let branch = c[0] ? then : otherwise
        try trace(branch, &slots, &tracer, isa: isa)
        for (o, source) in zip(step.outputs, graphs[branch].outputs) where o >= 0 {
          slots[o] = slots[source]
          tracer.aliases[o] = source
          tracer.fixed[o] = tracer.fixed[source]
          tracer.fixedShape[o] = tracer.fixedShape[source]
          tracer.captured[o] = tracer.captured[source]
        }
        continue
      }
      let arguments = step.inputs.map { $0 >= 0 ? slots[$0] : nil }
      try step.op.run(
        arguments, outputs: step.outputs, node: step.name, isa: isa, into: &slots)
      var sameValue = false
      if case .identity = step.op { sameValue = true }
      if case .cast(let to) = step.op, to == 1 || to == 11, case .float? = arguments.first ?? nil {
        sameValue = true
      }
      if sameValue, step.inputs[0] >= 0, step.outputs.count == 1, step.outputs[0] >= 0 {
        let (o, source) = (step.outputs[0], step.inputs[0])
        tracer.aliases[o] = source
        tracer.fixed[o] = tracer.fixed[source]
        tracer.fixedShape[o] = tracer.fixedShape[source]
        tracer.captured[o] = tracer.captured[source]
      } else {
        tracer.record(step, slots)
      }
      // Values are kept (no release) so that aliases and captures stay valid while tracing.
    }
  }
}

/// The plans made so far, by signature (at most ``limit``; the oldest is dropped), shared by
/// every copy of a model and safe to use from concurrent runs.
final class ONNXPlanCache: Sendable {
  static let limit = 32
  let plans = Mutex<(entries: [ONNXSignature: ONNXPlan?], order: [ONNXSignature])>(([:], []))

  /// The most recently used plan, for repeated runs of one shape without hashing a
  /// signature.
  let latest = Mutex<(signature: ONNXSignature, plan: ONNXPlan)?>(nil)

  func plan(for signature: ONNXSignature) -> ONNXPlan?? {
    let found = plans.withLock { $0.entries[signature] }
    if let plan = found ?? nil { latest.withLock { $0 = (signature, plan) } }
    return found
  }

  /// The latest plan when `values` have its signature; allocates nothing.
  func recent(matching values: some RandomAccessCollection<ONNXValue>) -> ONNXPlan? {
    latest.withLock { entry in
      guard let entry, entry.signature.matches(values) else { return nil }
      return entry.plan
    }
  }

  func store(_ plan: ONNXPlan?, for signature: ONNXSignature) {
    plans.withLock { cache in
      if cache.entries.updateValue(plan, forKey: signature) == nil {
        cache.order.append(signature)
        if cache.order.count > Self.limit { cache.entries[cache.order.removeFirst()] = nil }
      }
    }
  }
}
