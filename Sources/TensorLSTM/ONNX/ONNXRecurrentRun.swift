/// An ONNX `LSTM`, `GRU` or `RNN` node lowered onto this library's layer: built once at load
/// when `W`, `R` and `B` are constants (the usual case), else at each run.
enum PreparedRecurrent: Sendable {
  case lstm(LSTM<Float>)
  case gru(GRU<Float>)
  case rnn(RNN<Float>)
}

enum ONNXRecurrentRun {
  /// The layer for `r` with weights `w`, `r`, `b` (ONNX layouts, gates in ONNX's order).
  static func prepare(
    _ node: ONNXOperator.Recurrent, w: ONNXValue, r: ONNXValue, b: ONNXValue?, peepholes: Bool,
    _ name: String
  ) throws(ONNXError) -> PreparedRecurrent {
    guard let wt = w.float, let rt = r.float, b == nil || b?.float != nil else {
      throw ONNXError.invalidModel("node '\(name)': W, R and B must be float")
    }
    let bt = b?.float
    if let hidden = node.hiddenSize, wt.rank == 3, rt.rank == 3, rt.shape[2] != hidden {
      throw ONNXError.invalidModel("node '\(name)': hidden_size \(hidden) but R is \(rt.shape)")
    }
    do {
      switch node.cell {
      case .lstm:
        if peepholes {
          throw LayerError.unsupported("ONNX LSTM: peephole weights (P) are not supported")
        }
        var lstm = try LSTM(
          onnx: ONNXLSTMNode(
            w: wt, r: rt, b: bt, direction: node.direction, clip: node.clip,
            activations: node.activations, inputForget: node.inputForget, layout: node.layout))
        if node.dynamicallyQuantized { lstm.weightPrecision = .int8 }
        return .lstm(lstm)
      case .gru(let linearBeforeReset):
        return .gru(
          try GRU(
            onnx: ONNXGRUNode(
              w: wt, r: rt, b: bt, direction: node.direction, linearBeforeReset: linearBeforeReset,
              clip: node.clip, activations: node.activations, layout: node.layout)))
      case .rnn(let nonlinearity):
        let directions = try ONNXRecurrent.directions(
          op: "RNN", direction: node.direction, clip: node.clip, activations: nil,
          defaults: ["Tanh"],
          layout: node.layout)
        let (dict, hidden, inputSize) = try ONNXRecurrent.stateDict(
          w: wt, r: rt, b: bt, gates: 1, directions: directions.count, order: [0])
        var rnn = RNN<Float>(
          inputSize: inputSize, hiddenSize: hidden, nonlinearity: nonlinearity,
          batchFirst: node.layout == 1, bidirectional: directions.count == 2)
        rnn._core.geometry.reverseOnly = directions.reverseOnly
        try rnn.loadStateDict(dict)
        return .rnn(rnn)
      }
    } catch let error as LayerError {
      throw ONNXError.invalidModel("node '\(name)': \(error)")
    } catch {
      throw ONNXError.invalidModel("node '\(name)': \(error)")
    }
  }

  /// A `DynamicQuantizeLSTM` weight `q` `[D, K, G·H]` (int8 or uint8) with `scale` and
  /// `zeroPoint` per direction (`[D]`) or per output channel (`[D, G·H]`), as the float
  /// `[D, G·H, K]` an `LSTM` node takes: `(q − zero point) · scale`.
  static func dequantized(
    _ q: ONNXValue, scale: ONNXValue, zeroPoint: ONNXValue, _ which: String, _ name: String
  ) throws(ONNXError) -> ONNXValue {
    func fail(_ reason: String) -> ONNXError {
      .invalidModel("node '\(name)' (DynamicQuantizeLSTM): \(reason)")
    }
    guard q.shape.count == 3, let values = q.int64Elements else {
      throw fail("\(which) must be an int8 or uint8 [D, K, 4H] tensor, got \(q.shape)")
    }
    let (d, k, rows) = (q.shape[0], q.shape[1], q.shape[2])
    guard let scales = scale.float?.scalars, let zeros = zeroPoint.int64Elements,
      scales.count == zeros.count, scales.count == d || scales.count == d * rows
    else {
      throw fail(
        "\(which)_scale and \(which)_zero_point must both have \(d) (per tensor) or \(d * rows) (per channel) elements, got \(scale.shape) and \(zeroPoint.shape)"
      )
    }
    let perChannel = scales.count == d * rows
    var out = [Float](repeating: 0, count: values.count)
    for direction in 0..<d {
      for row in 0..<rows {
        let at = perChannel ? direction * rows + row : direction
        let (s, z) = (scales[at], zeros[at])
        for j in 0..<k {
          out[(direction * rows + row) * k + j] =
            Float(values[(direction * k + j) * rows + row] - z) * s
        }
      }
    }
    return .float(Tensor(shape: [d, rows, k], scalars: out))
  }

