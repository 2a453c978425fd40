import TensorLSTM
import Testing

/// Whole models against PyTorch (tools/make_model_fixtures.py): the eval forward from the
/// PyTorch state dict, and three Adam steps of cross-entropy with dropout 0.
@Suite("Models: Sequential against PyTorch")
struct ModelFixtureTests {
  /// The Swift twin of each fixture's PyTorch module.
  static func model(_ name: String) -> Sequential<Float> {
    switch name {
    case "classifier", "classifier_train":
      let dropout = name == "classifier" ? 0.25 : 0
      return Sequential<Float> {
        Embedding<Float>(numEmbeddings: 50, embeddingDim: 16, paddingIdx: 0)
        LSTM<Float>(inputSize: 16, hiddenSize: 32, numLayers: 2, batchFirst: true, dropout: dropout)
        LastStep<Float>()
        LayerNorm<Float>(normalizedShape: [32])
        Dropout<Float>(p: name == "classifier" ? 0.5 : 0)
        Linear<Float>(inFeatures: 32, outFeatures: 4)
      }
    case "named_gru":
      return Sequential<Float> {
        Embedding<Float>(numEmbeddings: 50, embeddingDim: 16).named("embed")
        GRU<Float>(inputSize: 16, hiddenSize: 32, batchFirst: true, bidirectional: true).named(
          "rnn")
        LastStep<Float>()
        Linear<Float>(inFeatures: 64, outFeatures: 4).named("head")
      }
    case "conv_head":
      return Sequential<Float> {
        LSTM<Float>(inputSize: 6, hiddenSize: 8, batchFirst: true)
        Permute<Float>([0, 2, 1])
        Conv1d<Float>(inChannels: 8, outChannels: 5, kernelSize: 3, padding: 1)
        ReLU<Float>()
        Flatten<Float>()
        Linear<Float>(inFeatures: 35, outFeatures: 3)
      }
    case "tagger":
      return Sequential<Float> {
        GRU<Float>(inputSize: 6, hiddenSize: 12, batchFirst: true, bidirectional: true)
        LayerNorm<Float>(normalizedShape: [24])
        GELU<Float>()
        Linear<Float>(inFeatures: 24, outFeatures: 5)
        LogSoftmax<Float>(dim: -1)
      }
    case "relu_stack":
      return Sequential<Float> {
        RNN<Float>(
          inputSize: 6, hiddenSize: 10, numLayers: 3, nonlinearity: .relu, batchFirst: true,
          dropout: 0.3)
        Tanh<Float>()
        Sigmoid<Float>()
        Softmax<Float>(dim: -1)
      }
    case "activations":
      return Sequential<Float> {
        Linear<Float>(inFeatures: 6, outFeatures: 8)
        Tanh<Float>()
        Linear<Float>(inFeatures: 8, outFeatures: 8)
        Sigmoid<Float>()
        GELU<Float>()
        Softmax<Float>(dim: -1)
      }
    default:  // custom
      return Sequential<Float> {
        LSTM<Float>(inputSize: 6, hiddenSize: 16, batchFirst: true, projSize: 8).named("encoder")
        LastStep<Float>()
        LayerNorm<Float>(normalizedShape: [8]).named("norm")
        Linear<Float>(inFeatures: 8, outFeatures: 3).named("decoder")
      }
    }
  }

  /// The fixture's tensors with `prefix` removed from the keys that have it.
  static func entries(_ tensors: [String: Tensor<Float>], _ prefix: String) -> [String: Tensor<
    Float
  >] {
    var result: [String: Tensor<Float>] = [:]
    for (key, value) in tensors where key.hasPrefix(prefix) {
      result[String(key.dropFirst(prefix.count))] = value
    }
    return result
  }

  /// The fixture's `lengths` metadata (comma separated; empty: none).
  static func lengths(_ meta: [String: String]) -> [Int]? {
    meta["lengths"]!.isEmpty ? nil : meta["lengths"]!.split(separator: ",").map { Int($0)! }
  }

  static let names = [
    "classifier", "classifier_train", "named_gru", "conv_head", "tagger", "relu_stack", "custom",
    "activations",
  ]

  @Test("eval forward from the PyTorch state dict", arguments: names)
  func evalForward(name: String) throws {
    let (t, meta) = try Fixtures.load("model_" + name)
    var model = Self.model(name)
    let state = Self.entries(t, "state.")
    #expect(Set(model.stateDict().keys) == Set(state.keys), "the keys of model.state_dict()")
    try model.loadStateDict(state)
    model.training = false
    let lengths = Self.lengths(meta)
    let y = try model(t["input"]!, lengths: lengths)
    expectClose(y, t["eval_output"]!, absolute: 1e-5, relative: 1e-4, name)
  }

  @Test(
    "three Adam steps of cross-entropy match PyTorch's parameters",
    arguments: ["classifier_train", "named_gru", "conv_head", "custom", "tagger", "activations"])
  func training(name: String) throws {
    let (t, meta) = try Fixtures.load("model_" + name)
    var model = Self.model(name)
    try model.loadStateDict(Self.entries(t, "state."))
    model.training = true
    let lengths = Self.lengths(meta)
    let targets = t["targets"]!.scalars.map { Int($0) }
    var adam = Adam<Float>(learningRate: 1e-2)
    for _ in 0..<3 {
      let trace = try model.forwardWithTrace(t["input"]!, lengths: lengths)
      // Per-step outputs [B, T, C] train per step (padded steps carry the ignored index).
      let classes = trace.output.shape.last!
      let loss = try Loss.crossEntropy(
        logits: trace.output.reshaped([-1, classes]), targets: targets)
      let grads = try model.backward(
        trace, outputGradient: loss.gradient.reshaped(trace.output.shape))
      #expect(Set(grads.parameters.keys) == Set(model.stateDict().keys))
      var params = model.stateDict()
      try adam.step(&params, gradients: grads.parameters)
      try model.loadStateDict(params)
    }
    let trained = Self.entries(t, "trained.")
    for (key, value) in model.stateDict() {
      expectClose(value, trained[key]!, absolute: 1e-5, relative: 1e-4, "\(name): \(key)")
    }
  }
}
