/// What ``GRU/forwardWithTrace(_:initialState:lengths:)`` and
/// ``RNN/forwardWithTrace(_:initialState:lengths:)`` keep for their backward.
///
/// Size, with L layers, D directions, T steps, B sequences: activated gates `L·D·T·B·G·H`
/// (GRU r, z, n; the RNN none: its derivative comes from h), the GRU's extra `L·D·T·B·H`
/// (reset after: `W_hn·h + b_hn`; reset before: `r ⊙ h`), and every layer's input sequence and
/// the top output, time-major. A trace belongs to the weights it was made with.
public struct RecurrentTrace<Scalar: BLASScalar>: Sendable {
  /// The forward's result, as a plain call returns it.
  public let output: RecurrentOutput<Scalar>
  let weights: [DirectionWeights<Scalar>]
  let geometry: RecurrentGeometry
  let batchFirst: Bool
  let shape: ForwardShape
  let lengths: [Int]?
  let hadInitialState: Bool
  /// `[D·L, B, H]`, zeros without an initial state.
  let h0: Tensor<Scalar>
  /// Time-major contiguous `[T, B, ·]`: the input, then each layer's output.
  let sequences: [Tensor<Scalar>]
  /// Per layer-direction `[T, B, G·H]`: the GRU's σ(r), σ(z), tanh(n) (empty for the RNN).
  let gates: [Tensor<Scalar>]
  /// Per layer-direction `[T, B, H]`: the GRU's `W_hn·h + b_hn` (reset after) or `r ⊙ h`
  /// (reset before); empty for the RNN.
  let extras: [Tensor<Scalar>]

  /// Bytes the trace holds (its tensors, the result excluded).
  public var byteCount: Int {
    (([h0] + sequences + gates + extras).map(\.count).reduce(0, +)) * MemoryLayout<Scalar>.stride
  }

  func length(_ b: Int) -> Int { lengths?[b] ?? shape.steps }
}

/// The gradients of a ``GRU`` or ``RNN`` backward.
public struct RecurrentGradients<Scalar: BLASScalar>: Sendable {
  /// dL/dx, the shape of the forward's input.
  public var input: Tensor<Scalar>
  /// dL/dh0, shaped like the initial state; nil when the forward had none.
  public var initialState: Tensor<Scalar>?
  /// dL/dθ for every parameter, keyed and shaped as `stateDict()`.
  public var parameters: [String: Tensor<Scalar>]
}

