/// A loaded ONNX graph resolved for running: every value named by a slot number, constants
/// (initializers, `Constant` nodes and everything computable from them) evaluated once at load,
/// recurrent nodes lowered onto their layers, and for each step the slots to release after it
/// (liveness). It is shared, immutable, by every run; a run's values live in its own slot array.
final class ONNXProgram: Sendable {
  struct Step: Sendable {
    var name: String
    var opType: String
    var op: ONNXOperator
    /// Slot of each input; -1 for an absent optional input.
    var inputs: [Int]
    /// Slot of each output; -1 for an output nobody reads.
    var outputs: [Int]
    /// Slots no later step of this graph reads: released after this step.
    var release: [Int] = []
  }

  struct Graph: Sendable {
    var steps: [Step] = []
    var outputs: [Int] = []
  }

  /// Graph 0 is the model's; `If` branches refer to the others by index.
  let graphs: [Graph]
  /// Per slot, the constant value, or nil for values computed at run time.
  let constants: [ONNXValue?]
  let names: [String]
  let inputs: [(info: ONNXModel.ValueInfo, slot: Int)]
  let outputs: [(info: ONNXModel.ValueInfo, slot: Int)]
  let folded: Int

  init(
    graphs: [Graph], constants: [ONNXValue?], names: [String],
    inputs: [(info: ONNXModel.ValueInfo, slot: Int)],
    outputs: [(info: ONNXModel.ValueInfo, slot: Int)], folded: Int
  ) {
    (self.graphs, self.constants, self.names, self.inputs, self.outputs, self.folded) = (
      graphs, constants, names, inputs, outputs, folded
    )
  }

  /// The same program with its recurrent layers on `kernels` and, when not nil, at `precision`.
  func withRecurrentLayers(
    kernels: RecurrentKernels, precision: WeightPrecision?
  ) -> ONNXProgram {
    var graphs = self.graphs
    for g in graphs.indices {
      for s in graphs[g].steps.indices {
        guard case .recurrent(let r, let prepared?) = graphs[g].steps[s].op else { continue }
        let changed: PreparedRecurrent
        switch prepared {
        case .lstm(var layer):
          layer.kernels = kernels
          layer.weightPrecision = precision ?? (r.dynamicallyQuantized ? .int8 : .float)
          changed = .lstm(layer)
        case .gru(var layer):
          layer.kernels = kernels
          layer.weightPrecision = precision ?? .float
          changed = .gru(layer)
        case .rnn(var layer):
          layer.kernels = kernels
          layer.weightPrecision = precision ?? .float
          changed = .rnn(layer)
        }
        graphs[g].steps[s].op = .recurrent(r, prepared: changed)
      }
    }
    return ONNXProgram(
      graphs: graphs, constants: constants, names: names, inputs: inputs, outputs: outputs,
      folded: folded)
  }

  /// Runs graph `index` on `slots`.
  func execute(_ index: Int, _ slots: inout [ONNXValue?], isa: VectorISA?) throws(ONNXError) {
    for step in graphs[index].steps {
      if case .ifElse(let then, let otherwise) = step.op {
        guard case .bool(let c, _)? = slots[step.inputs[0]], c.count == 1 else {
          throw ONNXError.runtime(node: step.name, reason: "the If condition must be one bool")
        }
        let branch = c[0] ? then : otherwise
        try execute(branch, &slots, isa: isa)
        for (o, source) in zip(step.outputs, graphs[branch].outputs) where o >= 0 {
          slots[o] = slots[source]
        }
      } else {
        let arguments = step.inputs.map { $0 >= 0 ? slots[$0] : nil }
        try step.op.run(
          arguments, outputs: step.outputs, node: step.name, isa: isa, into: &slots)
      }
      for r in step.release { slots[r] = nil }
    }
  }
}

/// Builds an ``ONNXProgram`` from a parsed model: names → slots, operators parsed (all unknown
/// ones reported together), topological order checked, constants folded, layers prepared,
/// liveness computed.
struct ONNXProgramBuilder {
  var slots: [String: Int] = [:]
  var names: [String] = []
  var constants: [ONNXValue?] = []
  var graphs: [ONNXProgram.Graph] = []
  var unsupported: [String] = []
  var folded = 0
  let opset: Int

  /// The opsets of the default domain this loader reads.
  static let opsets: ClosedRange<Int64> = 7...22

