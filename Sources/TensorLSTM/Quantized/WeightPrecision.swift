/// The precision a recurrent layer's weights are stored and streamed in by its forward.
///
///     var lstm = LSTM<Float>(inputSize: 64, hiddenSize: 512)
///     lstm.weightPrecision = .bfloat16   // W_hh streamed at half the bytes per step
///
/// At batch 1 a recurrent step reads all of `W_hh` for a few multiply-adds per weight, so its
/// time is the time to stream the weights: narrower weights are what makes it faster.
/// Setting a precision other than `.float` rounds copies of `weight_ih`, `weight_hh` and
/// `weight_hr` once (the biases stay Float) and every forward path computes with those, so
/// the result is the same on every kernel; the Float weights stay the source of truth
/// (`stateDict()` returns them, `loadStateDict` replaces them and rounds again).
public enum WeightPrecision: Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Float weights (the default).
  case float
  /// bfloat16 weights: Float's exponent, 8 bits of significand, rounded to nearest with ties to
  /// even. The fused step streams packed `W_hh` as bfloat16 (half the bytes) and widens each
  /// weight exactly to Float in registers, so the arithmetic, denormals included, is Float's
  /// on the rounded weights. Relative rounding error per weight ≤ 2⁻⁹.
  case bfloat16

  /// "float" or "bfloat16".
  public var description: String { self == .float ? "float" : "bfloat16" }
}
