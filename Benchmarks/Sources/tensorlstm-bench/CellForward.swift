import ArgumentParser
import TensorLSTM

/// The recurrent layer a bench run times (`--cell`).
enum Cell: String, ExpressibleByArgument, CaseIterable, Sendable {
  case lstm, gru, rnn

  /// Gates per hidden unit: rows of W_ih and W_hh per unit.
  var gates: Int {
    switch self {
    case .lstm: return 4
    case .gru: return 3
    case .rnn: return 1
    }
  }

  var name: String { rawValue.uppercased() }
}

/// One model of `cell` for a bench shape, batch-first, seed 1, behind closures so that every
/// mode times LSTM, GRU and RNN the same way.
struct CellForward {
  /// One forward on the shape's input (seed 2).
  let run: () -> Void
  /// The same with `.portable` kernels.
  let runPortable: () -> Void
  /// The naive reference forward.
  let runNaive: () -> Void
  /// The forward's plan.
  let plan: () throws -> ForwardPlan

  init(_ cell: Cell, _ shape: LSTMShape, threads: Int?) {
    let x = Tensor<Float>.randomNormal(shape: [shape.batch, shape.steps, shape.input], seed: 2)
    let (i, h, l, bi) = (shape.input, shape.hidden, shape.layers, shape.bidirectional)
    switch cell {
    case .lstm:
      let model = LSTM<Float>(
        inputSize: i, hiddenSize: h, numLayers: l, batchFirst: true, bidirectional: bi, seed: 1)
      self.init(model, x, threads: threads) { _ = try? Naive.lstm($0, x) }
    case .gru:
      let model = GRU<Float>(
        inputSize: i, hiddenSize: h, numLayers: l, batchFirst: true, bidirectional: bi, seed: 1)
      self.init(model, x, threads: threads) { _ = try? Naive.gru($0, x) }
    case .rnn:
      let model = RNN<Float>(
        inputSize: i, hiddenSize: h, numLayers: l, batchFirst: true, bidirectional: bi, seed: 1)
      self.init(model, x, threads: threads) { _ = try? Naive.rnn($0, x) }
    }
  }

  /// The closures of any recurrent layer: the same members on LSTM, GRU and RNN
  /// (``RecurrentLayer``); only the naive reference differs by cell.
  private init<Model: RecurrentLayer<Float>>(
    _ model: Model, _ x: Tensor<Float>, threads: Int?, naive: @escaping (Model) -> Void
  ) {
    var model = model
    model.threads = threads
    var portable = model
    portable.kernels = .portable
    let fixed = model
    run = { _ = try? fixed.forward(x, lengths: nil) }
    runPortable = { _ = try? portable.forward(x, lengths: nil) }
    runNaive = { naive(fixed) }
    plan = { try fixed.plan(for: x) }
  }
}
