extension Naive {
  /// The GRU forward by plain scalar loops in `Double`, both reset placements: the oracle for
  /// ``GRU/callAsFunction(_:initialState:lengths:)``.
  ///
  ///     let expected = try Naive.gru(model, x, lengths: [5, 3])
  ///
  /// Same arguments, shapes, errors and `lengths` semantics as the BLAS path.
  /// O(L · D · B · T · 3H · (I + H)).
  public static func gru<Scalar: BLASScalar>(
    _ model: GRU<Scalar>, _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil,
    lengths: [Int]? = nil
  ) throws -> RecurrentOutput<Scalar> {
    let resetAfter = model.resetAfter
    return try recurrent(model._core, input, h0: initialState, lengths: lengths) {
      x, h, wHH, bHH in
      let hidden = h.count
      // The recurrent part of gate g at unit k, from any h.
      func recurrent(_ g: Int, _ k: Int, _ v: [Double]) -> Double {
        var sum = bHH[g * hidden + k]
        for j in 0..<hidden { sum += wHH[(g * hidden + k) * hidden + j] * v[j] }
        return sum
      }
      let r = (0..<hidden).map { Math.sigmoid(x[$0] + recurrent(0, $0, h)) }
      let z = (0..<hidden).map { Math.sigmoid(x[hidden + $0] + recurrent(1, $0, h)) }
      let resetH = zip(r, h).map(*)
      return (0..<hidden).map { k in
        let n = Math.tanh(
          x[2 * hidden + k]
            + (resetAfter ? r[k] * recurrent(2, k, h) : recurrent(2, k, resetH)))
        return (1 - z[k]) * n + z[k] * h[k]
      }
    }
  }

  /// The RNN forward by plain scalar loops in `Double`: the oracle for
  /// ``RNN/callAsFunction(_:initialState:lengths:)``. O(L · D · B · T · H · (I + H)).
  public static func rnn<Scalar: BLASScalar>(
    _ model: RNN<Scalar>, _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil,
    lengths: [Int]? = nil
  ) throws -> RecurrentOutput<Scalar> {
    let relu = model.nonlinearity == .relu
    return try recurrent(model._core, input, h0: initialState, lengths: lengths) {
      x, h, wHH, bHH in
      let hidden = h.count
      return (0..<hidden).map { k in
        var sum = x[k] + bHH[k]
        for j in 0..<hidden { sum += wHH[k * hidden + j] * h[j] }
        return relu ? Swift.max(0, sum) : Math.tanh(sum)
      }
    }
  }

  /// Layers, directions, sequences and `lengths` for a cell without `c`: `update(x, h, W_hh,
  /// b_hh)` gets the input part `W_ih x + b_ih` of every gate and returns the new h.
  static func recurrent<Scalar: BLASScalar>(
    _ core: RecurrentCore<Scalar>, _ input: Tensor<Scalar>, h0 initial: Tensor<Scalar>?,
    lengths: [Int]?, update: ([Double], [Double], [Double], [Double]) -> [Double]
  ) throws -> RecurrentOutput<Scalar> {
    let s = try core.shape(input: input, h0: initial, lengths: lengths)
    let g = core.geometry
    let (steps, batch, hidden, directions, layers) =
      (s.steps, s.batch, g.hiddenSize, g.directions, g.layers)
    let parameters = core.stateDict().mapValues { $0.scalars.map(Double.init) }
    let timeMajor = s.timeMajor(input, batchFirst: core.batchFirst)
    let flat = timeMajor.scalars.map(Double.init)
    var layerInput = (0..<steps).map { t in
      (0..<batch).map { b in
        Array(flat[((t * batch + b) * g.inputSize)..<((t * batch + b + 1) * g.inputSize)])
      }
    }
    let h0 = initial?.scalars.map(Double.init) ?? []
    var hN = [Double](repeating: 0, count: layers * directions * batch * hidden)
    let zeros = [Double](repeating: 0, count: g.gateWidth)
    for layer in 0..<layers {
      var layerOutput = [[[Double]]](
        repeating: [[Double]](
          repeating: [Double](repeating: 0, count: directions * hidden), count: batch),
        count: steps)
      for direction in 0..<directions {
        let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
        let (wIH, wHH) = (parameters["weight_ih" + suffix]!, parameters["weight_hh" + suffix]!)
        let bIH = parameters["bias_ih" + suffix] ?? zeros
        let bHH = parameters["bias_hh" + suffix] ?? zeros
        let features = layerInput[0][0].count
        let index = layer * directions + direction
        for b in 0..<batch {
          let row = (index * batch + b) * hidden
          var h =
            h0.isEmpty ? [Double](repeating: 0, count: hidden) : Array(h0[row..<(row + hidden)])
          let length = lengths?[b] ?? steps
          for t in g.isReverse(direction) ? Array((0..<length).reversed()) : Array(0..<length) {
            let x = (0..<g.gateWidth).map { gate in
              (0..<features).reduce(bIH[gate]) {
                $0 + wIH[gate * features + $1] * layerInput[t][b][$1]
              }
            }
            h = update(x, h, wHH, bHH)
            for k in 0..<hidden { layerOutput[t][b][direction * hidden + k] = h[k] }
          }
          for k in 0..<hidden { hN[row + k] = h[k] }
        }
      }
      layerInput = layerOutput
    }
    return naiveOutput(
      layerInput, hN: hN, shape: s, batchFirst: core.batchFirst, layers: layers,
      directions: directions, hOut: hidden)
  }

  /// The output, `h_n` and last step of a naive forward, in the layer's layouts.
  static func naiveOutput<Scalar: BLASScalar>(
    _ top: [[[Double]]], hN: [Double], shape s: ForwardShape, batchFirst: Bool, layers: Int,
    directions: Int, hOut: Int
  ) -> RecurrentOutput<Scalar> {
    let (steps, batch) = (s.steps, s.batch)
    let width = directions * hOut
    var outputValues: [Double] = []
    if batchFirst && !s.unbatched {
      for b in 0..<batch { for t in 0..<steps { outputValues += top[t][b] } }
    } else {
      for t in 0..<steps { for b in 0..<batch { outputValues += top[t][b] } }
    }
    var lastStep: [Double] = []
    for b in 0..<batch {
      for direction in 0..<directions {
        let start = (((layers - 1) * directions + direction) * batch + b) * hOut
        lastStep += hN[start..<(start + hOut)]
      }
    }
    let batchAxis = s.unbatched ? [] : [batch]
    let outputShape =
      s.unbatched ? [steps, width] : (batchFirst ? [batch, steps, width] : [steps, batch, width])
    func tensor(_ shape: [Int], _ values: [Double]) -> Tensor<Scalar> {
      Tensor(shape: shape, scalars: values.map { Scalar($0) })
    }
    return RecurrentOutput(
      output: tensor(outputShape, outputValues),
      hidden: tensor([layers * directions] + batchAxis + [hOut], hN),
      lastStep: tensor(batchAxis + [width], lastStep))
  }
}