extension RecurrentCore {
  /// The GRU/RNN forward keeping the trace. The RNN runs each layer on the engine (its trace is
  /// the layer outputs); the GRU runs the GEMM path: one input GEMM per layer-direction over all
  /// steps, per step the recurrent GEMM(s) and the Swift cell pass.
  /// Specialised here: called from another package through the public generic layers, an
  /// unspecialised body ran its per-element cell pass through generic witnesses, 20× slower
  /// than the forward (issue 22).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func forwardWithTrace(_ input: Tensor<Scalar>, h0 initial: Tensor<Scalar>?, lengths: [Int]?)
    throws -> RecurrentTrace<Scalar>
  {
    requireTrainable("forwardWithTrace")
    let s = try shape(input: input, h0: initial, lengths: lengths)
    let g = geometry
    let (steps, batch, hidden) = (s.steps, s.batch, g.hiddenSize)
    let (layers, directions) = (g.layers, g.directions)
    let rows = layers * directions
    let width = g.gateWidth
    let length = { (b: Int) in lengths?[b] ?? steps }
    let timeMajor = s.timeMajor(input, batchFirst: batchFirst)
    let h0 =
      initial?.reshaped([rows, batch, hidden]).copied() ?? .zeros(shape: [rows, batch, hidden])
    var sequences = [timeMajor.isContiguous ? timeMajor : timeMajor.copied()]
    var gates: [Tensor<Scalar>] = []
    var extras: [Tensor<Scalar>] = []
    let isGRU = g.gateCount == 3
    let resetAfter = g.cell == .gru(resetAfter: true)
    // Scratch per direction (a bidirectional layer's two run at once when the budget allows):
    // h(t−1) per sequence, the recurrent products of one step.
    let budget = Workers.trainingBudget(threads)
    let hPreviousAll = UnsafeMutablePointer<Scalar>.allocate(capacity: directions * batch * hidden)
    let recurrentAll = UnsafeMutablePointer<Scalar>.allocate(capacity: directions * batch * width)
    defer {
      hPreviousAll.deallocate()
      recurrentAll.deallocate()
    }
    for layer in 0..<layers {
      let x = sequences[layer]
      if !isGRU {
        // The RNN's backward needs only each layer's output (its derivative comes from h):
        // the engine's forward of this layer alone writes it — the fused step, the plan's
        // threads — time-major, with `lengths`' zeros past each end.
        let single = self.layer(layer)
        let engine = RecurrentForward(
          geometry: single.geometry, batchFirst: false, threads: threads,
          threadSplit: threadSplit, kernels: kernels, weights: single.weights)
        let layerShape = try ForwardShape(
          geometry: single.geometry, batchFirst: false, input: x, lengths: lengths)
        let layerH0 =
          initial == nil
          ? nil
          : h0.sliced(axis: 0, range: (layer * directions)..<((layer + 1) * directions))
            .contiguous()
        let output = engine.run(layerShape, input: x, h0: layerH0, c0: nil, lengths: lengths)
          .output
        sequences.append(output.isContiguous ? output : output.copied())
        for _ in 0..<directions {
          gates.append(.zeros(shape: [0]))
          extras.append(.zeros(shape: [0]))
        }
        continue
      }
      let features = x.shape[2]
      let output = Tensor<Scalar>.zeros(shape: [steps, batch, directions * hidden])
      let outputStride = directions * hidden
      // The fused trace step where it runs (rows [T, B, 4H] as the engine lays them out), else
      // the gate trace [T, B, G·H] and a_n or r ⊙ h [T, B, H]; made before the directions run.
      let fusedKernels = (0..<directions).map { direction in
        let w = weights[layer * directions + direction]
        return resetAfter && lengths == nil && batch <= FusedStep.maximumBatch(w.packedISA)
          ? w.packedISA.flatMap { isa in w.packedRecurrent.map { (isa: isa, packed: $0) } } : nil
      }
      let layerGates = fusedKernels.map {
        Tensor<Scalar>.zeros(shape: [steps, batch, $0 == nil ? width : 4 * hidden])
      }
      let layerExtras = fusedKernels.map {
        Tensor<Scalar>.zeros(shape: $0 == nil ? [steps, batch, hidden] : [0])
      }
      Workers.forEachDirection(directions, budget: budget) { direction in
        let index = layer * directions + direction
        let reverse = g.isReverse(direction)
        let w = weights[index]
        let hPrevious = hPreviousAll + direction * batch * hidden
        let recurrent = recurrentAll + direction * batch * width
        let (gateTrace, extra) = (layerGates[direction], layerExtras[direction])
        if let fused = fusedKernels[direction] {
          fusedGRUTrace(
            x, w, isa: fused.isa, packed: fused.packed, reverse: reverse,
            h0: UnsafePointer(h0.storage.base) + index * batch * hidden,
            output: output.storage.base + direction * hidden, outputStride: outputStride,
            into: gateTrace)
          return
        }
        // Input projections of all steps (+ b_ih) into the gate trace, [T, B, G·H].
        let biasIH = bias ? w.parameters[2] : Tensor.zeros(shape: [width])
        let biasHH = bias ? w.parameters[3] : Tensor.zeros(shape: [width])
        withExtendedLifetime((x, output, gateTrace, extra, h0, biasIH, biasHH)) {
          let (G, out, ex) = (gateTrace.storage.base, output.storage.base, extra.storage.base)
          let (bIH, bHH) = (UnsafePointer(biasIH.storage.base), UnsafePointer(biasHH.storage.base))
          for row in 0..<(steps * batch) { (G + row * width).update(from: bIH, count: width) }
          w.weightIH.withBase { wIH in
            BLAS.gemm(
              StridedMatrix(
                base: x.storage.base + x.layout.offset, rows: steps * batch, columns: features,
                rowStride: features, columnStride: 1),
              StridedMatrix(
                base: wIH, rows: features, columns: width, rowStride: 1, columnStride: features),
              into: G, rowStride: width, beta: 1)
          }
          w.weightHH.withBase { wHH in
            let wT = StridedMatrix(
              base: wHH, rows: hidden, columns: width, rowStride: 1, columnStride: hidden)
            // Packed once for all steps when the packed GEMM runs B-row products here.
            let direct = resetAfter ? width : 2 * hidden
            let recurrentProduct = ReusedOperand(wT.columns(0..<direct), rows: batch)
            let resetProduct =
              resetAfter ? nil : ReusedOperand(wT.columns((2 * hidden)..<width), rows: batch)
            for k in 0..<steps {
              let t = reverse ? steps - 1 - k : k
              let neighbour = reverse ? t + 1 : t - 1
              for b in 0..<batch {
                let first = reverse ? t == length(b) - 1 : t == 0
                var source = UnsafePointer(h0.storage.base) + (index * batch + b) * hidden
                if !first && neighbour >= 0 && neighbour < steps {
                  source =
                    UnsafePointer(out) + (neighbour * batch + b) * outputStride
                    + direction * hidden
                }
                (hPrevious + b * hidden).update(from: source, count: hidden)
              }
              // h(t−1)·W_hhᵀ + b_hh of the gates the step multiplies with h directly.
              for b in 0..<batch { (recurrent + b * width).update(from: bHH, count: width) }
              recurrentProduct.multiply(
                StridedMatrix(
                  base: UnsafePointer(hPrevious), rows: batch, columns: hidden, rowStride: hidden,
                  columnStride: 1), into: recurrent, rowStride: width, beta: 1)
              let rowGates = G + t * batch * width
              for b in 0..<batch where t < length(b) {
                let (a, hRec, old) = (
                  rowGates + b * width, recurrent + b * width, hPrevious + b * hidden
                )
                let e = ex + (t * batch + b) * hidden
                for j in 0..<hidden {
                  a[j] = Activations.sigmoid(a[j] + hRec[j])
                  a[hidden + j] = Activations.sigmoid(a[hidden + j] + hRec[hidden + j])
                  // Reset after: keep W_hn·h + b_hn; reset before: keep r ⊙ h.
                  e[j] = resetAfter ? hRec[2 * hidden + j] : a[j] * old[j]
                }
              }
              if !resetAfter {
                // n's recurrent part: (r ⊙ h)·W_hnᵀ + b_hn, one GEMM for the batch.
                resetProduct!.multiply(
                  StridedMatrix(
                    base: UnsafePointer(ex + t * batch * hidden), rows: batch, columns: hidden,
                    rowStride: hidden, columnStride: 1), into: recurrent + 2 * hidden,
                  rowStride: width, beta: 1)
              }
              for b in 0..<batch {
                let h = out + (t * batch + b) * outputStride + direction * hidden
                guard t < length(b) else { continue }
                let (a, hRec, old) = (
                  rowGates + b * width, recurrent + b * width, hPrevious + b * hidden
                )
                for j in 0..<hidden {
                  let n = Activations.tanh(
                    a[2 * hidden + j]
                      + (resetAfter ? a[j] * hRec[2 * hidden + j] : hRec[2 * hidden + j]))
                  a[2 * hidden + j] = n
                  h[j] = (old[j] - n) * a[hidden + j] + n
                }
              }
            }
          }
        }
      }
      gates += layerGates
      extras += layerExtras
      sequences.append(output)
    }
    let final = traceResult(
      sequences: sequences, geometry: g, shape: s, lengths: lengths, batchFirst: batchFirst)
    let result = RecurrentOutput(
      output: final.output, hidden: final.hidden, lastStep: final.lastStep)
    return RecurrentTrace(
      output: result, weights: weights, geometry: g, batchFirst: batchFirst, shape: s,
      lengths: lengths, hadInitialState: initial != nil, h0: h0, sequences: sequences,
      gates: gates, extras: extras)
  }
}

