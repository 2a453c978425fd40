import Foundation

/// A whole ONNX model, read without dependencies and run on this library's kernels.
///
///     let model = try ONNXModel(contentsOf: url)       // throws ONNXError
///     var state = Tensor<Float>.zeros(shape: [2, 1, 128])
///     let out = try model.run(["input": .float(chunk), "state": .float(state),
///                              "sr": .int64([16000], shape: [])])
///     let probability = out["output"]!.float!
///     state = out["stateN"]!.float!
///
/// Loading reads the protobuf, checks the opset, reports every operator it does not run (all
/// at once), folds everything computable from constants, and lowers `LSTM`/`GRU`/`RNN` nodes
/// onto ``LSTM``, ``GRU`` and ``RNN`` (attributes they cannot honour — `clip`, other
/// activations, peepholes — are refused, not ignored). A run checks the inputs against the
/// model's declared types and fixed dimensions before anything runs, then executes the
/// remaining steps in order, releasing each value after its last reader.
///
/// A loaded model is immutable and `Sendable`: one model serves concurrent callers, each run
/// keeping its values to itself.
public struct ONNXModel: Sendable, CustomStringConvertible {
  /// A graph input or output as the file declares it.
  public struct ValueInfo: Sendable, Equatable {
    /// The value's name.
    public var name: String
    /// The dimensions; nil where the file gives a symbolic name or nothing. Empty when the
    /// file declares no shape (or a scalar).
    public var shape: [Int?]
    /// The symbolic name of each dimension, where the file gives one (e.g. "batch").
    public var dimensionNames: [String?]
    /// The element type.
    public var elementType: ElementType
    /// Whether the file declares a shape (a scalar declares `[]`).
    var declaresShape = true
  }

  var program: ONNXProgram
  var cache = ONNXPlanCache()

  /// The vector kernels the convolutions and recurrent nodes run on, as ``LSTM/kernels``:
  /// `.automatic` (the widest this CPU runs), or one of ``RecurrentKernels/supported`` forced.
  /// Setting it re-packs the recurrent weights and drops the cached plans.
  ///
  /// - Precondition: a forced choice is in ``RecurrentKernels/supported``.
  public var kernels: RecurrentKernels = .automatic {
    didSet {
      _ = kernels.vectorISA
      program = program.withRecurrentLayers(kernels: kernels, precision: weightPrecision)
      cache = ONNXPlanCache()
    }
  }

  /// The weight precision of the recurrent nodes (`LSTM`, `GRU`, `RNN`, `DynamicQuantizeLSTM`
  /// and LSTM cells the plan fuses), as ``LSTM/weightPrecision``: nil (the default) keeps
  /// what each was loaded as — `.int8` for `DynamicQuantizeLSTM`, else `.float`. Setting it
  /// rounds and repacks their weights and drops the cached plans.
  ///
  ///     var vad = try ONNXModel(contentsOfFile: "silero_vad.onnx")
  ///     vad.weightPrecision = .int8
  public var weightPrecision: WeightPrecision? = nil {
    didSet {
      program = program.withRecurrentLayers(kernels: kernels, precision: weightPrecision)
      cache = ONNXPlanCache()
    }
  }

  /// The model's inputs (initializers listed as inputs are not among them).
  public var inputs: [ValueInfo] { program.inputs.map(\.info) }
  /// The model's outputs.
  public var outputs: [ValueInfo] { program.outputs.map(\.info) }

  /// Loads the model in the ONNX file at `url`.
  ///
  /// - Throws: ``ONNXError`` naming the field, node or operator; nothing is half-loaded.
  public init(contentsOf url: URL) throws(ONNXError) {
    try self.init(contentsOfFile: url.path)
  }

  /// Loads the model in the ONNX file at `path`.
  public init(contentsOfFile path: String) throws(ONNXError) {
    let bytes: [UInt8]
    do { bytes = try FileBytes.read(path) } catch { throw ONNXError.file(error) }
    try self.init(bytes: bytes)
  }