  static func program(_ model: ONNXProto.Model) throws(ONNXError) -> ONNXProgram {
    let opset = model.opsets[""] ?? 0
    guard opsets.contains(opset) else {
      throw ONNXError.unsupported(
        "opset \(opset) of the default domain; this loader reads opsets \(opsets.lowerBound)–\(opsets.upperBound)"
      )
    }
    var builder = ONNXProgramBuilder(opset: Int(opset))
    let g = model.graph
    let initializerNames = Set(g.initializers.map(\.name))
    let inputInfos = g.inputs.filter { !initializerNames.contains($0.name) }
    var defined = Set<Int>()
    for info in inputInfos { defined.insert(builder.slot(info.name)) }
    _ = try builder.build(g, defined: defined)
    if !builder.unsupported.isEmpty { throw ONNXError.unsupportedOperators(builder.unsupported) }
    try builder.fold(0)
    builder.computeLiveness()
    func describe(_ v: ONNXProto.ValueInfo) -> ONNXModel.ValueInfo {
      ONNXModel.ValueInfo(
        name: v.name,
        shape: (v.shape ?? []).map { if case .value(let n) = $0 { Int(clamping: n) } else { nil } },
        dimensionNames: (v.shape ?? []).map { if case .symbol(let s) = $0 { s } else { nil } },
        elementType: ONNXModel.ElementType(onnx: v.elementType), declaresShape: v.shape != nil)
    }
    return ONNXProgram(
      graphs: builder.graphs, constants: builder.constants, names: builder.names,
      inputs: inputInfos.map { (describe($0), builder.slots[$0.name]!) },
      outputs: g.outputs.map { (describe($0), builder.slots[$0.name]!) }, folded: builder.folded)
  }

  mutating func slot(_ name: String) -> Int {
    if let s = slots[name] { return s }
    slots[name] = names.count
    names.append(name)
    constants.append(nil)
    return names.count - 1
  }

  /// Builds `g` (and its subgraphs) with `defined` visible from outside; returns its index.
  mutating func build(_ g: ONNXProto.Graph, defined outer: Set<Int>) throws(ONNXError) -> Int {
    if g.hasSparseInitializers {
      throw ONNXError.unsupported("sparse initializers; store the tensors dense")
    }
    var defined = outer
    for t in g.initializers {
      let s = slot(t.name)
      constants[s] = try t.value()
      defined.insert(s)
    }
    let index = graphs.count
    graphs.append(ONNXProgram.Graph())
    var steps: [ONNXProgram.Step] = []
    for (n, node) in g.nodes.enumerated() {
      let name = node.name.isEmpty ? "\(node.opType) #\(n)" : node.name
      var inputs: [Int] = []
      for input in node.inputs {
        if input.isEmpty {
          inputs.append(-1)
          continue
        }
        guard let s = slots[input], defined.contains(s) else {
          throw ONNXError.invalidModel(
            "node '\(name)' (\(node.opType)) reads '\(input)' before any node, input or initializer defines it (nodes must be in topological order)"
          )
        }
        inputs.append(s)
      }
      let outputs = node.outputs.map { $0.isEmpty ? -1 : slot($0) }
      defer { for o in outputs where o >= 0 { defined.insert(o) } }
      guard node.domain.isEmpty || (node.domain, node.opType) == ONNXOperator.quantizedLSTM else {
        unsupported.append("\(node.domain)::\(node.opType) (node '\(name)')")
        continue
      }
      switch node.opType {
      case "Constant":
        guard outputs.count == 1, outputs[0] >= 0 else {
          throw ONNXError.invalidModel("node '\(name)': Constant needs one output")
        }
        constants[outputs[0]] = try constantValue(node, name)
        folded += 1
      case "If":
        let a = try ONNXAttributes(node)
        guard inputs.count == 1, inputs[0] >= 0, let then = try a.graph("then_branch"),
          let otherwise = try a.graph("else_branch")
        else {
          throw ONNXError.invalidModel("node '\(name)': If needs a condition and both branches")
        }
        let t = try build(then, defined: defined)
        let e = try build(otherwise, defined: defined)
        guard graphs[t].outputs.count == outputs.count, graphs[e].outputs.count == outputs.count
        else {
          throw ONNXError.invalidModel(
            "node '\(name)': If has \(outputs.count) outputs but its branches give \(graphs[t].outputs.count) and \(graphs[e].outputs.count)"
          )
        }
        steps.append(
          ONNXProgram.Step(
            name: name, opType: "If", op: .ifElse(then: t, else: e), inputs: inputs,
            outputs: outputs))
      default:
        guard let op = try ONNXOperator.parse(node, opset: opset) else {
          unsupported.append("\(node.opType) (node '\(name)')")
          continue
        }
        try checkArity(node, name, op)
        steps.append(
          ONNXProgram.Step(
            name: name, opType: node.opType, op: op, inputs: inputs, outputs: outputs))
      }
    }
    var graphOutputs: [Int] = []
    for o in g.outputs {
      guard let s = slots[o.name], defined.contains(s) else {
        throw ONNXError.invalidModel(
          "graph output '\(o.name)' is not defined by any node, input or initializer")
      }
      graphOutputs.append(s)
    }
    graphs[index] = ONNXProgram.Graph(steps: steps, outputs: graphOutputs)
    return index
  }

