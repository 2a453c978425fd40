/// Plan-time fusion of an LSTM cell that an exporter wrote as operators instead of an `LSTM`
/// node (torch.onnx's dynamo exporter writes `nn.LSTMCell` this way, and so is Silero's op18
/// model):
///
///     gates = Gemm(x, W_ih, b_ih) + Gemm(h, W_hh, b_hh)        [B, 4H]
///     i, f, g, o = Split(gates, 4, axis 1) → Sigmoid, Sigmoid, Tanh, Sigmoid
///     c' = f · c + i · g;   h' = o · Tanh(c')                     [B, H]
///
/// Twelve steps become one: the engine's LSTM for one time step, its weights packed once for
/// the plan (``ONNXOperator/lstmCell(_:)``). Matching is by dataflow, not by names: each
/// intermediate must have exactly the readers above, shapes must agree without broadcasting,
/// the weights and biases must be constants, and which split chunk plays which gate is read
/// from the graph. A pattern that differs in anything is left as it is.
extension ONNXTracer {
  /// One matched cell: its steps (indices into the kept steps), its inputs and outputs
  /// (resolved program slots; `h` is -1 for a zero initial state), and the layer.
  struct FusedCell {
    var steps: [Int]
    var x: Int
    var h: Int
    var c: Int
    var hidden: Int
    var cell: Int
    var lstm: LSTM<Float>
    var name: String
  }

  /// Replaces every matched cell in `kept` by one `.lstmCell` step at the position of its last
  /// step; the others go to `dropped`.
  static func fuseLSTMCells(
    _ kept: inout [ONNXProgram.Step], dropped: inout Set<Int>, resolve: (Int) -> Int,
    outputs: [Int], values: [ONNXValue?], fixed: [Bool], kernels: RecurrentKernels,
    precision: WeightPrecision? = nil
  ) {
    var producer: [Int: Int] = [:]
    var readers: [Int: [Int]] = [:]
    for (i, step) in kept.enumerated() where !dropped.contains(i) {
      for o in step.outputs where o >= 0 { producer[resolve(o)] = i }
      for s in step.inputs where s >= 0 { readers[resolve(s), default: []].append(i) }
    }
    // A program output is a reader outside every pattern.
    for o in outputs { readers[resolve(o), default: []].append(Int.max) }
    for (i, step) in kept.enumerated() where !dropped.contains(i) {
      guard case .split = step.op,
        let cell = match(
          split: i, kept, producer: producer, readers: readers, resolve: resolve, values: values,
          fixed: fixed, kernels: kernels, precision: precision)
      else { continue }
      let last = cell.steps.max()!
      kept[last] = ONNXProgram.Step(
        name: cell.name, opType: "LSTMCell", op: .lstmCell(cell.lstm),
        inputs: [cell.x, -1, -1, -1, -1, cell.h, cell.c], outputs: [-1, cell.hidden, cell.cell])
      for s in cell.steps where s != last { dropped.insert(s) }
    }
  }