extension RecurrentCore {
  /// The reset-after GRU's traced forward of one layer-direction on the fused step, into
  /// `rows` `[T, B, 4H]`: the gate rows laid out as the engine's (``RecurrentCell``: `[r | z | n_h | n_x]`,
  /// the row bias and the input projection preloaded), which the trace step leaves holding r,
  /// z, n and W_hn·h + b_hn for the backward; h goes to `output` (stride `outputStride`).
  /// The same arithmetic as the plain forward's fused step, so the outputs are the same.
  func fusedGRUTrace(
    _ x: Tensor<Scalar>, _ w: DirectionWeights<Scalar>, isa: VectorISA, packed: Tensor<Scalar>,
    reverse: Bool, h0: UnsafePointer<Scalar>, output: UnsafeMutablePointer<Scalar>,
    outputStride: Int, into rows: Tensor<Scalar>
  ) {
    let (steps, batch, features) = (x.shape[0], x.shape[1], x.shape[2])
    let hidden = geometry.hiddenSize
    let rowWidth = 4 * hidden
    withExtendedLifetime((x, rows)) {
      let base = rows.storage.base
      w.projectAll(
        x.storage.base + x.layout.offset, rows: steps * batch, features: features, into: base,
        rowStride: rowWidth)
      packed.withBase { packed in
        for k in 0..<steps {
          let t = reverse ? steps - 1 - k : k
          let first = k == 0
          let neighbour = reverse ? t + 1 : t - 1
          let (hPrevious, hPreviousStride) =
            first
            ? (h0, hidden)
            : (UnsafePointer(output + neighbour * batch * outputStride), outputStride)
          FusedStep.step(
            cell: geometry.cell, isa: isa, packed: packed, units: hidden, k: hidden,
            hPrevious: hPrevious, hPreviousStride: hPreviousStride, hOld: hPrevious,
            gates: base + t * batch * rowWidth, gateStride: rowWidth, gateBlock: hidden,
            cell: base + t * batch * rowWidth, cellStride: 0,
            hidden: output + t * batch * outputStride,
            hiddenStride: outputStride, batch: batch, trace: true)
        }
      }
    }
  }
}