  /// Required inputs present, at most as many inputs as the operator takes.
  func checkArity(_ node: ONNXProto.Node, _ name: String, _ op: ONNXOperator) throws(ONNXError) {
    let (required, most): (Int, Int)
    switch op {
    case .identity, .unary, .leakyRelu, .cast, .shape, .size, .flatten, .transpose:
      (required, most) = (1, node.opType == "Dropout" ? 3 : 1)
    case .constantOfShape: (required, most) = (1, 1)
    case .binary, .matmul, .expand: (required, most) = (2, 2)
    case .reshape: (required, most) = (2, 2)
    case .whereSelect, .range: (required, most) = (3, 3)
    case .squeeze(let axes), .unsqueeze(let axes):
      (required, most) = (axes == nil && node.opType == "Unsqueeze" ? 2 : 1, 2)
    case .concat: (required, most) = (1, Int.max)
    case .split: (required, most) = (1, 2)
    case .slice(let attributes): (required, most) = attributes == nil ? (3, 5) : (1, 1)
    case .gather: (required, most) = (2, 2)
    case .pad(_, let attributes): (required, most) = attributes == nil ? (2, 4) : (1, 1)
    case .reduce: (required, most) = (1, 2)
    case .softmax: (required, most) = (1, 1)
    case .layerNormalization: (required, most) = (2, 3)
    case .gemm: (required, most) = (2, 3)
    case .conv: (required, most) = (2, 3)
    case .recurrent(let r, _) where r.dynamicallyQuantized:
      (required, most) = (3, 12)
      guard node.inputs.count == 12, node.inputs[8...].allSatisfy({ !$0.isEmpty }) else {
        throw ONNXError.invalidModel(
          "node '\(name)' (DynamicQuantizeLSTM) has inputs \(node.inputs); it takes 12, with W_scale, W_zero_point, R_scale and R_zero_point at 8–11"
        )
      }
    case .recurrent: (required, most) = (3, 8)
    case .lstmCell: (required, most) = (7, 7)
    case .ifElse: (required, most) = (1, 1)
    }
    let present = node.inputs.count
    guard present <= most, node.inputs.prefix(required).allSatisfy({ !$0.isEmpty }),
      present >= required
    else {
      throw ONNXError.invalidModel(
        "node '\(name)' (\(node.opType)) has inputs \(node.inputs); it takes \(required)\(most == required ? "" : most == Int.max ? " or more" : "–\(most)")"
      )
    }
    if case .split = op, node.outputs.isEmpty {
      throw ONNXError.invalidModel("node '\(name)': Split needs at least one output")
    }
  }

  func constantValue(_ node: ONNXProto.Node, _ name: String) throws(ONNXError) -> ONNXValue {
    let a = try ONNXAttributes(node)
    guard a.byName.count == 1 else {
      throw ONNXError.invalidModel("node '\(name)': Constant needs exactly one value attribute")
    }
    if let t = try a.tensor("value") { return t }
    if let f = try a.float("value_float") { return .float(Tensor(shape: [], scalars: [f])) }
    if let f = try a.floats("value_floats") { return .float(Tensor(shape: [f.count], scalars: f)) }
    if let i = a.byName["value_int"]?.int { return .int64([i], shape: []) }
    if let i = a.byName["value_ints"] { return .int64(i.ints, shape: [i.ints.count]) }
    throw ONNXError.unsupported(
      "node '\(name)': Constant attribute '\(a.byName.keys.first ?? "")' (value, value_float(s), value_int(s) are supported)"
    )
  }

