/// The activation of a plain ``RNN``: PyTorch's `nonlinearity` argument.
public enum RNNNonlinearity: String, Sendable, Hashable, CaseIterable {
  /// h = tanh(W_ih·x + b_ih + W_hh·h + b_hh), the default.
  case tanh
  /// h = max(0, W_ih·x + b_ih + W_hh·h + b_hh).
  case relu
}

/// Which recurrence a layer runs: the one fact in which the engine's plan, workspace, passes
/// and kernels differ between an LSTM, a GRU and an RNN.
///
/// A gate row of the workspace holds `rowGates` slots of H pre-activations each:
///
///     LSTM               [i | f | g | o]          input GEMM and recurrent GEMM into all four
///     GRU, reset after   [r | z | n_h | n_x]      recurrent into r, z, n_h; input into r, z, n_x
///     GRU, reset before  [r | z | n]              recurrent into r, z; then (r ⊙ h)·W_hnᵀ into n
///     RNN                [a]
///
/// so the reset-after GRU's `r ⊙ (W_hn·h + b_hn)` and the reset-before GRU's `W_hn·(r ⊙ h)` are
/// each computed exactly as PyTorch and ONNX define them.
enum RecurrentCell: Sendable, Hashable, CustomStringConvertible {
  case lstm
  case gru(resetAfter: Bool)
  case rnn(RNNNonlinearity)

  /// Gates of the parameters: rows of `weight_ih` and `weight_hh` per hidden unit.
  var gateCount: Int {
    switch self {
    case .lstm: return 4
    case .gru: return 3
    case .rnn: return 1
    }
  }

  /// Slots of H scalars per gate row (see the type's table).
  var rowGates: Int {
    switch self {
    case .lstm, .gru(resetAfter: true): return 4
    case .gru(resetAfter: false): return 3
    case .rnn: return 1
    }
  }

  /// Gates whose `h(t−1)·W_hhᵀ` part the step's one recurrent product computes, into slots
  /// `0..<recurrentGates`: all of them but the reset-before GRU's n, which needs `r ⊙ h` first.
  var recurrentGates: Int { self == .gru(resetAfter: false) ? 2 : gateCount }

  /// Where the input projection of each parameter gate goes: runs of consecutive gates
  /// `gates` into consecutive slots from `slot` (one GEMM per run). A tuple, not an array: the
  /// time loop reads it and must not allocate.
  var inputRuns: (first: InputRun, second: InputRun?) {
    self == .gru(resetAfter: true)
      ? (InputRun(gates: 0..<2, slot: 0), InputRun(gates: 2..<3, slot: 3))
      : (InputRun(gates: 0..<gateCount, slot: 0), nil)
  }

  /// Whether an input run writes gate-row slot `slot` (all but the reset-after GRU's `n_h`).
  func inputReaches(slot: Int) -> Bool {
    let runs = inputRuns
    func reaches(_ run: InputRun) -> Bool {
      slot >= run.slot && slot < run.slot + run.gates.count
    }
    return reaches(runs.first) || runs.second.map(reaches) == true
  }

  /// Gates `gates` of `weight_ih` whose products go to gate-row slots from `slot`.
  struct InputRun {
    var gates: Range<Int>
    var slot: Int
  }

  /// Whether the fused vector step computes this cell (all but the reset-before GRU, whose n
  /// gate needs all of `r` before its product can start).
  var hasFusedStep: Bool { self != .gru(resetAfter: false) }

  /// Whether a traced forward keeps the gate rows (``TraceRecord/gates``): all cells but the
  /// RNN, whose backward needs only h.
  var tracesGates: Bool { gateCount > 1 }

  /// Whether the cell carries a state besides `h` (the LSTM's `c`).
  var hasCellState: Bool { self == .lstm }

  /// Whether dL/dh(t−1) has paths besides `W_hh` (the GRU's `z ⊙ h(t−1)`): its backward adds
  /// the recurrent product to them.
  var hasDirectHiddenPath: Bool {
    if case .gru = self { return true }
    return false
  }

  /// Whether the gradients of what `W_ih` and what `W_hh` multiplied differ (the GRU's n gate),
  /// so that the backward keeps two sets of gate gradients; the LSTM and RNN keep one.
  var separatesRecurrentGradients: Bool { hasDirectHiddenPath }

  /// The layer type that runs this cell, for messages: "LSTM", "GRU" or "RNN".
  var layerName: String {
    switch self {
    case .lstm: return "LSTM"
    case .gru: return "GRU"
    case .rnn: return "RNN"
    }
  }

  var description: String {
    switch self {
    case .lstm: return "LSTM"
    case .gru(let resetAfter): return resetAfter ? "GRU" : "GRU (reset before)"
    case .rnn(let nonlinearity): return "RNN (\(nonlinearity.rawValue))"
    }
  }

  /// The per-slot bias of a gate row, `[rowGates · H]`, from PyTorch's `bias_ih` and `bias_hh`
  /// (`[G·H]` each), preloaded into every row before the input GEMM:
  /// LSTM and RNN `b_ih + b_hh`; GRU reset after `[b_ir + b_hr, b_iz + b_hz, b_hn, b_in]` (b_hn
  /// stays inside `r ⊙ (·)`); GRU reset before `[b_ir + b_hr, b_iz + b_hz, b_in + b_hn]`.
  func rowBias<Scalar: BLASScalar>(input: [Scalar], recurrent: [Scalar], hidden: Int) -> [Scalar] {
    let sum = zip(input, recurrent).map(+)
    guard self == .gru(resetAfter: true) else { return sum }
    return Array(sum[0..<(2 * hidden)]) + recurrent[(2 * hidden)...] + input[(2 * hidden)...]
  }
}
