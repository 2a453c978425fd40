/// A multi-layer LSTM with PyTorch's `nn.LSTM` constructor, parameter names, shapes and results.
///
///     let lstm = LSTM<Float>(inputSize: 128, hiddenSize: 64, batchFirst: true)
///     let out = try lstm(x)            // x: [B, T, 128]
///     out.output                        // [B, T, 64]
///     out.output.selected(axis: 1, index: -1)   // [B, 64], the article's output[:, -1, :]
///
/// Gates are ordered i, f, g, o as in PyTorch. Parameters are initialised from
/// U(−1/√H, 1/√H) with a seedable generator (PyTorch's distribution; not its random stream).
/// A forward allocates its result and work buffers once and computes on the BLAS path (see
/// `LSTM+Forward.swift`). The model is a value: `Sendable`, safe to call from many tasks.
public struct LSTM<Scalar: BLASScalar>: Sendable {
  /// The engine state behind the shared members (``RecurrentLayer``); not for direct use.
  public var _core: RecurrentCore<Scalar>
  /// Training mode (PyTorch's `train()`, the default) or evaluation mode (`eval()`): only
  /// `dropout` between layers depends on it.
  public var training = true

  /// A layer around `_core` (one layer of a stacked model, for dropout between layers).
  init(core: RecurrentCore<Scalar>) { _core = core }

  /// Size of the projected hidden state `Hout` when > 0 (PyTorch's `proj_size`); 0 means none.
  public var projSize: Int { _core.projSize }

  /// An LSTM with PyTorch's hyper-parameters and defaults; allocates its parameters.
  ///
  ///     LSTM<Float>(inputSize: 8, hiddenSize: 16, numLayers: 2, bidirectional: true, seed: 7)
  ///
  /// - Precondition: sizes are positive, `projSize` is in `0..<hiddenSize`.
  public init(
    inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true,
    batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false, projSize: Int = 0,
    seed: UInt64 = 0
  ) {
    _core = RecurrentCore(
      cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers,
      bias: bias, batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional,
      projSize: projSize,
      seed: seed)
  }

  /// Size of `h` and of each output step per direction: `projSize` when > 0, else `hiddenSize`.
  public var outputHiddenSize: Int { _core.geometry.outputHiddenSize }

}
