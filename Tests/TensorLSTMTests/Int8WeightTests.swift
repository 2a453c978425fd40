import Foundation
import TensorLSTM
import Testing

/// `weightPrecision = .int8`: the fused step streams `W_hh` as int8 with one scale per gate row
/// and quantizes h(t−1) per row and step, and the input projection multiplies `W_ih`'s int8 rows
/// by x quantized per row the same way. An independent Swift twin of that recipe (written here
/// from the documented rule, not from the kernels) checks each int8 kernel; the kernels' int32
/// sums are exact, so VNNI and AVX-512BW agree bit for bit. Steps without the fused step
/// (lengths) multiply Float h(t−1) by the dequantized `W_hh`; the portable kernels compute
/// everything with the dequantized weights, checked against the naive oracle on a Float model
/// holding them.
@Suite("Weight precision: int8 weights on every kernel")
struct Int8WeightTests {
  /// A row of weights quantized as documented: scale max|w| / 127, q = round(w / scale).
  struct QuantizedRows {
    var q: [[Float]]
    var scales: [Float]

    init(_ w: Tensor<Float>) {
      let (rows, k) = (w.shape[0], w.shape[1])
      let values = w.scalars
      (q, scales) = ([], [])
      for r in 0..<rows {
        let row = Array(values[(r * k)..<((r + 1) * k)])
        let top = row.map(abs).max() ?? 0
        let scale = top / 127
        scales.append(scale)
        q.append(row.map { top > 0 ? ($0 / scale).rounded(.toNearestOrEven) : 0 })
      }
    }

    var dequantized: [Float] { zip(q, scales).flatMap { row, s in row.map { $0 * s } } }
  }

  /// `dict` with its weights (not biases) replaced by their dequantized int8 values.
  static func dequantized(_ dict: [String: Tensor<Float>]) -> [String: Tensor<Float>] {
    dict.reduce(into: [:]) { result, entry in
      result[entry.key] =
        entry.key.hasPrefix("weight")
        ? Tensor(shape: entry.value.shape, scalars: QuantizedRows(entry.value).dequantized)
        : entry.value
    }
  }

  /// h quantized per row as the step does: q = round(h · (127 / max|h|)), scale max|h| / 127.
  static func quantized(_ h: [Float]) -> (q: [Float], scale: Float) {
    let top = h.map(abs).max() ?? 0
    guard top > 0 else { return (h.map { _ in 0 }, 0) }
    let inverse = 127 / top
    return (h.map { ($0 * inverse).rounded(.toNearestOrEven) }, top / 127)
  }

  enum Cell: String, CaseIterable, Sendable { case lstm, gru, rnnTanh, rnnRelu }

