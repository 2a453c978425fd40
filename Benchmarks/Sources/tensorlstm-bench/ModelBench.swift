import TensorLSTM

/// `--models`: what composing layers costs, timed from this separate package as users call it.
/// - The article model as a `Sequential` (LSTM → LastStep → Linear) against the same layers
///   called by hand (interleaved medians; the ratio is the container's overhead).
/// - The char-LM batch's Embedding forward + backward (ids [32, 64], V 96, E 64).
/// - One char-LM training step: Embedding → 2-layer LSTM (dropout 0.2) → Linear, cross-entropy,
///   backward, Adam.
enum ModelBench {
  static func run(threads: Int, repeats: Int, small: Bool) {
    BLAS.threadCount = threads
    let (b, t, i, h) = small ? (2, 5, 4, 8) : (32, 10, 128, 64)
    var lstm = LSTM<Float>(inputSize: i, hiddenSize: h, batchFirst: true, seed: 1)
    lstm.threads = threads
    let linear = Linear<Float>(inFeatures: h, outFeatures: 10, seed: 2)
    var model = Sequential<Float> {
      lstm
      LastStep<Float>()
      linear
    }
    model.training = false
    let x = Tensor<Float>.randomNormal(shape: [b, t, i], seed: 3)
    let times = Timing.interleavedMedianMilliseconds(
      repeats: repeats * 4,
      [
        { _ = try? linear(try lstm(x).output.selected(axis: 1, index: -1)) },
        { _ = try? model(x) },
      ])
    print(
      "article model (\(b), \(t), \(i), \(h)) → Linear(\(h) → 10), \(threads) thread(s): by hand \(format(times[0])) ms, Sequential \(format(times[1])) ms, ratio \(format(times[1] / times[0], 3))"
    )

    let (batch, steps, vocabulary, embed, hidden) = small ? (2, 4, 10, 4, 8) : (32, 64, 96, 64, 256)
    var generator = SeededGenerator(seed: 4)
    let ids = Tensor<Float>(
      shape: [batch, steps],
      scalars: (0..<(batch * steps)).map { _ in
        Float(Int.random(in: 0..<vocabulary, using: &generator))
      })
    let embedding = Embedding<Float>(numEmbeddings: vocabulary, embeddingDim: embed, seed: 5)
    let dY = Tensor<Float>.randomNormal(shape: [batch, steps, embed], seed: 6)
    let lookup = Timing.medianMilliseconds(repeats: repeats * 4) {
      guard let trace = try? embedding.forwardWithTrace(ids) else { return }
      _ = try? embedding.backward(trace, outputGradient: dY, inputGradient: false)
    }
    print(
      "Embedding(\(vocabulary), \(embed)) forward + backward on ids [\(batch), \(steps)]: \(format(lookup, 4)) ms"
    )

    var lm = Sequential<Float> {
      Embedding<Float>(numEmbeddings: vocabulary, embeddingDim: embed, seed: 7).named("embed")
      LSTM<Float>(
        inputSize: embed, hiddenSize: hidden, numLayers: 2, batchFirst: true, dropout: 0.2,
        seed: 8
      ).named("lstm")
      Linear<Float>(inFeatures: hidden, outFeatures: vocabulary, seed: 9).named("head")
    }
    let targets = (0..<(batch * steps)).map { _ in Int.random(in: 0..<vocabulary, using: &generator)
    }
    var adam = Adam<Float>(learningRate: 2e-3)
    let step = Timing.medianMilliseconds(repeats: repeats) {
      do {
        let trace = try lm.forwardWithTrace(ids)
        let ce = try Loss.crossEntropy(
          logits: trace.output.reshaped([batch * steps, vocabulary]), targets: targets)
        let g = try lm.backward(
          trace, outputGradient: ce.gradient.reshaped(trace.output.shape), inputGradient: false)
        var parameters = lm.stateDict()
        try adam.step(&parameters, gradients: g.parameters)
        try lm.loadStateDict(parameters)
      } catch { fatalError("\(error)") }
    }
    print(
      "char-LM training step (Embedding(\(vocabulary), \(embed)) → LSTM(\(embed) → \(hidden), 2 layers, dropout 0.2) → Linear, CE, Adam; batch \(batch) × \(steps)), \(threads) thread(s): \(format(step)) ms"
    )
  }

  static func format(_ value: Double, _ digits: Int = 3) -> String {
    let scale = Double([1, 10, 100, 1000, 10000][Swift.min(digits, 4)])
    return "\((value * scale).rounded() / scale)"
  }
}
