/// One ONNX operator with its attributes read and checked at load: the loader turns every node
/// into one of these (or reports it unsupported), so a run never looks at attributes again.
enum ONNXOperator {
  enum Unary { case relu, sigmoid, tanh, sqrt, exp, log, abs, neg, erf, gelu, reciprocal, not }
  enum Binary {
    case add, sub, mul, div, pow, equal, less, greater, lessOrEqual, greaterOrEqual, and, or
  }
  enum Reduce { case mean, sum, max }

  struct Convolution {
    var kernel: Int?
    var stride: Int
    var dilation: Int
    var pads: (Int, Int)
    var groups: Int
    /// A `Relu` fused by the plan (the convolution's only reader).
    var relu = false
  }

  struct Recurrent {
    enum Cell {
      case lstm
      case gru(linearBeforeReset: Int)
      case rnn(RNNNonlinearity)
    }
    var cell: Cell
    var hiddenSize: Int?
    var direction: String
    var layout: Int
    var clip: Double?
    var activations: [String]?
    var inputForget: Int
    /// com.microsoft `DynamicQuantizeLSTM`: `W` `[D, I, 4H]` and `R` `[D, H, 4H]` quantized
    /// (int8 or uint8) with scales and zero points at inputs 8–11; the layer runs at
    /// ``WeightPrecision/int8``.
    var dynamicallyQuantized = false
  }

