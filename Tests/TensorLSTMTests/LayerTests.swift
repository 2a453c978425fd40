import TensorLSTM
import Testing

@Suite("Linear and Conv1d: BLAS lowering vs naive")
struct LayerTests {
  @Test("Linear on [*, in] with any strides", arguments: 0..<24)
  func linear(seed: Int) throws {
    var random = TestRandom(seed: UInt64(seed))
    let (inputs, outputs) = (random.int(1...9), random.int(1...7))
    let layer = Linear<Float>(
      inFeatures: inputs, outFeatures: outputs, bias: seed % 2 == 0, seed: UInt64(seed))
    let leading = (0..<(seed % 4)).map { _ in random.int(1...4) }
    var x: Tensor<Float> = random.tensor(leading + [inputs])
    if seed % 3 == 1, x.rank >= 2 {
      // Feature axis not innermost: a transposed view with the same logical values.
      x = x.transposed(-1, -2).contiguous().transposed(-1, -2)
    }
    if seed % 3 == 2 {
      x = random.tensor(leading + [2 * inputs], Float.self)
        .sliced(axis: -1, range: 0..<(2 * inputs), step: -2)
    }
    expectClose(try layer(x), Naive.linear(layer, x), absolute: 1e-5, "\(x.shape) \(x.strides)")
  }

  @Test("Conv1d over stride, padding, dilation, groups and input layouts", arguments: 0..<48)
  func conv1d(seed: Int) throws {
    var random = TestRandom(seed: UInt64(seed) + 100)
    let groups = [1, 1, 2, 3][seed % 4]
    let inChannels = groups * random.int(1...3)
    let outChannels = groups * random.int(1...3)
    let kernel = random.int(1...4)
    let dilation = random.int(1...2)
    let stride = seed % 5 == 0 ? 2 : 1
    let padding = random.int(0...2)
    let length = dilation * (kernel - 1) + random.int(1...8)
    let layer =
      seed % 6 == 5
      ? Conv1d<Double>.same(
        inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, dilation: dilation,
        groups: groups, bias: seed % 2 == 0, seed: UInt64(seed))
      : Conv1d<Double>(
        inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, stride: stride,
        padding: padding, dilation: dilation, groups: groups, bias: seed % 2 == 0,
        seed: UInt64(seed))
    let batch = random.int(1...3)
    // Half the cases read a permuted [B, L, C] tensor, as the LSTM output arrives.
    let x: Tensor<Double> =
      seed % 2 == 0
      ? random.tensor([batch, inChannels, length])
      : random.tensor([batch, length, inChannels], Double.self).permuted([0, 2, 1])
    let y = try layer(x)
    expectClose(y, Naive.conv1d(layer, x), absolute: 1e-12, "seed \(seed) \(layer)")
    if seed % 6 == 5 { #expect(y.shape[2] == length, "same padding keeps the length") }
  }

  @Test("bad input throws with both shapes")
  func errors() {
    let conv = Conv1d<Float>(inChannels: 4, outChannels: 2, kernelSize: 3)
    #expect(
      throws: LayerError.shapeMismatch(name: "input", expected: [2, 4, 9], actual: [2, 5, 9])
    ) {
      try conv(Tensor<Float>.zeros(shape: [2, 5, 9]))
    }
    #expect(throws: LayerError.self) { try conv(Tensor<Float>.zeros(shape: [2, 4, 2])) }
    let dense = Linear<Float>(inFeatures: 3, outFeatures: 2)
    #expect(throws: LayerError.shapeMismatch(name: "input", expected: [5, 3], actual: [5, 4])) {
      try dense(Tensor<Float>.zeros(shape: [5, 4]))
    }
  }
}
