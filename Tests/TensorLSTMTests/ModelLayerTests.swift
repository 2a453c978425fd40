import Foundation
import TensorLSTM
import Testing

/// The new layers and Sequential: Double finite differences of every backward (under the same
/// dropout masks), dropout's statistics, train/eval, bad input, and the contract.
@Suite("Models: layers")
struct ModelLayerTests {
  /// Configures and runs any recurrent layer through the protocol alone.
  static func throughProtocol<R: RecurrentLayer<Float>>(_ layer: R, gates: Int) throws {
    var layer = layer
    layer.threads = 1
    layer.kernels = .portable
    #expect(layer.threads == 1 && layer.kernels == .portable)
    #expect(layer.inputSize == 4 && layer.hiddenSize == 8 && layer.numLayers == 2)
    #expect(layer.bidirectional && layer.directions == 2 && layer.bias && layer.batchFirst)
    #expect(layer.parameterShapes.first?.name == "weight_ih_l0")
    #expect(layer.parameterShapes.first?.shape == [gates * 8, 4])
    let x = Tensor<Float>.randomNormal(shape: [3, 5, 4], seed: 4)
    #expect(try layer.plan(for: x).description.contains("T 5, B 3, 1 thread"))
    // The state dict through the protocol: a fresh layer that loads it computes the same.
    var other = layer
    let zeroed = layer.stateDict().mapValues { Tensor<Float>.zeros(shape: $0.shape) }
    try other.loadStateDict(zeroed)
    #expect(try other.forward(x, lengths: nil).scalars != layer.forward(x, lengths: nil).scalars)
    try other.loadStateDict(layer.stateDict())
    #expect(try other.forward(x, lengths: nil).scalars == layer.forward(x, lengths: nil).scalars)
  }

  @Test("LSTM, GRU and RNN share RecurrentLayer's members and work through it")
  func recurrentLayerProtocol() throws {
    let sizes = (inputSize: 4, hiddenSize: 8, numLayers: 2)
    try Self.throughProtocol(
      LSTM<Float>(
        inputSize: sizes.inputSize, hiddenSize: sizes.hiddenSize, numLayers: sizes.numLayers,
        batchFirst: true, bidirectional: true, seed: 3), gates: 4)
    try Self.throughProtocol(
      GRU<Float>(
        inputSize: sizes.inputSize, hiddenSize: sizes.hiddenSize, numLayers: sizes.numLayers,
        batchFirst: true, bidirectional: true, seed: 3), gates: 3)
    try Self.throughProtocol(
      RNN<Float>(
        inputSize: sizes.inputSize, hiddenSize: sizes.hiddenSize, numLayers: sizes.numLayers,
        batchFirst: true, bidirectional: true, seed: 3), gates: 1)
  }

