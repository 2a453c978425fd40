/// Layers run one after another, PyTorch's `nn.Sequential`, built with a result builder.
///
///     var model = Sequential<Float> {
///       Embedding<Float>(numEmbeddings: 50, embeddingDim: 16, paddingIdx: 0)
///       LSTM<Float>(inputSize: 16, hiddenSize: 32, numLayers: 2, batchFirst: true)
///       LastStep<Float>()
///       Linear<Float>(inFeatures: 32, outFeatures: 4).named("head")
///     }
///     try model.loadStateDict(SafeTensors.read(contentsOf: path))  // "0.weight", "1.weight_ih_l0", "head.bias"
///     model.training = false                                       // eval()
///     let logits = try model(ids, lengths: lengths)
///
/// Children are named by position (`"0"`, `"1"`, … — a child without parameters still takes
/// its index) or by ``Layer/named(_:)``; state-dict keys join names with dots, so a PyTorch
/// model's `state_dict()` saved with `safetensors.torch.save_file` loads strictly. `lengths`
/// flows to every child. Cost: the children's, plus one dictionary merge for `stateDict()`.
public struct Sequential<Scalar: BLASScalar>: Layer {
  /// The children with their key prefixes (without the dot).
  public private(set) var children: [(name: String, layer: any Layer<Scalar>)]

  /// The children from a ``LayerBuilder`` block.
  public init(@LayerBuilder<Scalar> _ build: () -> [NamedLayer<Scalar>]) {
    self.init(build())
  }

  /// The children in order; unnamed ones take their position.
  ///
  /// - Precondition: names are unique and contain no dot.
  public init(_ layers: [NamedLayer<Scalar>]) {
    children = layers.enumerated().map { ($1.name ?? String($0), $1.layer) }
    let names = children.map(\.name)
    require(
      Set(names).count == names.count && !names.contains(where: { $0.contains(".") || $0.isEmpty }),
      "Sequential: child names \(names) must be unique, non-empty and without dots")
  }

  /// Training mode of every child (`model.train()` / `model.eval()`): true when all are.
  public var training: Bool {
    get { children.allSatisfy { $0.layer.training } }
    set {
      for i in children.indices { children[i].layer.training = newValue }
    }
  }

  /// Every child's parameters, keyed `"<child>.<name>"`, in order.
  public var parameterShapes: [(name: String, shape: [Int])] {
    children.flatMap { child in
      child.layer.parameterShapes.map { (child.name + "." + $0.name, $0.shape) }
    }
  }

  /// Every child's parameters under its prefix; shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] {
    var result: [String: Tensor<Scalar>] = [:]
    for child in children {
      for (key, value) in child.layer.stateDict() { result[child.name + "." + key] = value }
    }
    return result
  }

  /// Loads every child's parameters; strict (PyTorch's `strict=True`): checks every key and
  /// shape of the whole dict first and changes nothing on error.
  ///
  /// - Throws: ``LayerError/missingKey(_:expected:)``, ``LayerError/unexpectedKey(_:actual:)``
  ///   or ``LayerError/shapeMismatch(name:expected:actual:)`` with the full dotted key.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try StateDictCheck.validate(dict, expected: parameterShapes)
    var loaded = children
    for i in loaded.indices where !loaded[i].layer.parameterShapes.isEmpty {
      try loaded[i].layer.loadStateDict(dict, prefix: loaded[i].name + ".")
    }
    children = loaded
  }

  /// The children's forwards in order.
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    var x = input
    for child in children { x = try child.layer.forward(x, lengths: lengths) }
    return x
  }

  /// The children's traced forwards in order; the trace's `output` is the last child's.
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    var traces: [LayerTrace<Scalar>] = []
    var x = input
    for child in children {
      let trace = try child.layer.forwardWithTrace(x, lengths: lengths)
      traces.append(trace)
      x = trace.output
    }
    return LayerTrace(input: input, output: x, lengths: lengths, record: traces)
  }

  /// The children's backwards in reverse order; parameter gradients keyed as `stateDict()`.
  /// The first child computes no input gradient unless `inputGradient`.
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    let traces = try trace.record(as: [LayerTrace<Scalar>].self, layer: "Sequential")
    guard traces.count == children.count else {
      throw TrainingError.staleTrace(
        "the Sequential's trace has \(traces.count) children, the model \(children.count)")
    }
    var gradient = outputGradient
    var parameters: [String: Tensor<Scalar>] = [:]
    for (i, child) in children.enumerated().reversed() {
      let g = try child.layer.backward(
        traces[i], outputGradient: gradient, inputGradient: i > 0 || inputGradient)
      for (key, value) in g.parameters { parameters[child.name + "." + key] = value }
      gradient = g.input
    }
    return LayerGradients(
      input: inputGradient ? gradient : .zeros(shape: [0]), parameters: parameters)
  }
}

/// Builds a ``Sequential``'s children from layers and ``NamedLayer``s.
@resultBuilder
public enum LayerBuilder<Scalar: BLASScalar> {
  /// An unnamed layer: named by its position.
  public static func buildExpression(_ layer: some Layer<Scalar>) -> [NamedLayer<Scalar>] {
    [NamedLayer(name: nil, layer: layer)]
  }
  /// A layer with its name.
  public static func buildExpression(_ layer: NamedLayer<Scalar>) -> [NamedLayer<Scalar>] {
    [layer]
  }
  /// The children in order.
  public static func buildBlock(_ parts: [NamedLayer<Scalar>]...) -> [NamedLayer<Scalar>] {
    parts.flatMap { $0 }
  }
  /// An `if` without `else`.
  public static func buildOptional(_ part: [NamedLayer<Scalar>]?) -> [NamedLayer<Scalar>] {
    part ?? []
  }
  /// Either branch of an `if`/`else`.
  public static func buildEither(first part: [NamedLayer<Scalar>]) -> [NamedLayer<Scalar>] { part }
  /// Either branch of an `if`/`else`.
  public static func buildEither(second part: [NamedLayer<Scalar>]) -> [NamedLayer<Scalar>] {
    part
  }
  /// A `for` loop's layers.
  public static func buildArray(_ parts: [[NamedLayer<Scalar>]]) -> [NamedLayer<Scalar>] {
    parts.flatMap { $0 }
  }
}
