/// The plain RNN's update for one row, in Swift: h = tanh(a) or max(0, a) (NaN stays NaN, as
/// in PyTorch's relu).
enum RNNGatePass {
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  static func apply<Scalar: BLASScalar>(
    _ nonlinearity: RNNNonlinearity, gates: UnsafePointer<Scalar>,
    hidden h: UnsafeMutablePointer<Scalar>, count: Int
  ) {
    switch nonlinearity {
    case .tanh:
      for j in 0..<count { h[j] = Activations.tanh(gates[j]) }
    case .relu:
      for j in 0..<count { h[j] = gates[j] < 0 ? 0 : gates[j] }
    }
  }
}
