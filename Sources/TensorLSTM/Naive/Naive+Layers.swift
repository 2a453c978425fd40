extension Naive {
  /// `Linear` by the textbook loop: `y[r, o] = bias[o] + Σ_i x[r, i] · weight[o, i]`.
  ///
  ///     Naive.linear(dense, x)   // same shape and values as try dense(x)
  ///
  /// - Precondition: the last axis of `x` is `layer.inFeatures`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func linear<Scalar: BLASScalar>(_ layer: Linear<Scalar>, _ x: Tensor<Scalar>)
    -> Tensor<Scalar>
  {
    require(
      x.shape.last == layer.inFeatures, "Naive.linear: input \(x.shape) vs \(layer.inFeatures)")
    let (inputs, outputs) = (layer.inFeatures, layer.outFeatures)
    let values = x.scalars.map(Double.init)
    let weight = layer.weight.scalars.map(Double.init)
    let bias = layer.bias?.scalars.map(Double.init) ?? [Double](repeating: 0, count: outputs)
    let rows = values.count / inputs
    var result = [Scalar]()
    result.reserveCapacity(rows * outputs)
    for r in 0..<rows {
      for o in 0..<outputs {
        var sum = bias[o]
        for i in 0..<inputs { sum += values[r * inputs + i] * weight[o * inputs + i] }
        result.append(Scalar(sum))
      }
    }
    return Tensor(shape: Array(x.shape.dropLast()) + [outputs], scalars: result)
  }

  /// `Conv1d` by direct summation over channels and taps, zero outside the input.
  ///
  ///     Naive.conv1d(conv, x)   // x: [B, C_in, L] → [B, C_out, L_out]
  ///
  /// - Precondition: `x` is `[B, C_in, L]` with a long enough `L`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public static func conv1d<Scalar: BLASScalar>(_ layer: Conv1d<Scalar>, _ x: Tensor<Scalar>)
    -> Tensor<Scalar>
  {
    require(
      x.rank == 3 && x.shape[1] == layer.inChannels,
      "Naive.conv1d: input \(x.shape) vs \(layer.inChannels) channels")
    let (batch, length) = (x.shape[0], x.shape[2])
    let (cIn, cOut, kSize) = (layer.inChannels, layer.outChannels, layer.kernelSize)
    let (groupIn, groupOut) = (cIn / layer.groups, cOut / layer.groups)
    let outLength = layer.outputLength(for: length)
    let values = x.scalars.map(Double.init)
    let weight = layer.weight.scalars.map(Double.init)
    let bias = layer.bias?.scalars.map(Double.init) ?? [Double](repeating: 0, count: cOut)
    var result = [Scalar]()
    for b in 0..<batch {
      for o in 0..<cOut {
        let g = o / groupOut
        for l in 0..<outLength {
          var sum = bias[o]
          for c in 0..<groupIn {
            for k in 0..<kSize {
              let position = l * layer.stride + k * layer.dilation - layer.paddingLeft
              if position < 0 || position >= length { continue }
              let channel = g * groupIn + c
              sum +=
                weight[(o * groupIn + c) * kSize + k]
                * values[(b * cIn + channel) * length + position]
            }
          }
          result.append(Scalar(sum))
        }
      }
    }
    return Tensor(shape: [batch, cOut, outLength], scalars: result)
  }
}
