/// The precision a recurrent layer's weights are stored and streamed in by its forward.
///
///     var lstm = LSTM<Float>(inputSize: 64, hiddenSize: 512)
///     lstm.weightPrecision = .bfloat16   // W_hh streamed at half the bytes per step
///
/// At batch 1 a recurrent step reads all of `W_hh` for a few multiply-adds per weight, so its
/// time is the time to stream the weights: narrower weights are what makes it faster.
/// Setting a precision other than `.float` rounds copies of `weight_ih`, `weight_hh` and
/// `weight_hr` once (the biases stay Float) and every forward path computes with those; the
/// Float weights stay the source of truth (`stateDict()` returns them, `loadStateDict`
/// replaces them and rounds again). Float layers only; a traced forward (training) needs
/// `.float`.
public enum WeightPrecision: Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Float weights (the default).
  case float
  /// bfloat16 weights: Float's exponent, 8 bits of significand, rounded to nearest with ties to
  /// even. The fused step streams packed `W_hh` as bfloat16 (half the bytes) and widens each
  /// weight exactly to Float in registers, so the arithmetic, denormals included, is Float's
  /// on the rounded weights. Relative rounding error per weight ≤ 2⁻⁹.
  case bfloat16
  /// int8 weights with one symmetric scale per gate row (`max|w| / 127`, rounded to nearest
  /// even) for `weight_ih`, `weight_hh` and `weight_hr`. The fused step streams `W_hh` as int8
  /// (a quarter of the bytes) and quantizes h(t−1) per row and step the same way (its own
  /// `max|h| / 127`: no fixed range, since a GRU's h(0), a ReLU RNN or a projection can leave
  /// [−1, 1]); the products are exact int32 sums, the gates and the cell state stay Float. The
  /// int32 sums are the same on every kernel (AVX-512 VNNI, AVX-512BW, AVX2), so is the result.
  /// Where the fused step does not run (`lengths`, more rows per worker than it takes), the
  /// GEMM multiplies Float h(t−1) by the dequantized weights (`q · scale` as Float) instead.
  /// The input projection `x · W_ihᵀ` and the LSTM's `weight_hr` product run in int8 as well
  /// (x, and o ⊙ tanh(c), quantized per row the same way) on every kernel but `.portable`,
  /// which computes everything with the dequantized weights.
  case int8

  /// "float", "bfloat16" or "int8".
  public var description: String {
    switch self {
    case .float: return "float"
    case .bfloat16: return "bfloat16"
    case .int8: return "int8"
    }
  }
}