  /// Runs the node: inputs `X, W, R, B, sequence_lens, initial_h, initial_c, P`; outputs `Y`,
  /// `Y_h` (and `Y_c` for LSTM) in the node's layout.
  static func run(
    _ node: ONNXOperator.Recurrent, prepared: PreparedRecurrent?, _ inputs: [ONNXValue?],
    outputs: Int, _ name: String
  ) throws -> [ONNXValue] {
    func input(_ i: Int) -> ONNXValue? { i < inputs.count ? inputs[i] : nil }
    func fail(_ reason: String) -> ONNXError { .runtime(node: name, reason: reason) }
    let layer: PreparedRecurrent
    if let prepared {
      layer = prepared
    } else {
      guard let w = input(1), let r = input(2) else { throw fail("W and R are required") }
      layer = try prepare(node, w: w, r: r, b: input(3), peepholes: input(7) != nil, name)
    }
    guard let x = input(0)?.float, x.rank == 3 else {
      throw fail(
        "X must be a float [T, B, I] (layout 0) or [B, T, I] (layout 1), got \(input(0)?.shape ?? [])"
      )
    }
    var lengths: [Int]?
    if let l = input(4) {
      guard let v = l.int64Elements else { throw fail("sequence_lens must be an integer tensor") }
      lengths = v.map { Int(clamping: $0) }
    }
    func state(_ i: Int) throws -> Tensor<Float>? {
      guard let v = input(i) else { return nil }
      guard let t = v.float, t.rank == 3 else {
        throw fail("input \(i) must be a rank-3 float state, got \(v.shape)")
      }
      return LSTM<Float>.onnxStateTensor(t, layout: node.layout)
    }
    let (h0, c0) = (try state(5), try state(6))
    let directions = node.direction == "bidirectional" ? 2 : 1
    let output: Tensor<Float>
    let hidden: Tensor<Float>
    var cell: Tensor<Float>?
    switch layer {
    case .lstm(let lstm):
      var initial: LSTMState<Float>?
      if h0 != nil || c0 != nil {
        let shape = (h0 ?? c0)!.shape
        initial = LSTMState(hidden: h0 ?? .zeros(shape: shape), cell: c0 ?? .zeros(shape: shape))
      }
      let out = try lstm(x, initialState: initial, lengths: lengths)
      (output, hidden, cell) = (out.output, out.hidden, out.cell)
    case .gru(let gru):
      let out = try gru(x, initialState: h0, lengths: lengths)
      (output, hidden) = (out.output, out.hidden)
    case .rnn(let rnn):
      let out = try rnn(x, initialState: h0, lengths: lengths)
      (output, hidden) = (out.output, out.hidden)
    }
    var result: [ONNXValue] = [
      .float(LSTM<Float>.onnxY(output, directions: directions, layout: node.layout)),
      .float(LSTM<Float>.onnxStateTensor(hidden, layout: node.layout)),
    ]
    if let cell { result.append(.float(LSTM<Float>.onnxStateTensor(cell, layout: node.layout))) }
    return Array(result.prefix(outputs))
  }
}