  case identity
  case unary(Unary)
  case leakyRelu(alpha: Float)
  case binary(Binary)
  case whereSelect
  case cast(to: Int32)
  case constantOfShape(ONNXValue)
  case shape(start: Int, end: Int?)
  case size
  case reshape(allowZero: Bool)
  case flatten(axis: Int)
  case transpose(perm: [Int]?)
  /// Axes from the attribute (opset < 13) or, when nil, from the second input.
  case squeeze(axes: [Int]?)
  case unsqueeze(axes: [Int]?)
  case concat(axis: Int)
  case split(axis: Int, sizes: [Int]?, outputs: Int)
  /// opset < 10: starts/ends/axes attributes; otherwise inputs.
  case slice(attributes: (starts: [Int], ends: [Int], axes: [Int]?)?)
  case gather(axis: Int)
  case expand
  case range
  case pad(reflect: Bool, attributes: (pads: [Int], value: Float)?)
  case reduce(Reduce, axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
  case softmax(axis: Int, log: Bool, coerced: Bool)
  case layerNormalization(axis: Int, epsilon: Float)
  case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
  case matmul
  case conv(Convolution)
  case recurrent(Recurrent, prepared: PreparedRecurrent?)
  /// One LSTM step fused by the plan from the operators an exporter wrote for a cell
  /// (``ONNXTracer/fuseLSTMCells(_:dropped:resolve:outputs:values:fixed:kernels:)``): inputs
  /// in an `LSTM` node's positions (`X` `[B, I]`, `initial_h` and `initial_c` `[B, H]` at 5
  /// and 6), outputs `Y`, `Y_h`, `Y_c` as `[B, H]`.
  case lstmCell(LSTM<Float>)
  case ifElse(then: Int, else: Int)

  /// The one operator of another domain the loader runs: onnxruntime's int8 LSTM.
  static let quantizedLSTM = ("com.microsoft", "DynamicQuantizeLSTM")

  /// The operators the loader knows, by op type, for the unsupported-operator report and the
  /// README's table.
  static let supported: [String] = [
    "Abs", "Add", "And", "Cast", "Concat", "Constant", "ConstantOfShape", "Conv", "Div",
    "Dropout", "Equal", "Erf", "Exp", "Expand", "Flatten", "GRU", "Gather", "Gelu", "Gemm",
    "Greater", "GreaterOrEqual", "Identity", "If", "LSTM", "LayerNormalization", "LeakyRelu",
    "Less", "LessOrEqual", "Log", "LogSoftmax", "MatMul", "Mul", "Neg", "Not", "Or", "Pad", "Pow",
    "RNN", "Range", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape",
    "Shape", "Sigmoid", "Size", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh",
    "Transpose", "Unsqueeze", "Where", "com.microsoft::DynamicQuantizeLSTM",
  ]

  /// The operator of `node` at `opset` (the default domain's version); nil when the op type is
  /// unknown. `Constant` is not an operator here: the loader turns it into a value.
  static func parse(_ node: ONNXProto.Node, opset: Int) throws(ONNXError) -> ONNXOperator? {
    let a = try ONNXAttributes(node)
    let name = a.node
    func need(_ condition: Bool, _ reason: String) throws(ONNXError) {
      if !condition { throw ONNXError.invalidModel("node '\(name)' (\(node.opType)): \(reason)") }
    }
    let unaries: [String: Unary] = [
      "Relu": .relu, "Sigmoid": .sigmoid, "Tanh": .tanh, "Sqrt": .sqrt, "Exp": .exp, "Log": .log,
      "Abs": .abs, "Neg": .neg, "Erf": .erf, "Reciprocal": .reciprocal, "Not": .not,
    ]
    let binaries: [String: Binary] = [
      "Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div, "Pow": .pow, "Equal": .equal,
      "Less": .less, "Greater": .greater, "LessOrEqual": .lessOrEqual,
      "GreaterOrEqual": .greaterOrEqual, "And": .and, "Or": .or,
    ]
    if let u = unaries[node.opType] {
      try a.allowOnly([], op: node.opType)
      return .unary(u)
    }
    if let b = binaries[node.opType] {
      try a.allowOnly([], op: node.opType)
      return .binary(b)
    }
    switch node.opType {
    case "Identity":
      return .identity
    case "Dropout":
      // Inference: the identity (the training_mode input, if any, must be false at run time).
      try a.allowOnly(["seed", "ratio", "is_test"], op: "Dropout")
      return .identity
    case "Gelu":
      try a.allowOnly(["approximate"], op: "Gelu")
      try need(
        (try a.string("approximate") ?? "none") == "none", "only approximate = none is supported")
      return .unary(.gelu)
    case "LeakyRelu":
      try a.allowOnly(["alpha"], op: "LeakyRelu")
      return .leakyRelu(alpha: try a.float("alpha") ?? 0.01)
    case "Where":
      return .whereSelect
    case "Cast":
      try a.allowOnly(["to", "saturate", "round_mode"], op: "Cast")
      guard let to = try a.int("to") else { throw a.fail("to", "set") }
      try need(
        [1, 6, 7, 9, 10, 11].contains(to),
        "Cast to type \(to) is not supported (float, int32, int64, bool, float16, double are)")
      return .cast(to: Int32(to))
    case "ConstantOfShape":
      let value = try a.tensor("value") ?? .float(Tensor(shape: [1], scalars: [0]))
      try need(value.count == 1, "value must hold one element")
      return .constantOfShape(value)
    case "Shape":
      try a.allowOnly(["start", "end"], op: "Shape")
      return .shape(start: try a.int("start", default: 0), end: try a.int("end"))
    case "Size":
      return .size
    case "Reshape":
      try a.allowOnly(["allowzero"], op: "Reshape")
      return .reshape(allowZero: try a.int("allowzero", default: 0) != 0)
    case "Flatten":
      return .flatten(axis: try a.int("axis", default: 1))
    case "Transpose":
      return .transpose(perm: try a.ints("perm"))
    case "Squeeze":
      return .squeeze(axes: opset < 13 ? (try a.ints("axes") ?? []) : nil)
    case "Unsqueeze":
      if opset < 13 {
        guard let axes = try a.ints("axes") else { throw a.fail("axes", "set before opset 13") }
        return .unsqueeze(axes: axes)
      }
      return .unsqueeze(axes: nil)
    case "Concat":
      guard let axis = try a.int("axis") else { throw a.fail("axis", "set") }
      return .concat(axis: axis)
    case "Split":
      try a.allowOnly(["axis", "split", "num_outputs"], op: "Split")
      return .split(
        axis: try a.int("axis", default: 0), sizes: try a.ints("split"), outputs: node.outputs.count
      )
    case "Slice":
      if opset < 10 {
        guard let starts = try a.ints("starts"), let ends = try a.ints("ends") else {
          throw a.fail("starts", "set with ends before opset 10")
        }
        return .slice(attributes: (starts, ends, try a.ints("axes")))
      }
      return .slice(attributes: nil)
    case "Gather":
      return .gather(axis: try a.int("axis", default: 0))
    case "Expand":
      return .expand
    case "Range":
      return .range
    case "Pad":
      try a.allowOnly(["mode", "pads", "value"], op: "Pad")
      let mode = try a.string("mode") ?? "constant"
      try need(
        mode == "constant" || mode == "reflect",
        "mode '\(mode)' is not supported (constant, reflect)")
      if opset < 11 {
        guard let pads = try a.ints("pads") else { throw a.fail("pads", "set before opset 11") }
        return .pad(reflect: mode == "reflect", attributes: (pads, try a.float("value") ?? 0))
      }
      return .pad(reflect: mode == "reflect", attributes: nil)
    case "ReduceMean", "ReduceSum", "ReduceMax":
      try a.allowOnly(["axes", "keepdims", "noop_with_empty_axes"], op: node.opType)
      let kind: Reduce =
        node.opType == "ReduceMean" ? .mean : node.opType == "ReduceSum" ? .sum : .max
      // Axes moved from attribute to input at opset 13 (ReduceSum) and 18 (the others).
      let axesAreInput = node.opType == "ReduceSum" ? opset >= 13 : opset >= 18
      return .reduce(
        kind, axes: axesAreInput ? nil : (try a.ints("axes") ?? []),
        keepDims: try a.int("keepdims", default: 1) != 0,
        noopWithEmptyAxes: try a.int("noop_with_empty_axes", default: 0) != 0)
    case "Softmax", "LogSoftmax":
      try a.allowOnly(["axis"], op: node.opType)
      return .softmax(
        axis: try a.int("axis", default: opset >= 13 ? -1 : 1), log: node.opType == "LogSoftmax",
        coerced: opset < 13)
    case "LayerNormalization":
      try a.allowOnly(["axis", "epsilon", "stash_type"], op: "LayerNormalization")
      try need(
        node.outputs.dropFirst().allSatisfy(\.isEmpty),
        "the Mean and InvStdDev outputs are not supported")
      return .layerNormalization(
        axis: try a.int("axis", default: -1), epsilon: try a.float("epsilon") ?? 1e-5)
    case "Gemm":
      try a.allowOnly(["alpha", "beta", "transA", "transB"], op: "Gemm")
      return .gemm(
        alpha: try a.float("alpha") ?? 1, beta: try a.float("beta") ?? 1,
        transA: try a.int("transA", default: 0) != 0, transB: try a.int("transB", default: 0) != 0)
    case "MatMul":
      return .matmul
    case "Conv":
      try a.allowOnly(
        ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"], op: "Conv")
      let autoPad = try a.string("auto_pad") ?? "NOTSET"
      try need(
        autoPad == "NOTSET" || autoPad == "VALID",
        "auto_pad '\(autoPad)' is not supported (NOTSET, VALID)")
      let kernel = try a.ints("kernel_shape")
      let strides = try a.ints("strides") ?? [1]
      let dilations = try a.ints("dilations") ?? [1]
      let pads = try a.ints("pads") ?? [0, 0]
      try need(
        (kernel?.count ?? 1) == 1 && strides.count == 1 && dilations.count == 1 && pads.count == 2,
        "only 1-D convolutions are supported (kernel_shape \(kernel ?? []), strides \(strides), pads \(pads))"
      )
      try need(
        strides[0] >= 1 && dilations[0] >= 1 && pads.allSatisfy { $0 >= 0 }
          && (kernel?[0] ?? 1) >= 1,
        "strides, dilations and kernel_shape must be positive and pads ≥ 0")
      let groups = try a.int("group", default: 1)
      try need(groups >= 1, "group must be ≥ 1")
      return .conv(
        Convolution(
          kernel: kernel?[0], stride: strides[0], dilation: dilations[0],
          pads: autoPad == "VALID" ? (0, 0) : (pads[0], pads[1]), groups: groups))
    case "LSTM", "GRU", "RNN", "DynamicQuantizeLSTM":
      try a.allowOnly(
        [
          "hidden_size", "direction", "layout", "clip", "activations", "activation_alpha",
          "activation_beta", "input_forget", "linear_before_reset",
        ], op: node.opType)
      try need(
        a.byName["activation_alpha"] == nil && a.byName["activation_beta"] == nil,
        "activation_alpha/activation_beta are not supported")
      let cell: Recurrent.Cell
      var activations = try a.strings("activations")
      switch node.opType {
      case "LSTM", "DynamicQuantizeLSTM": cell = .lstm
      case "GRU": cell = .gru(linearBeforeReset: try a.int("linear_before_reset", default: 0))
      default:
        let first = activations?.first?.lowercased() ?? "tanh"
        try need(
          first == "tanh" || first == "relu",
          "RNN activation '\(first)' is not supported (Tanh, Relu)")
        cell = .rnn(first == "relu" ? .relu : .tanh)
        activations = nil
        if let given = try a.strings("activations"), Set(given.map { $0.lowercased() }).count > 1 {
          throw ONNXError.unsupported(
            "node '\(name)': RNN directions with different activations \(given)")
        }
      }
      return .recurrent(
        Recurrent(
          cell: cell, hiddenSize: try a.int("hidden_size"),
          direction: try a.string("direction") ?? "forward",
          layout: try a.int("layout", default: 0),
          clip: (try a.float("clip")).map(Double.init), activations: activations,
          inputForget: try a.int("input_forget", default: 0),
          dynamicallyQuantized: node.opType == "DynamicQuantizeLSTM"),
        prepared: nil)
    default:
      return nil
    }
  }
}
