import TensorLSTM
import Testing

/// The converters against the real frameworks' outputs (tools/make_interop_fixtures.py).
@Suite("Weights from Keras and ONNX")
struct InteropTests {
  @Test(
    "Keras LSTM and Bidirectional(LSTM), return_sequences true and false",
    arguments: ["keras_lstm", "keras_bidirectional", "keras_nobias"])
  func keras(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    func weights(_ side: String) -> KerasLSTMWeights<Float>? {
      t["\(side).kernel"].map {
        KerasLSTMWeights(
          kernel: $0, recurrentKernel: t["\(side).recurrent_kernel"]!, bias: t["\(side).bias"])
      }
    }
    let lstm = try LSTM(keras: weights("forward")!, backward: weights("backward"))
    #expect(lstm.bidirectional == (meta["bidirectional"] == "true"))
    let out = try lstm(t["input"]!)
    expectClose(out.output, t["sequences"]!, absolute: 1e-5, relative: 1e-4, "return_sequences")
    expectClose(out.lastStep, t["last"]!, absolute: 1e-5, relative: 1e-4, "last step")
  }

  @Test(
    "ONNX LSTM node, every direction, with sequence_lens and initial state",
    arguments: [
      "onnx_forward", "onnx_forward_lengths_state", "onnx_bidirectional", "onnx_lstm_reverse",
    ])
  func onnx(name: String) throws {
    let (t, meta) = try Fixtures.load(name)
    let direction = meta["direction"]!
    let lstm = try LSTM(
      onnx: ONNXLSTMNode(w: t["W"]!, r: t["R"]!, b: t["B"]!, direction: direction))
    let state = t["initial_h"].map { LSTMState(hidden: $0, cell: t["initial_c"]!) }
    let lengths = t["sequence_lens"].map { $0.scalars.map { Int($0) } }
    let out = try lstm(t["X"]!, initialState: state, lengths: lengths)
    let directions = direction == "bidirectional" ? 2 : 1
    let y = LSTM<Float>.onnxY(out.output, directions: directions)
    #expect(y.sharesStorage(with: out.output))
    expectClose(y, t["Y"]!, absolute: 1e-5, relative: 1e-4, "Y")
    expectClose(LSTM<Float>.output(fromONNXY: t["Y"]!), out.output, absolute: 1e-5, relative: 1e-4)
    expectClose(out.hidden, t["Y_h"]!, absolute: 1e-5, relative: 1e-4, "Y_h")
    expectClose(out.cell, t["Y_c"]!, absolute: 1e-5, relative: 1e-4, "Y_c")
  }

  @Test("ONNX layout 1: [B, T, ·] input and Y, [B, D, H] initial and final states")
  func onnxLayout1() throws {
    let (t, meta) = try Fixtures.load("onnx_layout1_bidirectional")
    #expect(meta["layout"] == "1")
    let lstm = try LSTM(
      onnx: ONNXLSTMNode(
        w: t["W"]!, r: t["R"]!, b: t["B"]!, direction: "bidirectional", layout: 1))
    let state = LSTM<Float>.state(
      fromONNXInitialH: t["initial_h"]!, initialC: t["initial_c"]!, layout: 1)
    let out = try lstm(t["X"]!, initialState: state)
    let y = LSTM<Float>.onnxY(out.output, directions: 2, layout: 1)
    #expect(y.sharesStorage(with: out.output))
    expectClose(y, t["Y"]!, absolute: 1e-5, relative: 1e-4, "Y")
    expectClose(
      LSTM<Float>.output(fromONNXY: t["Y"]!, layout: 1), out.output, absolute: 1e-5,
      relative: 1e-4)
    expectClose(
      LSTM<Float>.onnxStateTensor(out.hidden, layout: 1), t["Y_h"]!, absolute: 1e-5,
      relative: 1e-4, "Y_h")
    expectClose(
      LSTM<Float>.onnxStateTensor(out.cell, layout: 1), t["Y_c"]!, absolute: 1e-5,
      relative: 1e-4, "Y_c")
  }

  @Test("unsupported ONNX features are rejected, never ignored")
  func onnxRejections() throws {
    let w = Tensor<Float>.zeros(shape: [1, 8, 3])
    let r = Tensor<Float>.zeros(shape: [1, 8, 2])
    let cases: [(ONNXLSTMNode<Float>, String)] = [
      (ONNXLSTMNode(w: w, r: r, p: .zeros(shape: [1, 6])), "peephole"),
      (ONNXLSTMNode(w: w, r: r, clip: 3), "clip"),
      (ONNXLSTMNode(w: w, r: r, activations: ["Relu", "Tanh", "Tanh"]), "activations"),
      (ONNXLSTMNode(w: w, r: r, inputForget: 1), "input_forget"),
      (ONNXLSTMNode(w: w, r: r, direction: "backwards"), "direction"),
      (ONNXLSTMNode(w: w, r: r, layout: 2), "layout"),
    ]
    for (node, word) in cases {
      #expect {
        _ = try LSTM(onnx: node)
      } throws: { error in
        "\(error)".contains(word)
      }
    }
    #expect(throws: LayerError.shapeMismatch(name: "R", expected: [1, 8, 2], actual: [1, 8, 3])) {
      _ = try LSTM(onnx: ONNXLSTMNode(w: w, r: .zeros(shape: [1, 8, 3])))
    }
  }

  @Test("a misshapen Keras weight names itself")
  func kerasShapeError() {
    let weights = KerasLSTMWeights<Float>(
      kernel: .zeros(shape: [3, 8]), recurrentKernel: .zeros(shape: [2, 9]), bias: nil)
    #expect(
      throws: LayerError.shapeMismatch(name: "recurrent_kernel", expected: [2, 8], actual: [2, 9])
    ) { _ = try LSTM(keras: weights) }
  }
}