  /// Central differences of `L = Σ output · R` against the layer's backward, on a few entries of
  /// every parameter and (unless the input is ids) of the input. `make` builds the layer
  /// afresh each time, so seeded dropout draws the same masks in every evaluation.
  static func checkGradients<L: Layer<Double>>(
    _ name: String, make: () -> L, input: Tensor<Double>, lengths: [Int]? = nil,
    checkInput: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let model = make()
    let parameters = model.stateDict()
    let trace = try model.forwardWithTrace(input, lengths: lengths)
    let r = Tensor<Double>.randomNormal(shape: trace.output.shape, seed: 99)
    let g = try model.backward(trace, outputGradient: r, inputGradient: checkInput)
    #expect(Set(g.parameters.keys) == Set(parameters.keys), "\(name): gradient keys")
    func loss(_ p: [String: Tensor<Double>], _ x: Tensor<Double>) throws -> Double {
      var m = make()
      try m.loadStateDict(p)
      let y = try m.forwardWithTrace(x, lengths: lengths).output
      return zip(y.scalars, r.scalars).reduce(0) { $0 + $1.0 * $1.1 }
    }
    let h = 1e-6
    for (key, value) in parameters {
      let count = value.count
      for i in Set([0, count / 2, count - 1]) where count > 0 {
        let index = Self.rowMajorIndex(i, value.shape)
        var plus = parameters
        var minus = parameters
        plus[key]![scalarAt: index] += h
        minus[key]![scalarAt: index] -= h
        let numeric = (try loss(plus, input) - loss(minus, input)) / (2 * h)
        let analytic = g.parameters[key]![scalarAt: index]
        #expect(
          abs(numeric - analytic) <= 1e-6 + 1e-5 * abs(numeric),
          "\(name): d\(key)\(index) \(analytic) vs finite difference \(numeric)",
          sourceLocation: sourceLocation)
      }
    }
    guard checkInput else { return }
    let x = input.contiguous()
    for i in Set([0, x.count / 3, x.count - 1]) {
      let index = Self.rowMajorIndex(i, x.shape)
      var plus = x
      var minus = x
      plus[scalarAt: index] += h
      minus[scalarAt: index] -= h
      let numeric = (try loss(parameters, plus) - loss(parameters, minus)) / (2 * h)
      let analytic = g.input[scalarAt: index]
      #expect(
        abs(numeric - analytic) <= 1e-6 + 1e-5 * abs(numeric),
        "\(name): dinput\(index) \(analytic) vs finite difference \(numeric)",
        sourceLocation: sourceLocation)
    }
  }

  /// The index of element `flat` in row-major order.
  static func rowMajorIndex(_ flat: Int, _ shape: [Int]) -> [Int] {
    var index = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for axis in shape.indices.reversed() {
      (rest, index[axis]) = rest.quotientAndRemainder(dividingBy: shape[axis])
    }
    return index
  }

  static let ids = Tensor<Double>(shape: [2, 4], scalars: [3, 1, 0, 4, 2, 2, 5, 0])

  @Test("every new layer's backward matches Double finite differences")
  func finiteDifferences() throws {
    let x = Tensor<Double>.randomNormal(shape: [3, 4, 5], seed: 1)
    // The padding row changes the output but gets no gradient (PyTorch's rule), so the finite
    // difference runs without one, and the padding row is checked on its own.
    try Self.checkGradients(
      "Embedding", make: { Embedding<Double>(numEmbeddings: 6, embeddingDim: 3, seed: 2) },
      input: Self.ids, checkInput: false)
    let padded = Embedding<Double>(numEmbeddings: 6, embeddingDim: 3, paddingIdx: 0, seed: 2)
    #expect(padded.weight[0].scalars == [0, 0, 0], "the padding row starts at zero")
    let trace = try padded.forwardWithTrace(Self.ids)
    let dW = try padded.backward(trace, outputGradient: .randomNormal(shape: [2, 4, 3], seed: 1))
      .parameters["weight"]!
    #expect(dW[0].scalars == [0, 0, 0] && dW[2].scalars != [0, 0, 0])
    try Self.checkGradients(
      "LayerNorm",
      make: {
        var norm = LayerNorm<Double>(normalizedShape: [4, 5])
        try! norm.loadStateDict([
          "weight": .randomNormal(shape: [4, 5], seed: 3),
          "bias": .randomNormal(shape: [4, 5], seed: 4),
        ])
        return norm
      }, input: x)
    try Self.checkGradients(
      "LayerNorm without affine",
      make: { LayerNorm<Double>(normalizedShape: [5], elementwiseAffine: false) },
      input: x)
    try Self.checkGradients("ReLU", make: { ReLU<Double>() }, input: x)
    try Self.checkGradients("Tanh", make: { Tanh<Double>() }, input: x)
    try Self.checkGradients("GELU", make: { GELU<Double>() }, input: x)
    try Self.checkGradients("Sigmoid", make: { Sigmoid<Double>() }, input: x)
    try Self.checkGradients("Softmax", make: { Softmax<Double>(dim: 1) }, input: x)
    try Self.checkGradients("LogSoftmax", make: { LogSoftmax<Double>(dim: -1) }, input: x)
    try Self.checkGradients("LastStep", make: { LastStep<Double>() }, input: x, lengths: [4, 1, 2])
    try Self.checkGradients(
      "LastStep time-major", make: { LastStep<Double>(batchFirst: false) }, input: x,
      lengths: [2, 3, 1, 3])
    try Self.checkGradients("Flatten", make: { Flatten<Double>() }, input: x)
    try Self.checkGradients("Permute", make: { Permute<Double>([2, 0, 1]) }, input: x)
    try Self.checkGradients("Dropout", make: { Dropout<Double>(p: 0.4, seed: 5) }, input: x)
  }

  @Test(
    "a whole model's backward, with dropout between LSTM layers, matches finite differences under the same masks"
  )
  func modelFiniteDifferences() throws {
    for cell in ["lstm", "gru", "rnn"] {
      let make = {
        Sequential<Double> {
          Embedding<Double>(numEmbeddings: 6, embeddingDim: 4, seed: 1)
          if cell == "lstm" {
            LSTM<Double>(
              inputSize: 4, hiddenSize: 5, numLayers: 3, batchFirst: true, dropout: 0.3, seed: 2)
          } else if cell == "gru" {
            GRU<Double>(
              inputSize: 4, hiddenSize: 5, numLayers: 2, batchFirst: true, dropout: 0.3,
              bidirectional: true, seed: 2)
          } else {
            RNN<Double>(
              inputSize: 4, hiddenSize: 5, numLayers: 2, batchFirst: true, dropout: 0.3, seed: 2)
          }
          LastStep<Double>()
          LayerNorm<Double>(normalizedShape: [cell == "gru" ? 10 : 5])
          Dropout<Double>(p: 0.2, seed: 3)
          Linear<Double>(inFeatures: cell == "gru" ? 10 : 5, outFeatures: 3, seed: 4)
        }
      }
      try Self.checkGradients(
        cell, make: make, input: Self.ids, lengths: [3, 4], checkInput: false)
    }
  }

  @Test(
    "dropout keeps 1 − p of the elements (within 3σ), scales them by 1/(1 − p), is the identity in eval"
  )
  func dropoutStatistics() throws {
    let n = 200_000
    let x = Tensor<Float>(repeating: 1, shape: [n])
    for p in [0.1, 0.5, 0.8] {
      var drop = Dropout<Float>(p: p, seed: 11)
      let y = try drop(x).scalars
      let zeros = Double(y.filter { $0 == 0 }.count)
      let sigma = (Double(n) * p * (1 - p)).squareRoot()
      #expect(abs(zeros - Double(n) * p) <= 3 * sigma, "p \(p): \(zeros) zeros of \(n)")
      #expect(y.allSatisfy { $0 == 0 || $0 == Float(1 / (1 - p)) })
      let again = try drop(x).scalars
      #expect(again != y, "successive calls draw new masks")
      #expect(try Dropout<Float>(p: p, seed: 11)(x).scalars == y, "the same seed, the same masks")
      drop.training = false
      #expect(try drop(x).scalars == x.scalars)
    }
  }

  @Test("LSTM/GRU/RNN dropout: only in training mode, between layers; eval equals dropout 0")
  func recurrentDropoutModes() throws {
    let x = Tensor<Float>.randomNormal(shape: [2, 5, 3], seed: 1)
    var dropped = LSTM<Float>(
      inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, dropout: 0.5, seed: 7)
    var plain = LSTM<Float>(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, seed: 7)
    try plain.loadStateDict(dropped.stateDict())
    let reference = try plain(x)
    let training = try dropped(x)
    #expect(training.output.scalars != reference.output.scalars, "training mode drops")
    #expect(
      training.hidden.shape == reference.hidden.shape && training.cell.shape == reference.cell.shape
    )
    #expect(
      training.hidden.selected(axis: 0, index: 0).scalars
        == reference.hidden.selected(axis: 0, index: 0).scalars,
      "the first layer runs before any mask")
    #expect(throws: LayerError.self) {
      _ = try dropped.forwardWithTrace(x, initialState: nil, lengths: nil)
    }
    dropped.training = false
    #expect(try dropped(x).output.scalars == reference.output.scalars)
    // One layer: PyTorch's dropout does nothing (there is no layer after which to drop).
    let single = GRU<Float>(inputSize: 3, hiddenSize: 4, batchFirst: true, dropout: 0.5, seed: 3)
    var singlePlain = GRU<Float>(inputSize: 3, hiddenSize: 4, batchFirst: true, seed: 3)
    try singlePlain.loadStateDict(single.stateDict())
    #expect(try single(x).output.scalars == singlePlain(x).output.scalars)
  }

  @Test("train/eval reaches every child; inference keeps no trace")
  func trainingFlag() throws {
    var model = Sequential<Float> {
      LSTM<Float>(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, dropout: 0.5)
      Dropout<Float>(p: 0.5)
      Linear<Float>(inFeatures: 4, outFeatures: 2)
    }
    #expect(model.training)
    model.training = false
    #expect(!model.training && model.children.allSatisfy { !$0.layer.training })
    let x = Tensor<Float>.randomNormal(shape: [2, 5, 3], seed: 1)
    #expect(try model(x).scalars == model(x).scalars, "eval is deterministic")
    model.training = true
    #expect(try model(x).scalars != model(x).scalars, "training draws new masks")
  }

  @Test("bad input throws a typed error naming the value; nothing is half-loaded")
  func badInput() throws {
    var model = Sequential<Float> {
      Embedding<Float>(numEmbeddings: 5, embeddingDim: 3)
      LSTM<Float>(inputSize: 3, hiddenSize: 4, batchFirst: true)
      LastStep<Float>()
      Linear<Float>(inFeatures: 4, outFeatures: 2).named("head")
    }
    for (ids, bad) in [([0, 5], "5.0"), ([1, -1], "-1.0"), ([1.5, 2], "1.5")] as [([Float], String)]
    {
      #expect {
        _ = try model(Tensor(shape: [1, 2], scalars: ids))
      } throws: { error in
        guard case LayerError.invalidValue(let name, let reason) = error else { return false }
        return name == "input" && reason.contains("token id \(bad)") && reason.contains("0..<5")
      }
    }
    let ids = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 0, 1])
    #expect {
      _ = try model(ids, lengths: [2, 4])
    } throws: { error in
      guard case LayerError.invalidLengths(let reason) = error else { return false }
      return reason.contains("4")
    }
    #expect(throws: LayerError.self) {
      _ = try model(Tensor<Float>(shape: [3], scalars: [1, 2, 3]))
    }
    let before = model.stateDict()
    var missing = before
    missing["head.bias"] = nil
    var extra = before
    extra["head.scale"] = .zeros(shape: [2])
    var misshapen = before.mapValues { $0 * 2 }
    misshapen["1.weight_hh_l0"] = .zeros(shape: [16, 5])
    let cases: [([String: Tensor<Float>], LayerError)] = [
      (missing, .missingKey("head.bias", expected: [2])),
      (extra, .unexpectedKey("head.scale", actual: [2])),
      (misshapen, .shapeMismatch(name: "1.weight_hh_l0", expected: [16, 4], actual: [16, 5])),
    ]
    for (dict, error) in cases {
      #expect(throws: error) { try model.loadStateDict(dict) }
      for (key, value) in model.stateDict() {
        #expect(value.scalars == before[key]!.scalars, "\(key) unchanged after \(error)")
      }
    }
  }

  @Test("the issue's contract compiles and runs as written")
  func contract() throws {
    var model = Sequential<Float> {
      Embedding<Float>(numEmbeddings: 50, embeddingDim: 16, paddingIdx: 0)
      LSTM<Float>(inputSize: 16, hiddenSize: 32, numLayers: 2, batchFirst: true, dropout: 0.25)
      LastStep<Float>()
      LayerNorm<Float>(normalizedShape: [32])
      Dropout<Float>(p: 0.5)
      Linear<Float>(inFeatures: 32, outFeatures: 4)
    }
    let url = NSTemporaryDirectory() + "tensorlstm-contract-\(getpid()).safetensors"
    try SafeTensors.write(model.stateDict(), to: url)
    defer { try? FileManager.default.removeItem(atPath: url) }
    try model.loadStateDict(SafeTensors.read(contentsOf: url))
    #expect(
      Set(model.stateDict().keys).isSuperset(of: [
        "0.weight", "1.weight_ih_l0", "3.weight", "3.bias", "5.weight",
      ]))
    let ids = Tensor<Float>(shape: [2, 5], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 0, 0])
    let lengths: [Int]? = [5, 3]
    let targets = [1, 3]
    model.training = false
    let logits = try model(ids, lengths: lengths)
    #expect(logits.shape == [2, 4])

    model.training = true
    var adam = Adam<Float>()
    let trace = try model.forwardWithTrace(ids, lengths: lengths)
    let loss = try Loss.crossEntropy(logits: trace.output, targets: targets)
    let grads = try model.backward(trace, outputGradient: loss.gradient)
    #expect(Set(grads.parameters.keys) == Set(model.stateDict().keys))
    var params = model.stateDict()
    try adam.step(&params, gradients: grads.parameters)
    try model.loadStateDict(params)

    let named = Sequential<Float> {
      Embedding<Float>(numEmbeddings: 50, embeddingDim: 16).named("embed")
      GRU<Float>(inputSize: 16, hiddenSize: 32, batchFirst: true, bidirectional: true).named("rnn")
      LastStep<Float>()
      Linear<Float>(inFeatures: 64, outFeatures: 4).named("head")
    }
    #expect(
      Set(named.stateDict().keys).isSuperset(of: [
        "embed.weight", "rnn.weight_ih_l0_reverse", "head.bias",
      ]))
    let x = Tensor<Float>.randomNormal(shape: [2, 3, 4], seed: 1)
    let b = Tensor<Float>.randomNormal(shape: [4], seed: 2)
    let y = (x + b) * Tensor<Float>(repeating: 2, shape: [1])
    let z = y.softmax(axis: -1)
    #expect(z.shape == [2, 3, 4])
  }
}