  /// The int8 recipe for one layer over `x` `[T, B, I]` from zero state: int8 input projection
  /// (x quantized per row) and int8 recurrent products (h(t−1) quantized per row; Float h(t−1)
  /// times the dequantized `W_hh` when `recurrentInt8` is false), scaled back; Float gates; with
  /// a `weight_hr_l0` (LSTM), h = int8 product of W_hr and o ⊙ tanh(c) quantized per row.
  static func twin(
    _ cell: Cell, _ dict: [String: Tensor<Float>], _ x: Tensor<Float>, recurrentInt8: Bool = true
  ) -> [Float] {
    let (steps, batch, features) = (x.shape[0], x.shape[1], x.shape[2])
    let wih = QuantizedRows(dict["weight_ih_l0"]!)
    let whh = QuantizedRows(dict["weight_hh_l0"]!)
    let (bih, bhh) = (dict["bias_ih_l0"]!.scalars, dict["bias_hh_l0"]!.scalars)
    let whr = dict["weight_hr_l0"].map(QuantizedRows.init)
    let rows = whh.scales.count
    let hOut = whh.q[0].count
    let hidden = whr?.q[0].count ?? hOut
    let xs = x.scalars
    var h = [[Float]](repeating: [Float](repeating: 0, count: hOut), count: batch)
    var c = [[Float]](repeating: [Float](repeating: 0, count: hidden), count: batch)
    var output: [Float] = []
    func sigmoid(_ v: Float) -> Float { 1 / (1 + exp(-v)) }
    for t in 0..<steps {
      var next = [[Float]](repeating: [Float](repeating: 0, count: hidden), count: batch)
      for b in 0..<batch {
        let input = Array(xs[((t * batch + b) * features)..<((t * batch + b + 1) * features)])
        let (qx, sx) = quantized(input)
        let (qh, sh) = quantized(h[b])
        var projected = [Float](repeating: 0, count: rows)
        var recurrent = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
          var dot = 0
          for j in 0..<features { dot += Int(wih.q[r][j]) * Int(qx[j]) }
          projected[r] = Float(dot) * (wih.scales[r] * sx) + bih[r]
          if recurrentInt8 {
            dot = 0
            for j in 0..<hOut { dot += Int(whh.q[r][j]) * Int(qh[j]) }
            recurrent[r] = Float(dot) * (whh.scales[r] * sh) + bhh[r]
          } else {
            var sum: Float = 0
            for j in 0..<hOut { sum += whh.q[r][j] * whh.scales[r] * h[b][j] }
            recurrent[r] = sum + bhh[r]
          }
        }
        for u in 0..<hidden {
          switch cell {
          case .lstm:
            let a = (0..<4).map { projected[$0 * hidden + u] + recurrent[$0 * hidden + u] }
            c[b][u] = sigmoid(a[1]) * c[b][u] + sigmoid(a[0]) * tanh(a[2])
            next[b][u] = sigmoid(a[3]) * tanh(c[b][u])
          case .gru:
            let r = sigmoid(projected[u] + recurrent[u])
            let z = sigmoid(projected[hidden + u] + recurrent[hidden + u])
            let n = tanh(projected[2 * hidden + u] + r * recurrent[2 * hidden + u])
            next[b][u] = (h[b][u] - n) * z + n
          case .rnnTanh: next[b][u] = tanh(projected[u] + recurrent[u])
          case .rnnRelu: next[b][u] = max(0, projected[u] + recurrent[u])
          }
        }
        if let whr {
          let (qf, sf) = quantized(next[b])
          next[b] = (0..<hOut).map { p in
            var dot = 0
            for u in 0..<hidden { dot += Int(whr.q[p][u]) * Int(qf[u]) }
            return Float(dot) * (whr.scales[p] * sf)
          }
        }
      }
      h = next
      output += h.flatMap { $0 }
    }
    return output
  }

  static func model(_ cell: Cell, features: Int, hidden: Int) -> any RecurrentLayer<Float> {
    switch cell {
    case .lstm: return LSTM<Float>(inputSize: features, hiddenSize: hidden, seed: 3)
    case .gru: return GRU<Float>(inputSize: features, hiddenSize: hidden, seed: 3)
    case .rnnTanh: return RNN<Float>(inputSize: features, hiddenSize: hidden, seed: 3)
    case .rnnRelu:
      return RNN<Float>(inputSize: features, hiddenSize: hidden, nonlinearity: .relu, seed: 3)
    }
  }

  @Test(
    "each int8 kernel computes the documented recipe (LSTM, GRU, RNN tanh and relu)",
    arguments: Cell.allCases, [(1, 13), (3, 37), (7, 300)])
  func kernelsFollowTheRecipe(cell: Cell, shape: (batch: Int, hidden: Int)) throws {
    var random = TestRandom(seed: UInt64(shape.batch * 1000 + shape.hidden))
    // B 7 over 40 steps: 280 input rows, more than one block of the int8 projection (240).
    let x: Tensor<Float> = random.tensor([shape.batch == 7 ? 40 : 9, shape.batch, 11])
    var model = Self.model(cell, features: 11, hidden: shape.hidden)
    let dict = model.stateDict()
    let twin = Self.twin(cell, dict, x)
    let twinOfLengths = Self.twin(cell, dict, x, recurrentInt8: false)
    var reference = model
    try reference.loadStateDict(Self.dequantized(dict))
    model.weightPrecision = .int8
    #expect(model.stateDict().mapValues(\.scalars) == dict.mapValues(\.scalars))
    var outputs: [RecurrentKernels: [Float]] = [:]
    for kernels in RecurrentKernels.supported {
      model.kernels = kernels
      reference.kernels = kernels
      let plan = try model.plan(for: x)
      let output = try model.forward(x, lengths: nil).scalars
      outputs[kernels] = output
      if kernels == .portable {
        #expect(plan.streamedWeights == .float && plan.inputProjection != "int8", "\(plan)")
        // No fused step: Float h(t−1) times the dequantized weights.
        expectClose(
          Tensor(shape: [output.count], scalars: output),
          Tensor(shape: [output.count], scalars: try reference.forward(x, lengths: nil).scalars),
          "\(cell) portable")
      } else {
        #expect(
          plan.streamedWeights == .int8 && plan.inputProjection.hasPrefix("int8"), "\(plan)")
        // A rounding of h(t−1) that lands the other side of a half moves a gate by at most
        // scale_h · max|q_w · scale_w| ≈ 1/127 · 0.3: far below this, far above Float noise.
        expectClose(
          output.map(Double.init), twin.map(Double.init), absolute: 3e-3, relative: 0,
          "\(cell) \(kernels)")
        // Lengths (all full) run the GEMM step: int8 projection, Float h(t−1).
        let lengths = [Int](repeating: x.shape[0], count: shape.batch)
        let gemm = try model.forward(x, lengths: lengths).scalars
        expectClose(
          gemm.map(Double.init), twinOfLengths.map(Double.init), absolute: 3e-3, relative: 0,
          "\(cell) \(kernels) lengths")
      }
    }
    if let vnni = outputs[.avx512VNNI], let bw = outputs[.avx512] {
      let same = vnni == bw
      #expect(same, "VNNI and AVX-512BW make the same int32 sums")
    }
  }

  /// Many rows (several register tiles, each reading every panel) and long `W_hh` rows: the
  /// int32 sums are exact and a row's quantization is its own, so the batch must equal each
  /// sequence run by itself (the one-row tile) bit for bit.
  @Test("int8 steps over many tiles equal one sequence at a time", arguments: [false, true])
  func inputBlocks(gru: Bool) throws {
    var random = TestRandom(seed: 21)
    let (batch, hidden) = (50, 1040)
    let x: Tensor<Float> = random.tensor([2, batch, 4])
    var model: any RecurrentLayer<Float> =
      gru
      ? GRU<Float>(inputSize: 4, hiddenSize: hidden, seed: 9)
      : LSTM<Float>(inputSize: 4, hiddenSize: hidden, seed: 9)
    model.weightPrecision = .int8
    for kernels in RecurrentKernels.supported where kernels != .portable {
      model.kernels = kernels
      let all = try model.forward(x, lengths: nil)
      #expect(try model.plan(for: x).streamedWeights == .int8)
      for b in [0, 7, 31, 49] {
        let one = try model.forward(x[.all, .range(b..<(b + 1))], lengths: nil)
        let same = one.scalars == all[.all, .range(b..<(b + 1))].contiguous().scalars
        #expect(same, "\(gru ? "GRU" : "LSTM") \(kernels) sequence \(b)")
      }
    }
  }

  /// The LSTM's `weight_hr` product runs in int8 too: o ⊙ tanh(c) quantized per row.
  @Test("an int8 projection LSTM follows the recipe on every kernel", arguments: [1, 4])
  func projectionFollowsTheRecipe(batch: Int) throws {
    var random = TestRandom(seed: UInt64(50 + batch))
    let x: Tensor<Float> = random.tensor([12, batch, 11])
    var model = LSTM<Float>(inputSize: 11, hiddenSize: 37, projSize: 13, seed: 8)
    let twin = Self.twin(.lstm, model.stateDict(), x)
    model.weightPrecision = .int8
    for kernels in RecurrentKernels.supported where kernels != .portable {
      model.kernels = kernels
      let output = try model(x).output.scalars
      // 3e-8 here; Float h_full times the dequantized W_hr would be 9e-4 off.
      expectClose(
        output.map(Double.init), twin.map(Double.init), absolute: 1e-4, relative: 0,
        "\(kernels)")
    }
  }

  @Test(
    "int8 stays within 2e-2 of Float over 1000 steps (LSTM, B 1 and 16, H 256)",
    arguments: [1, 16])
  func accuracyOverALongSequence(batch: Int) throws {
    var random = TestRandom(seed: 11)
    let x: Tensor<Float> = random.tensor([1000, batch, 64])
    var model = LSTM<Float>(inputSize: 64, hiddenSize: 256, seed: 5)
    let float = try model(x).output.scalars
    model.weightPrecision = .int8
    let int8 = try model(x).output.scalars
    let worst = zip(float, int8).map { abs($0 - $1) }.max() ?? 0
    #expect(worst < 2e-2, "max |int8 − float| = \(worst)")
  }

  @Test("int8 with a projection, two layers, both directions and lengths")
  func layouts() throws {
    var random = TestRandom(seed: 12)
    let x: Tensor<Float> = random.tensor([20, 5, 16])
    var model = LSTM<Float>(
      inputSize: 16, hiddenSize: 96, numLayers: 2, bidirectional: true, projSize: 40, seed: 6)
    let float = try model(x).output
    let dict = model.stateDict()
    model.weightPrecision = .int8
    var reference = model
    reference.weightPrecision = .float
    try reference.loadStateDict(Self.dequantized(dict))
    for kernels in RecurrentKernels.supported {
      model.kernels = kernels
      expectClose(try model(x).output, float, absolute: 2e-2, relative: 0, "\(kernels)")
      let lengths = [20, 3, 11, 1, 17]
      if kernels == .portable {
        // Exactly the dequantized weights in Float.
        expectClose(
          try model(x, lengths: lengths).output, try reference(x, lengths: lengths).output,
          "lengths \(kernels)")
      } else {
        // The GEMM step with the int8 projection.
        expectClose(
          try model(x, lengths: lengths).output, try reference(x, lengths: lengths).output,
          absolute: 2e-2, relative: 0, "lengths \(kernels)")
      }
    }
  }

  /// Batch 1 over many steps at 2 threads: the hidden split's workers read their int8 panels at
  /// the int8 offsets and each quantizes h(t−1) in its own scratch.
  @Test("int8 weights in the hidden split agree with one worker")
  func hiddenSplit() throws {
    var random = TestRandom(seed: 13)
    let x: Tensor<Float> = random.tensor([40, 1, 16])
    var model = LSTM<Float>(inputSize: 16, hiddenSize: 400, seed: 4)
    model.weightPrecision = .int8
    for kernels in RecurrentKernels.supported where kernels != .portable {
      model.kernels = kernels
      model.threads = 1
      let single = try model(x).output
      model.threads = 2
      model.threadSplit = .hiddenUnits
      let plan = try model.plan(for: x)
      if BLAS.cores >= 2 { #expect(plan.split == .hiddenUnits && plan.streamedWeights == .int8) }
      expectClose(try model(x).output, single, absolute: 1e-5, relative: 0, "\(kernels)")
      model.threadSplit = nil
    }
  }

  @Test("a NaN in h(0) makes the int8 step's output NaN, as the Float step's")
  func nanPropagates() throws {
    var model = GRU<Float>(inputSize: 4, hiddenSize: 20, seed: 2)
    model.weightPrecision = .int8
    var h0 = [Float](repeating: 0.5, count: 20)
    h0[7] = .nan
    let x = Tensor<Float>.zeros(shape: [2, 1, 4])
    for kernels in RecurrentKernels.supported where kernels != .portable {
      model.kernels = kernels
      let out = try model(x, initialState: Tensor(shape: [1, 1, 20], scalars: h0)).output.scalars
      let allNaN = out.allSatisfy { $0.isNaN }
      #expect(allNaN, "\(kernels)")
    }
  }
}
