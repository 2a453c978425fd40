import TensorLSTM
import Testing

/// Issue 12's contract, as outside code calls it, and the layer backwards against their naive
/// oracles over a sweep of shapes and flags.
@Suite("Training: the contract and the layer oracles")
struct TrainingContractTests {
  @Test("the contract compiles as written and one Adam step lowers the loss")
  func contract() throws {
    var lstm = LSTM<Float>(inputSize: 3, hiddenSize: 5, batchFirst: true, seed: 1)
    var linear = Linear<Float>(inFeatures: 5, outFeatures: 4, seed: 2)
    let x = Tensor<Float>.randomNormal(shape: [6, 7, 3], seed: 3)
    let state = LSTMState(
      hidden: Tensor<Float>.zeros(shape: [1, 6, 5]), cell: Tensor<Float>.zeros(shape: [1, 6, 5]))
    let lengths = [7, 3, 5, 7, 1, 2]
    let labels = [0, 1, 2, 3, 1, 0]
    func loss() throws -> Float {
      let z = try linear(try lstm(x, initialState: state, lengths: lengths).lastStep)
      return try Loss.crossEntropy(logits: z, targets: labels).value
    }
    let before = try loss()
    let trace = try lstm.forwardWithTrace(x, initialState: state, lengths: lengths)
    let z = try linear(trace.output.lastStep)
    let ce = try Loss.crossEntropy(logits: z, targets: labels)
    let lg = try linear.backward(input: trace.output.lastStep, outputGradient: ce.gradient)
    var dY = Tensor<Float>.zeros(shape: trace.output.output.shape)
    for (b, length) in lengths.enumerated() { dY[b, length - 1] = lg.input[b] }
    let g = try lstm.backward(trace, outputGradient: dY, hiddenGradient: nil, cellGradient: nil)
    #expect(g.input.shape == x.shape)
    #expect(g.initialState?.hidden.shape == [1, 6, 5])
    #expect(Set(g.parameters.keys) == Set(lstm.stateDict().keys))
    var opt = Adam<Float>(learningRate: 1e-2, betas: (0.9, 0.999), epsilon: 1e-8, weightDecay: 0)
    var parameters = lstm.stateDict()
    try opt.step(&parameters, gradients: g.parameters)
    try lstm.loadStateDict(parameters)
    var head = linear.stateDict()
    var sgd = SGD<Float>(
      learningRate: 1e-2, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true)
    try sgd.step(&head, gradients: lg.parameters)
    try linear.loadStateDict(head)
    _ = AdamW<Float>(learningRate: 1e-3, betas: (0.9, 0.999), epsilon: 1e-8, weightDecay: 0.01)
    _ = try Loss.mse(prediction: z, target: z)
    #expect(try loss() < before, "one step did not lower the loss")
  }

  @Test(
    "Linear backward matches the naive oracle (rows of any rank, strided input, with and without bias)",
    arguments: [([4, 3], true), ([2, 5, 3], false), ([3, 1, 2, 3], true)])
  func linear(shape: [Int], bias: Bool) throws {
    var random = TestRandom(seed: UInt64(shape.count))
    let layer = Linear<Double>(inFeatures: 3, outFeatures: 4, bias: bias, seed: 5)
    let wide: Tensor<Double> = random.tensor(shape.dropLast() + [6])
    let x = wide.sliced(axis: shape.count - 1, range: 0..<6, step: 2)  // strided features
    let dY: Tensor<Double> = random.tensor(shape.dropLast() + [4])
    let fast = try layer.backward(input: x, outputGradient: dY)
    let slow = Naive.linearBackward(layer, input: x, outputGradient: dY)
    expectClose(fast.input, slow.input, absolute: 1e-12)
    for (name, t) in slow.parameters {
      expectClose(fast.parameters[name]!, t, absolute: 1e-12, name)
    }
  }

  @Test(
    "Conv1d backward matches the naive oracle (stride, padding, dilation, groups, permuted input)",
    arguments: [(1, 0, 1, 1), (2, 1, 2, 2), (3, 2, 1, 4), (1, 3, 3, 2)])
  func conv1d(stride: Int, padding: Int, dilation: Int, groups: Int) throws {
    var random = TestRandom(seed: UInt64(stride * 7 + padding))
    let layer = Conv1d<Double>(
      inChannels: 4, outChannels: 8, kernelSize: 3, stride: stride, padding: padding,
      dilation: dilation, groups: groups, seed: 6)
    let sequence: Tensor<Double> = random.tensor([2, 11, 4])  // [B, T, H]
    let x = sequence.permuted([0, 2, 1])  // [B, H, T], read in place
    let y = try layer(x)
    let dY: Tensor<Double> = random.tensor(y.shape)
    let fast = try layer.backward(input: x, outputGradient: dY)
    let slow = Naive.conv1dBackward(layer, input: x, outputGradient: dY)
    expectClose(fast.input, slow.input, absolute: 1e-12)
    for (name, t) in slow.parameters {
      expectClose(fast.parameters[name]!, t, absolute: 1e-12, name)
    }
  }
}