  /// Evaluates every step of graph `index` whose inputs are all constants, and prepares every
  /// recurrent layer whose weights are.
  mutating func fold(_ index: Int) throws(ONNXError) {
    var kept: [ONNXProgram.Step] = []
    for var step in graphs[index].steps {
      let inputsConstant = step.inputs.allSatisfy { $0 < 0 || constants[$0] != nil }
      switch step.op {
      case .ifElse(let t, let e):
        try fold(t)
        try fold(e)
        kept.append(step)
      case .recurrent(let r, nil) where r.dynamicallyQuantized:
        // int8 weights are dequantized once here; weights computed at run time are refused.
        let quantized = [1, 2, 8, 9, 10, 11].map { constants[step.inputs[$0]] }
        guard step.inputs[7] < 0, step.inputs[3] < 0 || constants[step.inputs[3]] != nil,
          let w = quantized[0], let rw = quantized[1], let ws = quantized[2],
          let wz = quantized[3], let rs = quantized[4], let rz = quantized[5]
        else {
          throw ONNXError.unsupported(
            "node '\(step.name)': DynamicQuantizeLSTM needs W, R, B, their scales and zero points as initializers, and no peepholes (P)"
          )
        }
        step.op = .recurrent(
          r,
          prepared: try ONNXRecurrentRun.prepare(
            r, w: try ONNXRecurrentRun.dequantized(w, scale: ws, zeroPoint: wz, "W", step.name),
            r: try ONNXRecurrentRun.dequantized(rw, scale: rs, zeroPoint: rz, "R", step.name),
            b: step.inputs[3] >= 0 ? constants[step.inputs[3]] : nil, peepholes: false,
            step.name))
        kept.append(step)
      case .recurrent(let r, nil):
        let weights = step.inputs[1..<Swift.min(4, step.inputs.count)]
        if weights.count >= 2, weights.allSatisfy({ $0 < 0 || constants[$0] != nil }),
          step.inputs.count < 8 || step.inputs[7] < 0
        {
          let w = constants[step.inputs[1]]!
          let rw = constants[step.inputs[2]]!
          let b = step.inputs.count > 3 && step.inputs[3] >= 0 ? constants[step.inputs[3]] : nil
          step.op = .recurrent(
            r,
            prepared: try ONNXRecurrentRun.prepare(
              r, w: w, r: rw, b: b, peepholes: false, step.name))
        } else if step.inputs.count >= 8 && step.inputs[7] >= 0 {
          throw ONNXError.unsupported("node '\(step.name)': LSTM peephole weights (P)")
        } else {
          // The attributes are checked now even if the weights come at run time.
          _ = try ONNXRecurrent.checkedDirections(r, step.name)
        }
        kept.append(step)
      default:
        guard inputsConstant else {
          kept.append(step)
          continue
        }
        let arguments = step.inputs.map { $0 >= 0 ? constants[$0] : nil }
        var results: [ONNXValue] = []
        var tooLarge = false
        do {
          try ONNXLimits.$elements.withValue(ONNXLimits.folding) {
            do {
              results = try step.op.evaluate(
                arguments, outputs: step.outputs.count, node: step.name)
            } catch let error as ONNXError {
              guard case .runtime(_, let reason) = error, reason.contains("allowed") else {
                throw error
              }
              tooLarge = true
            }
          }
        } catch {
          throw ONNXError.invalidModel("constant node '\(step.name)' fails: \(error)")
        }
        if tooLarge {
          // Too large to keep as a constant: computed at run time instead.
          kept.append(step)
          continue
        }
        for (i, o) in step.outputs.enumerated() where o >= 0 && i < results.count {
          constants[o] = results[i]
        }
        folded += 1
      }
    }
    graphs[index].steps = kept
  }

  /// Per graph, each value's last reader; the value is released after it. A value read inside
  /// an `If` branch counts as read by the `If`.
  mutating func computeLiveness() {
    var reads: [Set<Int>] = Array(repeating: [], count: graphs.count)
    // Branches have higher indices than their parents: compute the reads bottom-up.
    for index in graphs.indices.reversed() {
      var all = Set(graphs[index].outputs)
      for step in graphs[index].steps {
        all.formUnion(step.inputs.filter { $0 >= 0 })
        if case .ifElse(let t, let e) = step.op {
          all.formUnion(reads[t])
          all.formUnion(reads[e])
        }
      }
      reads[index] = all
    }
    for index in graphs.indices {
      var last: [Int: Int] = [:]
      let steps = graphs[index].steps
      for (i, step) in steps.enumerated() {
        for o in step.outputs where o >= 0 { last[o] = i }
        var used = Set(step.inputs.filter { $0 >= 0 })
        if case .ifElse(let t, let e) = step.op {
          used.formUnion(reads[t])
          used.formUnion(reads[e])
        }
        for u in used where last[u] != nil || index == 0 { last[u] = i }
      }
      let keep = Set(graphs[index].outputs)
      for (slot, i) in last where !keep.contains(slot) && constants[slot] == nil {
        graphs[index].steps[i].release.append(slot)
      }
    }
  }
}

extension ONNXRecurrent {
  /// The attribute checks of a recurrent node whose weights are not constants.
  static func checkedDirections(_ r: ONNXOperator.Recurrent, _ name: String) throws(ONNXError)
    -> Int
  {
    do {
      let defaults: [String] =
        switch r.cell {
        case .lstm: ["Sigmoid", "Tanh", "Tanh"]
        case .gru: ["Sigmoid", "Tanh"]
        case .rnn: ["Tanh"]
        }
      return try directions(
        op: "\(r.cell)", direction: r.direction, clip: r.clip, activations: r.activations,
        defaults: defaults, layout: r.layout
      ).count
    } catch {
      throw ONNXError.unsupported("node '\(name)': \(error)")
    }
  }
}