  /// The cell whose gate `Split` is `kept[split]`, or nil.
  static func match(
    split: Int, _ kept: [ONNXProgram.Step], producer: [Int: Int], readers: [Int: [Int]],
    resolve: (Int) -> Int, values: [ONNXValue?], fixed: [Bool], kernels: RecurrentKernels,
    precision: WeightPrecision? = nil
  ) -> FusedCell? {
    let splitStep = kept[split]
    guard case .split(let axis, _, _) = splitStep.op, axis == 1 || axis == -1,
      splitStep.outputs.count == 4, splitStep.outputs.allSatisfy({ $0 >= 0 })
    else { return nil }
    func shape(_ s: Int) -> [Int]? { values[s]?.float?.shape }
    /// The one step reading `s`, when there is exactly one.
    func onlyReader(_ s: Int) -> Int? {
      guard let r = readers[s], r.count == 1, r[0] != Int.max else { return nil }
      return r[0]
    }
    func isUnary(_ i: Int, _ u: ONNXOperator.Unary) -> Bool {
      if case .unary(u) = kept[i].op { return true }
      return false
    }
    func isBinary(_ i: Int, _ b: ONNXOperator.Binary) -> Bool {
      if case .binary(b) = kept[i].op, kept[i].inputs.count == 2 { return true }
      return false
    }
    func output(_ i: Int) -> Int { resolve(kept[i].outputs[0]) }
    func inputs(_ i: Int) -> [Int] { kept[i].inputs.map(resolve) }

    // gates = Add(Gemm, Gemm), read only by the Split.
    let gates = resolve(splitStep.inputs[0])
    guard let gatesShape = shape(gates), gatesShape.count == 2, gatesShape[1] % 4 == 0,
      onlyReader(gates) == split, let add = producer[gates], isBinary(add, .add)
    else { return nil }
    let (batch, hiddenSize) = (gatesShape[0], gatesShape[1] / 4)
    let state = [batch, hiddenSize]
    let products = inputs(add)
    guard products.allSatisfy({ shape($0) == gatesShape }) else { return nil }
    // The chunks, each read by one activation: one Tanh (g) and three Sigmoids.
    let chunks = splitStep.outputs.map(resolve)
    var activation: [Int] = []
    for chunk in chunks {
      guard shape(chunk) == state, let a = onlyReader(chunk),
        isUnary(a, .sigmoid) || isUnary(a, .tanh)
      else { return nil }
      activation.append(a)
    }
    let tanhChunks = chunks.indices.filter { isUnary(activation[$0], .tanh) }
    guard tanhChunks.count == 1 else { return nil }
    let gChunk = tanhChunks[0]
    // i · g: the Mul reading Tanh(g) and a Sigmoid.
    func sigmoidChunk(of s: Int) -> Int? {
      chunks.indices.first { $0 != gChunk && output(activation[$0]) == s }
    }
    guard let mulIG = onlyReader(output(activation[gChunk])), isBinary(mulIG, .mul),
      let iChunk = inputs(mulIG).compactMap(sigmoidChunk).first,
      onlyReader(output(activation[iChunk])) == mulIG,
      let addC = onlyReader(output(mulIG)), isBinary(addC, .add)
    else { return nil }
    // f · c: the other operand of the cell's Add.
    let newCell = output(addC)
    guard let mulFC = inputs(addC).first(where: { $0 != output(mulIG) }).flatMap({ producer[$0] }),
      isBinary(mulFC, .mul), onlyReader(output(mulFC)) == addC,
      let fChunk = inputs(mulFC).compactMap(sigmoidChunk).first, fChunk != iChunk,
      onlyReader(output(activation[fChunk])) == mulFC
    else { return nil }
    guard let c = inputs(mulFC).first(where: { $0 != output(activation[fChunk]) }) else {
      return nil
    }
    // h' = o · Tanh(c').
    guard let tanhC = readers[newCell]?.first(where: { $0 != Int.max && isUnary($0, .tanh) }),
      let mulOH = onlyReader(output(tanhC)), isBinary(mulOH, .mul),
      let oChunk = inputs(mulOH).compactMap(sigmoidChunk).first,
      Set([iChunk, fChunk, gChunk, oChunk]).count == 4,
      onlyReader(output(activation[oChunk])) == mulOH
    else { return nil }
    let newHidden = output(mulOH)
    var steps = [add, split, mulIG, addC, mulFC, tanhC, mulOH] + activation
    guard [c, newCell, newHidden].allSatisfy({ shape($0) == state }),
      inputs(mulOH).filter({ $0 == output(tanhC) }).count == 1
    else { return nil }
    // The two products: constant weights, read as [4H, K], and constant biases. A product the
    // plan folded to a constant (a Gemm of a zero initial state) is a bias with no operand.
    typealias Product = (a: Int, weight: Tensor<Float>?, bias: Tensor<Float>?, gemm: Int?)
    func product(_ p: Int) -> Product? {
      if fixed[p] {
        guard let t = values[p]?.float, batch > 0 else { return nil }
        let row = t.selected(axis: 0, index: 0)
        for b in 1..<batch where t.selected(axis: 0, index: b).scalars != row.scalars {
          return nil
        }
        return (-1, nil, row, nil)
      }
      guard let g = producer[p], onlyReader(p) == add,
        case .gemm(let alpha, let beta, let transA, let transB) = kept[g].op, alpha == 1,
        !transA, kept[g].outputs.count == 1
      else { return nil }
      let ins = inputs(g)
      guard ins.count >= 2, fixed[ins[1]], var w = values[ins[1]]?.float, w.rank == 2,
        let aShape = shape(ins[0]), aShape.count == 2, aShape[0] == batch
      else { return nil }
      if !transB { w = w.transposed(0, 1) }
      guard w.shape == [4 * hiddenSize, aShape[1]] else { return nil }
      var bias: Tensor<Float>?
      if ins.count > 2, kept[g].inputs[2] >= 0 {
        guard beta == 1, fixed[ins[2]], let b = values[ins[2]]?.float,
          b.shape == [4 * hiddenSize] || b.shape == [1, 4 * hiddenSize]
        else { return nil }
        bias = b.reshaped([4 * hiddenSize])
      }
      return (ins[0], w, bias, g)
    }
    guard let p0 = product(products[0]), let p1 = product(products[1]),
      p0.weight != nil || p1.weight != nil
    else { return nil }
    steps += [p0.gemm, p1.gemm].compactMap { $0 }
    // One step of an LSTM is symmetric in (x, W_ih) and (h, W_hh): the hidden product is the
    // one whose operand has H columns, or the constant one (h absent: a zero state).
    let (input, recurrent) =
      p1.weight == nil || (p0.weight != nil && p1.weight!.shape[1] == hiddenSize)
      ? (p0, p1) : (p1, p0)
    guard let inputWeight = input.weight,
      recurrent.weight == nil || recurrent.weight!.shape[1] == hiddenSize
    else { return nil }
    // Every reader of h' and c' outside the cell comes after the cell's last step.
    let last = steps.max()!
    let outside = (readers[newCell] ?? []) + (readers[newHidden] ?? [])
    guard outside.allSatisfy({ $0 > last || steps.contains($0) }) else { return nil }
    // Rows in PyTorch's gate order i, f, g, o.
    func ordered(_ t: Tensor<Float>) -> Tensor<Float> {
      Tensor.concatenated(
        [iChunk, fChunk, gChunk, oChunk].map {
          t.sliced(axis: 0, range: ($0 * hiddenSize)..<(($0 + 1) * hiddenSize))
        }, axis: 0)
    }
    let zeros = Tensor<Float>.zeros(shape: [4 * hiddenSize])
    var lstm = LSTM<Float>(inputSize: inputWeight.shape[1], hiddenSize: hiddenSize)
    lstm.kernels = kernels
    do {
      try lstm.loadStateDict([
        "weight_ih_l0": ordered(inputWeight),
        "weight_hh_l0": ordered(recurrent.weight ?? .zeros(shape: [4 * hiddenSize, hiddenSize])),
        "bias_ih_l0": ordered(input.bias ?? zeros), "bias_hh_l0": ordered(recurrent.bias ?? zeros),
      ])
    } catch {
      return nil
    }
    if let precision { lstm.weightPrecision = precision }
    return FusedCell(
      steps: steps, x: input.a, h: recurrent.a, c: c, hidden: newHidden, cell: newCell,
      lstm: lstm, name: splitStep.name)
  }
}