/// What a traced forward returns to its caller, from its time-major layer outputs (`sequences`,
/// the input first): the top output in the call's layout, `h_n` `[D·L, B, Hout]` — each
/// sequence's h at its last processed step — and `lastStep` `[B, D·Hout]` (no batch axis
/// unbatched). The LSTM's trace adds `c_n`.
func traceResult<Scalar: BLASScalar>(
  sequences: [Tensor<Scalar>], geometry g: RecurrentGeometry, shape s: ForwardShape,
  lengths: [Int]?, batchFirst: Bool
) -> (output: Tensor<Scalar>, hidden: Tensor<Scalar>, lastStep: Tensor<Scalar>) {
  let (batch, hOut, layers, directions) = (s.batch, g.outputHiddenSize, g.layers, g.directions)
  let (rows, width) = (layers * directions, directions * hOut)
  var hN = [Scalar](repeating: 0, count: rows * batch * hOut)
  for layer in 0..<layers {
    let output = UnsafePointer(sequences[layer + 1].storage.base)
    for direction in 0..<directions {
      let index = layer * directions + direction
      for b in 0..<batch {
        let t = g.isReverse(direction) ? 0 : (lengths?[b] ?? s.steps) - 1
        let h = output + (t * batch + b) * width + direction * hOut
        for j in 0..<hOut { hN[(index * batch + b) * hOut + j] = h[j] }
      }
    }
  }
  var last = [Scalar]()
  for b in 0..<batch {
    for direction in 0..<directions {
      let start = (((layers - 1) * directions + direction) * batch + b) * hOut
      last += hN[start..<(start + hOut)]
    }
  }
  let batchAxis = s.unbatched ? [] : [batch]
  return (
    s.callLayout(sequences[layers], batchFirst: batchFirst),
    Tensor(shape: [rows] + batchAxis + [hOut], scalars: hN),
    Tensor(shape: batchAxis + [width], scalars: last)
  )
}