  /// Loads a model from the bytes of an ONNX file.
  public init(bytes: [UInt8]) throws(ONNXError) {
    let model: ONNXProto.Model
    do {
      model = try bytes.withUnsafeBytes { try ONNXProto.model($0) }
    } catch let error as ONNXError {
      throw error
    } catch {
      throw ONNXError.malformed(field: "", reason: "\(error)")
    }
    program = try ONNXProgramBuilder.program(model)
  }

  /// Runs the model on `inputs` (one value per model input, by name) and returns every output
  /// by name.
  ///
  /// Cost: the first run with a new ``ONNXSignature`` (input shapes, small integer values)
  /// traces the model into an ``ONNXPlan``; later runs follow the plan, whose steps write into
  /// buffers kept from run to run (views cost nothing), so a steady caller's run allocates
  /// only its result dictionary and a few bookkeeping arrays.
  /// - Throws: ``ONNXError/invalidInput(name:expected:actual:)`` before anything runs for a
  ///   missing or unknown name, a wrong element type, or a shape that contradicts a fixed
  ///   dimension or another input's size for the same symbolic dimension;
  ///   ``ONNXError/runtime(node:reason:)`` when a node's data contradicts it.
  public func run(_ inputs: [String: ONNXValue]) throws(ONNXError) -> [String: ONNXValue] {
    try check(inputs)
    var named = [String: ONNXValue](minimumCapacity: program.outputs.count)
    try run(NamedInputs(program: program, given: inputs)) { i, value in
      named[program.outputs[i].info.name] = value
    }
    return named
  }

  /// The plan a run with `inputs` follows (made by tracing one run when there is none yet), or
  /// nil when the model branches on data and runs unspecialised.
  ///
  ///     print(try model.plan(for: inputs)!)   // the steps left, their inputs, the constants
  public func plan(for inputs: [String: ONNXValue]) throws(ONNXError) -> ONNXPlan? {
    try check(inputs)
    let values = program.inputs.map { inputs[$0.info.name]! }
    _ = try run(values)
    return cache.plan(for: ONNXSignature(values)) ?? nil
  }

  /// Runs on checked inputs in program order: the cached plan for their signature, or a traced
  /// run that makes one.
  func run(_ given: some RandomAccessCollection<ONNXValue>) throws(ONNXError) -> [ONNXValue] {
    var results: [ONNXValue] = []
    try run(given) { _, value in results.append(value) }
    return results
  }

  /// Runs on checked inputs in program order, giving output `i` to `emit` in order: the
  /// latest plan when the inputs have its signature (nothing allocated here), else by
  /// signature.
  func run(
    _ given: some RandomAccessCollection<ONNXValue>, emit: (Int, ONNXValue) -> Void
  ) throws(ONNXError) {
    if let plan = cache.recent(matching: given) {
      return try plan.run(given, isa: kernels.vectorISA, emit: emit)
    }
    for (i, value) in try traceOrRun(Array(given)).enumerated() { emit(i, value) }
  }

  /// A run whose signature is not the latest: its cached plan, or unplanned when the model
  /// branches on data, or a traced run that makes the plan.
  private func traceOrRun(_ values: [ONNXValue]) throws(ONNXError) -> [ONNXValue] {
    let isa = kernels.vectorISA
    let signature = ONNXSignature(values)
    if let cached = cache.plan(for: signature) {
      if let plan = cached {
        var results: [ONNXValue] = []
        try plan.run(values, isa: isa) { _, value in results.append(value) }
        return results
      }
      var slots = program.constants
      for ((_, slot), value) in zip(program.inputs, values) { slots[slot] = value }
      try program.execute(0, &slots, isa: isa)
      return try outputs(slots)
    }
    var slots = program.constants
    var tracer = ONNXTracer(
      fixed: program.constants.map { $0 != nil }, fixedShape: program.constants.map { $0 != nil },
      captured: program.constants)
    for (((_, slot), value), small) in zip(zip(program.inputs, values), signature.values) {
      slots[slot] = value
      tracer.fixedShape[slot] = true
      if small != nil {
        tracer.fixed[slot] = true
        tracer.captured[slot] = value
      }
    }
    try program.trace(0, &slots, &tracer, isa: isa)
    let results = try outputs(slots)
    cache.store(
      tracer.plan(program, values: slots, kernels: kernels, precision: weightPrecision),
      for: signature)
    return results
  }

