extension Naive {
  /// The LSTM backward by plain scalar loops in `Double`, one sequence at a time: the oracle for
  /// ``LSTM/backward(_:outputGradient:hiddenGradient:cellGradient:)``.
  ///
  ///     let expected = try Naive.lstmBackward(model, x, outputGradient: dY)
  ///
  /// Recomputes the forward with exact `exp`/`tanh` and runs backpropagation through time for
  /// each sequence over its own valid steps. Same shapes and `lengths` rules as the BLAS path.
  /// O(L · D · B · T · 4H · (I + H)).
  public static func lstmBackward<Scalar: BLASScalar>(
    _ model: LSTM<Scalar>, _ input: Tensor<Scalar>, initialState: LSTMState<Scalar>? = nil,
    lengths: [Int]? = nil, outputGradient: Tensor<Scalar>, hiddenGradient: Tensor<Scalar>? = nil,
    cellGradient: Tensor<Scalar>? = nil
  ) throws -> LSTMGradients<Scalar> {
    let s = try ForwardShape(model, input: input, initialState: initialState, lengths: lengths)
    let (steps, batch, hidden) = (s.steps, s.batch, model.hiddenSize)
    let (hOut, directions, layers) = (model.outputHiddenSize, model.directions, model.numLayers)
    let width = directions * hOut
    let p = model.stateDict().mapValues { $0.scalars.map(Double.init) }
    func timeMajor(_ t: Tensor<Scalar>) -> [Double] {
      s.timeMajor(t, batchFirst: model.batchFirst).scalars.map(Double.init)
    }
    var x = timeMajor(input)  // [T, B, F] of the current layer
    var features = model.inputSize
    let h0 = initialState.map { $0.hidden.scalars.map(Double.init) }
    let c0 = initialState.map { $0.cell.scalars.map(Double.init) }
    let length = { (b: Int) in lengths?[b] ?? steps }
    // The forward, keeping every layer's input and every step's state.
    var inputs: [[Double]] = []
    var records: [[[Int: NaiveLSTMStep]]] = []  // [layer·D + d][b][t]
    for layer in 0..<layers {
      inputs.append(x)
      var out = [Double](repeating: 0, count: steps * batch * width)
      for d in 0..<directions {
        let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
        let (wIH, wHH, wHR) = (
          p["weight_ih" + suffix]!, p["weight_hh" + suffix]!, p["weight_hr" + suffix]
        )
        let zeros = [Double](repeating: 0, count: 4 * hidden)
        let (bIH, bHH) = (p["bias_ih" + suffix] ?? zeros, p["bias_hh" + suffix] ?? zeros)
        let index = layer * directions + d
        let reverse = d == 1 || model.isReverse
        var perBatch: [[Int: NaiveLSTMStep]] = []
        for b in 0..<batch {
          var h =
            h0.map { Array($0[((index * batch + b) * hOut)..<((index * batch + b + 1) * hOut)]) }
            ?? [Double](repeating: 0, count: hOut)
          var c =
            c0.map {
              Array($0[((index * batch + b) * hidden)..<((index * batch + b + 1) * hidden)])
            } ?? [Double](repeating: 0, count: hidden)
          var steps: [Int: NaiveLSTMStep] = [:]
          for t in reverse ? Array((0..<length(b)).reversed()) : Array(0..<length(b)) {
            var a = [Double](repeating: 0, count: 4 * hidden)
            for r in 0..<(4 * hidden) {
              var sum = bIH[r] + bHH[r]
              for f in 0..<features {
                sum += wIH[r * features + f] * x[(t * batch + b) * features + f]
              }
              for j in 0..<hOut { sum += wHH[r * hOut + j] * h[j] }
              a[r] = sum
            }
            var gates = a
            var newC = c
            var hFull = [Double](repeating: 0, count: hidden)
            for k in 0..<hidden {
              gates[k] = Math.sigmoid(a[k])
              gates[hidden + k] = Math.sigmoid(a[hidden + k])
              gates[2 * hidden + k] = Math.tanh(a[2 * hidden + k])
              gates[3 * hidden + k] = Math.sigmoid(a[3 * hidden + k])
              newC[k] = gates[hidden + k] * c[k] + gates[k] * gates[2 * hidden + k]
              hFull[k] = gates[3 * hidden + k] * Math.tanh(newC[k])
            }
            steps[t] = NaiveLSTMStep(gates: gates, c: newC, cPrev: c, hPrev: h, hFull: hFull)
            c = newC
            h =
              wHR.map { w in
                (0..<hOut).map { q in (0..<hidden).reduce(0) { $0 + w[q * hidden + $1] * hFull[$1] }
                }
              } ?? hFull
            for j in 0..<hOut { out[(t * batch + b) * width + d * hOut + j] = h[j] }
          }
          perBatch.append(steps)
        }
        records.append(perBatch)
      }
      x = out
      features = width
    }
    // Backwards, top layer first.
    var dOut = timeMajor(outputGradient)
    let dHn = hiddenGradient?.scalars.map(Double.init)
    let dCn = cellGradient?.scalars.map(Double.init)
    var dH0 = [Double](repeating: 0, count: layers * directions * batch * hOut)
    var dC0 = [Double](repeating: 0, count: layers * directions * batch * hidden)
    var grads: [String: [Double]] = [:]
    for (name, shape) in model.parameterShapes {
      grads[name] = [Double](repeating: 0, count: shape.reduce(1, *))
    }
    for layer in (0..<layers).reversed() {
      let layerInput = inputs[layer]
      let features = layer == 0 ? model.inputSize : width
      var dX = [Double](repeating: 0, count: steps * batch * features)
      for d in 0..<directions {
        let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
        let (wIH, wHH, wHR) = (
          p["weight_ih" + suffix]!, p["weight_hh" + suffix]!, p["weight_hr" + suffix]
        )
        let index = layer * directions + d
        let reverse = d == 1 || model.isReverse
        for b in 0..<batch {
          var dh =
            dHn.map { Array($0[((index * batch + b) * hOut)..<((index * batch + b + 1) * hOut)]) }
            ?? [Double](repeating: 0, count: hOut)
          var dc =
            dCn.map {
              Array($0[((index * batch + b) * hidden)..<((index * batch + b + 1) * hidden)])
            } ?? [Double](repeating: 0, count: hidden)
          for t in reverse ? Array(0..<length(b)) : Array((0..<length(b)).reversed()) {
            let step = records[index][b][t]!
            for j in 0..<hOut { dh[j] += dOut[(t * batch + b) * width + d * hOut + j] }
            var dhFull = dh
            if let wHR {
              for q in 0..<hOut {
                for k in 0..<hidden {
                  grads["weight_hr" + suffix]![q * hidden + k] += dh[q] * step.hFull[k]
                }
              }
              dhFull = (0..<hidden).map { k in
                (0..<hOut).reduce(0) { $0 + wHR[$1 * hidden + k] * dh[$1] }
              }
            }
            var dG = [Double](repeating: 0, count: 4 * hidden)
            for k in 0..<hidden {
              let (i, f, g, o) = (
                step.gates[k], step.gates[hidden + k], step.gates[2 * hidden + k],
                step.gates[3 * hidden + k]
              )
              let tc = Math.tanh(step.c[k])
              let dck = dc[k] + dhFull[k] * o * (1 - tc * tc)
              dG[k] = dck * g * i * (1 - i)
              dG[hidden + k] = dck * step.cPrev[k] * f * (1 - f)
              dG[2 * hidden + k] = dck * i * (1 - g * g)
              dG[3 * hidden + k] = dhFull[k] * tc * o * (1 - o)
              dc[k] = dck * f
            }
            for r in 0..<(4 * hidden) {
              for f in 0..<features {
                grads["weight_ih" + suffix]![r * features + f] +=
                  dG[r] * layerInput[(t * batch + b) * features + f]
                dX[(t * batch + b) * features + f] += dG[r] * wIH[r * features + f]
              }
              for j in 0..<hOut {
                grads["weight_hh" + suffix]![r * hOut + j] += dG[r] * step.hPrev[j]
              }
              if model.bias {
                grads["bias_ih" + suffix]![r] += dG[r]
                grads["bias_hh" + suffix]![r] += dG[r]
              }
            }
            dh = (0..<hOut).map { j in
              (0..<(4 * hidden)).reduce(0) { $0 + wHH[$1 * hOut + j] * dG[$1] }
            }
          }
          for j in 0..<hOut { dH0[(index * batch + b) * hOut + j] = dh[j] }
          for k in 0..<hidden { dC0[(index * batch + b) * hidden + k] = dc[k] }
        }
      }
      dOut = dX
      // The layer below's output is zero past each length: its gradient there is ignored.
      for b in 0..<batch {
        for t in length(b)..<steps {
          for f in 0..<features { dOut[(t * batch + b) * features + f] = 0 }
        }
      }
    }
    func tensor(_ shape: [Int], _ values: [Double]) -> Tensor<Scalar> {
      Tensor(shape: shape, scalars: values.map { Scalar($0) })
    }
    let dInput: Tensor<Scalar> = naiveInputGradient(
      dOut, shape: s, inputSize: model.inputSize, batchFirst: model.batchFirst)
    let batchAxis = s.unbatched ? [] : [batch]
    let rows = layers * directions
    var parameters: [String: Tensor<Scalar>] = [:]
    for (name, shape) in model.parameterShapes { parameters[name] = tensor(shape, grads[name]!) }
    return LSTMGradients(
      input: dInput,
      initialState: initialState.map { _ in
        LSTMState(
          hidden: tensor([rows] + batchAxis + [hOut], dH0),
          cell: tensor([rows] + batchAxis + [hidden], dC0))
      }, parameters: parameters)
  }
}

/// One step of the naive forward, as its backward reads it.
struct NaiveLSTMStep {
  var gates: [Double]
  var c: [Double]
  var cPrev: [Double]
  var hPrev: [Double]
  var hFull: [Double]
}

extension Naive {
  /// A time-major `[T, B, I]` input gradient in the layout of the forward's input.
  static func naiveInputGradient<Scalar: BLASScalar>(
    _ values: [Double], shape s: ForwardShape, inputSize: Int, batchFirst: Bool
  ) -> Tensor<Scalar> {
    s.callLayout(
      Tensor<Scalar>(shape: [s.steps, s.batch, inputSize], scalars: values.map { Scalar($0) }),
      batchFirst: batchFirst)
  }
}
