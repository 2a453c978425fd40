/// The recurrent state of an ``LSTM``: hidden `h` and cell `c` for every layer and direction.
///
///     let state = LSTMState(hidden: h0, cell: c0)   // [D·L, B, Hout] and [D·L, B, H]
///
/// The shapes are PyTorch's `(h_0, c_0)`: `hidden` is `[D·L, B, Hout]` and `cell` is
/// `[D·L, B, H]` (without the batch axis for unbatched input), index `l·D + d`.
public struct LSTMState<Scalar: BLASScalar>: Sendable {
  /// `h`: `[D·L, B, Hout]`.
  public var hidden: Tensor<Scalar>
  /// `c`: `[D·L, B, H]`.
  public var cell: Tensor<Scalar>

  /// A state from its two tensors; O(1), shares their storage.
  public init(hidden: Tensor<Scalar>, cell: Tensor<Scalar>) {
    self.hidden = hidden
    self.cell = cell
  }
}

/// What an ``LSTM`` forward returns: PyTorch's `output, (h_n, c_n)`.
///
///     let out = try lstm(x)              // x: [B, T, I] with batchFirst
///     out.output                         // [B, T, D·Hout]
///     out.hidden[-1]                     // [B, Hout], last layer's final h
public struct LSTMOutput<Scalar: BLASScalar>: Sendable {
  /// Every step's top-layer `h`: `[B, T, D·Hout]` with batchFirst, else `[T, B, D·Hout]`
  /// (`[T, D·Hout]` unbatched). Zero past a sequence's length.
  public var output: Tensor<Scalar>
  /// `h_n`: `[D·L, B, Hout]`, each sequence's state at its own last valid step.
  public var hidden: Tensor<Scalar>
  /// `c_n`: `[D·L, B, H]`.
  public var cell: Tensor<Scalar>
  /// Each sequence's top-layer output at its last valid step: `[B, D·Hout]` (`[D·Hout]`
  /// unbatched). Keras' `return_sequences=False`; for the reverse direction that is the state
  /// after reading the whole sequence backwards, as `hidden` holds it.
  public var lastStep: Tensor<Scalar>

  /// The final state, ready to be passed as the next call's `initialState`.
  public var state: LSTMState<Scalar> { LSTMState(hidden: hidden, cell: cell) }
}
