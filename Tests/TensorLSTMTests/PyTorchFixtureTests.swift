import TensorLSTM
import Testing

/// The library against PyTorch's own outputs (fixtures from tools/make_fixtures.py), ≤ 1e-4.
@Suite("Matching PyTorch")
struct PyTorchFixtureTests {
  static let lstmCases = [
    "basic", "time_major", "stacked_bi", "proj", "bi_proj_nobias", "lengths",
    "lengths_bi_stacked", "lengths_bi_proj_time_major", "batch1", "hidden1", "unbatched",
    "article_small", "edge",
  ]

  @Test("LSTM", arguments: lstmCases)
  func lstm(name: String) throws {
    try check(name, as: Float.self, absolute: 1e-5, relative: 1e-4)
  }

  /// PyTorch's float64 LSTM is exact to rounding; a Double model must match it to ~1e-13, on
  /// every kernel (the fused Double steps, the packed Double projection, and `.portable`).
  @Test(
    "LSTM in Double against PyTorch float64, every kernel",
    arguments: lstmCases.filter { $0 != "edge" }, RecurrentKernels.supported)
  func lstmDouble(name: String, kernels: RecurrentKernels) throws {
    try check("f64_" + name, as: Double.self, absolute: 1e-13, relative: 1e-12, kernels: kernels)
  }

  func check<Scalar: BLASScalar>(
    _ name: String, as _: Scalar.Type, absolute: Double, relative: Double,
    kernels: RecurrentKernels = .automatic
  ) throws {
    let (t, meta) = try Fixtures.load("lstm_\(name)", as: Scalar.self)
    let int = { (key: String) in Int(meta[key]!)! }
    let flag = { (key: String) in meta[key] == "true" }
    var model = LSTM<Scalar>(
      inputSize: int("input_size"), hiddenSize: int("hidden_size"),
      numLayers: int("num_layers"), bias: flag("bias"), batchFirst: flag("batch_first"),
      bidirectional: flag("bidirectional"), projSize: int("proj_size"))
    try model.loadStateDict(t, prefix: "lstm.")
    model.kernels = kernels
    let state = t["h_0"].map { LSTMState(hidden: $0, cell: t["c_0"]!) }
    let lengths = t["lengths"].map { $0.scalars.map { Int($0) } }
    let out = try model(t["input"]!, initialState: state, lengths: lengths)
    let tolerance = (absolute: absolute, relative: relative)
    expectClose(out.output, t["output"]!, absolute: tolerance.0, relative: tolerance.1, "output")
    expectClose(out.hidden, t["h_n"]!, absolute: tolerance.0, relative: tolerance.1, "h_n")
    expectClose(out.cell, t["c_n"]!, absolute: tolerance.0, relative: tolerance.1, "c_n")
  }

  @Test("Conv1d", arguments: ["conv_basic", "conv_strided_dilated", "conv_same_even"])
  func conv(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    let int = { (key: String) in Int(meta[key]!)! }
    let (cin, cout, k) = (int("in_channels"), int("out_channels"), int("kernel_size"))
    let bias = meta["bias"] == "true"
    var conv =
      meta["padding"] == "same"
      ? Conv1d<Float>.same(
        inChannels: cin, outChannels: cout, kernelSize: k, dilation: int("dilation"),
        groups: int("groups"), bias: bias)
      : Conv1d<Float>(
        inChannels: cin, outChannels: cout, kernelSize: k, stride: int("stride"),
        padding: int("padding"), dilation: int("dilation"), groups: int("groups"), bias: bias)
    try conv.loadStateDict(t, prefix: "conv.")
    expectClose(try conv(t["input"]!), t["output"]!, absolute: 1e-5, relative: 1e-4)
  }

  @Test("the article: last step, flatten → Linear, permute → Conv1d")
  func article() throws {
    let (t, meta) = try Fixtures.load("article")
    let int = { (key: String) in Int(meta[key]!)! }
    let (steps, hidden) = (int("steps"), int("hidden_size"))
    var lstm = LSTM<Float>(inputSize: int("input_size"), hiddenSize: hidden, batchFirst: true)
    var dense = Linear<Float>(inFeatures: steps * hidden, outFeatures: 3)
    var conv = Conv1d<Float>(inChannels: hidden, outChannels: 5, kernelSize: 3, padding: 1)
    try lstm.loadStateDict(t, prefix: "lstm.")
    try dense.loadStateDict(t, prefix: "linear.")
    try conv.loadStateDict(t, prefix: "conv.")
    let out = try lstm(t["input"]!)
    expectClose(out.output, t["output"]!, absolute: 1e-5, relative: 1e-4)
    expectClose(out.output.selected(axis: 1, index: -1), t["last_step"]!, absolute: 1e-5)
    expectClose(out.lastStep, t["last_step"]!, absolute: 1e-5)
    let flat = out.output.flattened(startAxis: 1)
    #expect(flat.sharesStorage(with: out.output))
    expectClose(try dense(flat), t["dense"]!, absolute: 1e-5, relative: 1e-4)
    let channelsFirst = out.output.permuted([0, 2, 1])
    #expect(channelsFirst.sharesStorage(with: out.output) && !channelsFirst.isContiguous)
    expectClose(try conv(channelsFirst), t["conv"]!, absolute: 1e-5, relative: 1e-4)
  }

  @Test("a wrong prefix names the full missing key")
  func prefixErrors() throws {
    let (t, _) = try Fixtures.load("lstm_basic")
    var model = LSTM<Float>(inputSize: 5, hiddenSize: 7, batchFirst: true)
    #expect(throws: LayerError.missingKey("encoder.weight_ih_l0", expected: [28, 5])) {
      try model.loadStateDict(t, prefix: "encoder.")
    }
  }
}