  func outputs(_ slots: [ONNXValue?]) throws(ONNXError) -> [ONNXValue] {
    var result: [ONNXValue] = []
    for (info, slot) in program.outputs {
      guard let value = slots[slot] else {
        throw ONNXError.runtime(node: info.name, reason: "the output was not computed")
      }
      result.append(value)
    }
    return result
  }

  func check(_ given: [String: ONNXValue]) throws(ONNXError) {
    for name in given.keys where !program.inputs.contains(where: { $0.info.name == name }) {
      let unknown = given.keys.filter { n in !program.inputs.contains { $0.info.name == n } }
      throw ONNXError.invalidInput(
        name: unknown.sorted()[0],
        expected: "one of the model's inputs \(program.inputs.map(\.info.name))",
        actual: "an unknown name")
    }
    for (index, (info, _)) in program.inputs.enumerated() {
      guard let value = given[info.name] else {
        throw ONNXError.invalidInput(name: info.name, expected: "a value", actual: "nothing")
      }
      guard value.elementType == info.elementType else {
        throw ONNXError.invalidInput(
          name: info.name, expected: "\(info.elementType) elements", actual: "\(value.elementType)")
      }
      let shape = value.shape
      guard info.declaresShape else { continue }
      func declared() -> String {
        let dims = info.shape.enumerated().map { i, d in
          d.map(String.init) ?? info.dimensionNames[i] ?? "?"
        }
        return "shape [\(dims.joined(separator: ", "))]"
      }
      guard shape.count == info.shape.count else {
        throw ONNXError.invalidInput(name: info.name, expected: declared(), actual: "\(shape)")
      }
      for i in shape.indices {
        if let d = info.shape[i], d != shape[i] {
          throw ONNXError.invalidInput(name: info.name, expected: declared(), actual: "\(shape)")
        }
        guard let symbol = info.dimensionNames[i] else { continue }
        // The same symbolic dimension in an earlier input (or axis) must have the same size.
        for (other, _) in program.inputs[...index] where other.declaresShape {
          guard let owner = given[other.name] else { continue }
          for (j, name) in other.dimensionNames.enumerated()
          where name == symbol && j < owner.shape.count && (other.name != info.name || j < i)
            && owner.shape[j] != shape[i]
          {
            throw ONNXError.invalidInput(
              name: info.name,
              expected: "\(symbol) = \(owner.shape[j]) (as in '\(other.name)') at axis \(i)",
              actual: "\(shape)")
          }
        }
      }
    }
  }

  /// The resolved program: inputs, outputs, how many nodes were folded at load, and each step
  /// left to run.
  public var description: String {
    var lines = [
      "ONNXModel: \(program.graphs[0].steps.count) steps (\(program.graphs.count - 1) branch graphs), \(program.folded) nodes folded at load"
    ]
    for (info, _) in program.inputs + program.outputs {
      let dims = info.shape.enumerated().map { i, d in
        d.map(String.init) ?? info.dimensionNames[i] ?? "?"
      }
      lines.append("  \(info.name): \(info.elementType) [\(dims.joined(separator: ", "))]")
    }
    func steps(_ index: Int, _ indent: String) {
      for step in program.graphs[index].steps {
        let ins = step.inputs.map { $0 < 0 ? "-" : program.names[$0] }
        lines.append("\(indent)\(step.opType) '\(step.name)' (\(ins.joined(separator: ", ")))")
        if case .ifElse(let t, let e) = step.op {
          lines.append("\(indent)  then:")
          steps(t, indent + "    ")
          lines.append("\(indent)  else:")
          steps(e, indent + "    ")
        }
      }
    }
    steps(0, "  ")
    return lines.joined(separator: "\n")
  }
}

/// The given inputs in the program's order, looked up by name as they are read (no array, no
/// closure: a run with a known signature allocates nothing for them).
struct NamedInputs: RandomAccessCollection {
  let program: ONNXProgram
  let given: [String: ONNXValue]
  var startIndex: Int { 0 }
  var endIndex: Int { program.inputs.count }
  subscript(i: Int) -> ONNXValue { given[program.inputs[i].info.name]! }
}
