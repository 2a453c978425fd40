extension Naive {
  /// The GRU backward (both reset placements) by plain scalar loops in `Double`: the oracle for
  /// ``GRU/backward(_:outputGradient:hiddenGradient:)``. Recomputes the forward per sequence and
  /// runs backpropagation through time over its valid steps. O(L · D · B · T · 3H · (I + H)).
  public static func gruBackward<Scalar: BLASScalar>(
    _ model: GRU<Scalar>, _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil,
    lengths: [Int]? = nil, outputGradient: Tensor<Scalar>, hiddenGradient: Tensor<Scalar>? = nil
  ) throws -> RecurrentGradients<Scalar> {
    try recurrentBackward(
      model._core, input, h0: initialState, lengths: lengths, outputGradient: outputGradient,
      hiddenGradient: hiddenGradient)
  }

  /// The RNN backward by plain scalar loops in `Double`: the oracle for
  /// ``RNN/backward(_:outputGradient:hiddenGradient:)``.
  public static func rnnBackward<Scalar: BLASScalar>(
    _ model: RNN<Scalar>, _ input: Tensor<Scalar>, initialState: Tensor<Scalar>? = nil,
    lengths: [Int]? = nil, outputGradient: Tensor<Scalar>, hiddenGradient: Tensor<Scalar>? = nil
  ) throws -> RecurrentGradients<Scalar> {
    try recurrentBackward(
      model._core, input, h0: initialState, lengths: lengths, outputGradient: outputGradient,
      hiddenGradient: hiddenGradient)
  }

  static func recurrentBackward<Scalar: BLASScalar>(
    _ core: RecurrentCore<Scalar>, _ input: Tensor<Scalar>, h0 initial: Tensor<Scalar>?,
    lengths: [Int]?, outputGradient: Tensor<Scalar>, hiddenGradient: Tensor<Scalar>?
  ) throws -> RecurrentGradients<Scalar> {
    let s = try core.shape(input: input, h0: initial, lengths: lengths)
    let g = core.geometry
    let (steps, batch, hidden, directions, layers) =
      (s.steps, s.batch, g.hiddenSize, g.directions, g.layers)
    let width = directions * hidden
    let gates = g.gateCount
    let (isGRU, resetAfter, relu) = (
      gates == 3, g.cell == .gru(resetAfter: true), g.cell == .rnn(.relu)
    )
    let p = core.stateDict().mapValues { $0.scalars.map(Double.init) }
    func timeMajor(_ t: Tensor<Scalar>) -> [Double] {
      s.timeMajor(t, batchFirst: core.batchFirst).scalars.map(Double.init)
    }
    let length = { (b: Int) in lengths?[b] ?? steps }
    let h0 = initial?.scalars.map(Double.init)
    var x = timeMajor(input)
    var features = g.inputSize
    // Forward: per layer-direction, sequence and step, h(t−1), the activated gates (GRU r, z,
    // n; RNN h) and the recurrent products the backward needs.
    var inputs: [[Double]] = []
    var records: [[[Int: (hPrev: [Double], a: [Double], hRec: [Double])]]] = []
    for layer in 0..<layers {
      inputs.append(x)
      var out = [Double](repeating: 0, count: steps * batch * width)
      for d in 0..<directions {
        let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
        let (wIH, wHH) = (p["weight_ih" + suffix]!, p["weight_hh" + suffix]!)
        let zeros = [Double](repeating: 0, count: gates * hidden)
        let (bIH, bHH) = (p["bias_ih" + suffix] ?? zeros, p["bias_hh" + suffix] ?? zeros)
        let index = layer * directions + d
        var perBatch: [[Int: (hPrev: [Double], a: [Double], hRec: [Double])]] = []
        for b in 0..<batch {
          let row = (index * batch + b) * hidden
          var h =
            h0.map { Array($0[row..<(row + hidden)]) } ?? [Double](repeating: 0, count: hidden)
          var steps: [Int: (hPrev: [Double], a: [Double], hRec: [Double])] = [:]
          for t in g.isReverse(d) ? Array((0..<length(b)).reversed()) : Array(0..<length(b)) {
            let xt = Array(x[((t * batch + b) * features)..<((t * batch + b + 1) * features)])
            let xPart = (0..<(gates * hidden)).map { r in
              (0..<features).reduce(bIH[r]) { $0 + wIH[r * features + $1] * xt[$1] }
            }
            func recurrent(_ r: Int, _ v: [Double]) -> Double {
              (0..<hidden).reduce(bHH[r]) { $0 + wHH[r * hidden + $1] * v[$1] }
            }
            var a = [Double](repeating: 0, count: gates * hidden)
            var hRec = [Double](repeating: 0, count: hidden)
            var next = [Double](repeating: 0, count: hidden)
            if isGRU {
              for k in 0..<hidden {
                a[k] = Math.sigmoid(xPart[k] + recurrent(k, h))
                a[hidden + k] = Math.sigmoid(xPart[hidden + k] + recurrent(hidden + k, h))
              }
              let resetH = (0..<hidden).map { a[$0] * h[$0] }
              for k in 0..<hidden {
                // reset after: hRec = W_hn·h + b_hn; reset before: hRec = r ⊙ h.
                hRec[k] = resetAfter ? recurrent(2 * hidden + k, h) : resetH[k]
                let nPre =
                  xPart[2 * hidden + k]
                  + (resetAfter ? a[k] * hRec[k] : recurrent(2 * hidden + k, resetH))
                a[2 * hidden + k] = Math.tanh(nPre)
                next[k] = (1 - a[hidden + k]) * a[2 * hidden + k] + a[hidden + k] * h[k]
              }
            } else {
              for k in 0..<hidden {
                let v = xPart[k] + recurrent(k, h)
                next[k] = relu ? Swift.max(0, v) : Math.tanh(v)
                a[k] = next[k]
              }
            }
            steps[t] = (h, a, hRec)
            h = next
            for k in 0..<hidden { out[(t * batch + b) * width + d * hidden + k] = h[k] }
          }
          perBatch.append(steps)
        }
        records.append(perBatch)
      }
      x = out
      features = width
    }
    // Backward, top layer first.
    var dOut = timeMajor(outputGradient)
    let dHn = hiddenGradient?.scalars.map(Double.init)
    var dH0 = [Double](repeating: 0, count: layers * directions * batch * hidden)
    var grads: [String: [Double]] = [:]
    for (name, shape) in core.parameterShapes {
      grads[name] = [Double](repeating: 0, count: shape.reduce(1, *))
    }
    for layer in (0..<layers).reversed() {
      let layerInput = inputs[layer]
      let features = layer == 0 ? g.inputSize : width
      var dX = [Double](repeating: 0, count: steps * batch * features)
      for d in 0..<directions {
        let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
        let (wIH, wHH) = (p["weight_ih" + suffix]!, p["weight_hh" + suffix]!)
        let index = layer * directions + d
        for b in 0..<batch {
          let row = (index * batch + b) * hidden
          var dh =
            dHn.map { Array($0[row..<(row + hidden)]) } ?? [Double](repeating: 0, count: hidden)
          for t in g.isReverse(d) ? Array(0..<length(b)) : Array((0..<length(b)).reversed()) {
            let (hPrev, a, hRec) = records[index][b][t]!
            for k in 0..<hidden { dh[k] += dOut[(t * batch + b) * width + d * hidden + k] }
            var dIn = [Double](repeating: 0, count: gates * hidden)  // dL/d(x-side pre-activations)
            var dRec = [Double](repeating: 0, count: gates * hidden)  // multiplies h (or r ⊙ h)
            var dPrev = [Double](repeating: 0, count: hidden)
            if isGRU {
              var dResetH = [Double](repeating: 0, count: hidden)
              var dnPre = [Double](repeating: 0, count: hidden)
              for k in 0..<hidden {
                let (z, n) = (a[hidden + k], a[2 * hidden + k])
                dnPre[k] = dh[k] * (1 - z) * (1 - n * n)
              }
              if !resetAfter {
                for j in 0..<hidden {
                  dResetH[j] = (0..<hidden).reduce(0) {
                    $0 + wHH[(2 * hidden + $1) * hidden + j] * dnPre[$1]
                  }
                }
              }
              for k in 0..<hidden {
                let (r, z, n) = (a[k], a[hidden + k], a[2 * hidden + k])
                let dz = dh[k] * (hPrev[k] - n)
                let dr = resetAfter ? dnPre[k] * hRec[k] : dResetH[k] * hPrev[k]
                (dIn[k], dIn[hidden + k], dIn[2 * hidden + k]) = (
                  dr * r * (1 - r), dz * z * (1 - z), dnPre[k]
                )
                (dRec[k], dRec[hidden + k]) = (dIn[k], dIn[hidden + k])
                dRec[2 * hidden + k] = resetAfter ? dnPre[k] * r : dnPre[k]
                dPrev[k] = dh[k] * z + (resetAfter ? 0 : dResetH[k] * r)
              }
            } else {
              for k in 0..<hidden {
                dIn[k] = dh[k] * (relu ? (a[k] > 0 ? 1 : 0) : 1 - a[k] * a[k])
                dRec[k] = dIn[k]
              }
            }
            for r in 0..<(gates * hidden) {
              for f in 0..<features {
                grads["weight_ih" + suffix]![r * features + f] +=
                  dIn[r] * layerInput[(t * batch + b) * features + f]
                dX[(t * batch + b) * features + f] += dIn[r] * wIH[r * features + f]
              }
              // The reset-before GRU's n rows multiply r ⊙ h (kept in hRec), not h.
              let operand = isGRU && !resetAfter && r >= 2 * hidden ? hRec : hPrev
              for j in 0..<hidden {
                grads["weight_hh" + suffix]![r * hidden + j] += dRec[r] * operand[j]
              }
              if core.bias {
                grads["bias_ih" + suffix]![r] += dIn[r]
                grads["bias_hh" + suffix]![r] += dRec[r]
              }
              if !(isGRU && !resetAfter && r >= 2 * hidden) {
                for j in 0..<hidden { dPrev[j] += wHH[r * hidden + j] * dRec[r] }
              }
            }
            dh = dPrev
          }
          for k in 0..<hidden { dH0[row + k] = dh[k] }
        }
      }
      dOut = dX
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
      dOut, shape: s, inputSize: g.inputSize, batchFirst: core.batchFirst)
    var parameters: [String: Tensor<Scalar>] = [:]
    for (name, shape) in core.parameterShapes { parameters[name] = tensor(shape, grads[name]!) }
    return RecurrentGradients(
      input: dInput,
      initialState: initial.map { tensor($0.shape, dH0) }, parameters: parameters)
  }
}
