extension Naive {
  /// The LSTM forward by plain scalar loops, one sequence at a time, with exact `exp`/`tanh`
  /// in `Double`: the oracle for ``LSTM/callAsFunction(_:initialState:lengths:)``.
  ///
  ///     let expected = try Naive.lstm(model, x, lengths: [5, 3])
  ///
  /// Same arguments, shapes, errors and `lengths` semantics as the BLAS path; each sequence
  /// simply runs over its own valid steps (backwards for the reverse direction). Copies
  /// everything into arrays; O(L · D · B · T · 4H · (I + H)).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func lstm<Scalar: BLASScalar>(
    _ model: LSTM<Scalar>, _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil,
    lengths: [Int]? = nil
  ) throws -> LSTMOutput<Scalar> {
    let s = try ForwardShape(model, input: input, initialState: initialState, lengths: lengths)
    let (steps, batch, hidden) = (s.steps, s.batch, model.hiddenSize)
    let (hOut, directions, layers) = (model.outputHiddenSize, model.directions, model.numLayers)
    let parameters = model.stateDict().mapValues { $0.scalars.map(Double.init) }
    let timeMajor = s.timeMajor(input, batchFirst: model.batchFirst)
    // x[t][b] is one input row.
    let flat = timeMajor.scalars.map(Double.init)
    var layerInput = (0..<steps).map { t in
      (0..<batch).map { b in
        Array(flat[((t * batch + b) * model.inputSize)..<((t * batch + b + 1) * model.inputSize)])
      }
    }
    let rows = layers * directions
    let h0 = initialState.map { $0.hidden.scalars.map(Double.init) } ?? []
    let c0 = initialState.map { $0.cell.scalars.map(Double.init) } ?? []
    var hN = [Double](repeating: 0, count: rows * batch * hOut)
    var cN = [Double](repeating: 0, count: rows * batch * hidden)

    for layer in 0..<layers {
      var layerOutput = [[[Double]]](
        repeating: [[Double]](
          repeating: [Double](repeating: 0, count: directions * hOut), count: batch),
        count: steps)
      for direction in 0..<directions {
        let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
        let wIH = parameters["weight_ih" + suffix]!
        let wHH = parameters["weight_hh" + suffix]!
        let bIH = parameters["bias_ih" + suffix] ?? [Double](repeating: 0, count: 4 * hidden)
        let bHH = parameters["bias_hh" + suffix] ?? [Double](repeating: 0, count: 4 * hidden)
        let wHR = parameters["weight_hr" + suffix]
        let features = layerInput[0][0].count
        let index = layer * directions + direction
        for b in 0..<batch {
          var h =
            h0.isEmpty
            ? [Double](repeating: 0, count: hOut)
            : Array(h0[((index * batch + b) * hOut)..<((index * batch + b + 1) * hOut)])
          var c =
            c0.isEmpty
            ? [Double](repeating: 0, count: hidden)
            : Array(c0[((index * batch + b) * hidden)..<((index * batch + b + 1) * hidden)])
          let length = lengths?[b] ?? steps
          let order =
            model._core.geometry.isReverse(direction)
            ? Array((0..<length).reversed()) : Array(0..<length)
          for t in order {
            var gate = [Double](repeating: 0, count: 4 * hidden)
            for g in 0..<(4 * hidden) {
              var sum = bIH[g] + bHH[g]
              for i in 0..<features { sum += wIH[g * features + i] * layerInput[t][b][i] }
              for j in 0..<hOut { sum += wHH[g * hOut + j] * h[j] }
              gate[g] = sum
            }
            var hFull = [Double](repeating: 0, count: hidden)
            for k in 0..<hidden {
              let i = Math.sigmoid(gate[k])
              let f = Math.sigmoid(gate[hidden + k])
              let g = Math.tanh(gate[2 * hidden + k])
              let o = Math.sigmoid(gate[3 * hidden + k])
              c[k] = f * c[k] + i * g
              hFull[k] = o * Math.tanh(c[k])
            }
            if let wHR {
              h = (0..<hOut).map { p in
                (0..<hidden).reduce(0) { $0 + wHR[p * hidden + $1] * hFull[$1] }
              }
            } else {
              h = hFull
            }
            for j in 0..<hOut { layerOutput[t][b][direction * hOut + j] = h[j] }
          }
          for j in 0..<hOut { hN[(index * batch + b) * hOut + j] = h[j] }
          for k in 0..<hidden { cN[(index * batch + b) * hidden + k] = c[k] }
        }
      }
      layerInput = layerOutput
    }

    let shared: RecurrentOutput<Scalar> = naiveOutput(
      layerInput, hN: hN, shape: s, batchFirst: model.batchFirst, layers: layers,
      directions: directions, hOut: hOut)
    return LSTMOutput(
      output: shared.output, hidden: shared.hidden,
      cell: Tensor(
        shape: [rows] + (s.unbatched ? [] : [batch]) + [hidden], scalars: cN.map { Scalar($0) }),
      lastStep: shared.lastStep)
  }
}
