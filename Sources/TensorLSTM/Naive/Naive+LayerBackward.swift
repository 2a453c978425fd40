extension Naive {
  /// `Linear`'s backward by triple loops in Double: the oracle for
  /// ``Linear/backward(input:outputGradient:)``. `x` is `[*, in]`, `dY` `[*, out]`.
  public static func linearBackward<Scalar: BLASScalar>(
    _ layer: Linear<Scalar>, input x: Tensor<Scalar>, outputGradient dY: Tensor<Scalar>
  ) -> LayerGradients<Scalar> {
    let (inputs, outputs) = (layer.inFeatures, layer.outFeatures)
    let (xv, dy) = (x.scalars.map(Double.init), dY.scalars.map(Double.init))
    let w = layer.weight.scalars.map(Double.init)
    let rows = xv.count / inputs
    var (dx, dw, db) = (
      [Double](repeating: 0, count: xv.count), [Double](repeating: 0, count: outputs * inputs),
      [Double](repeating: 0, count: outputs)
    )
    for r in 0..<rows {
      for o in 0..<outputs {
        let g = dy[r * outputs + o]
        db[o] += g
        for i in 0..<inputs {
          dx[r * inputs + i] += g * w[o * inputs + i]
          dw[o * inputs + i] += g * xv[r * inputs + i]
        }
      }
    }
    func tensor(_ shape: [Int], _ v: [Double]) -> Tensor<Scalar> {
      Tensor(shape: shape, scalars: v.map { Scalar($0) })
    }
    var parameters = ["weight": tensor([outputs, inputs], dw)]
    if layer.hasBias { parameters["bias"] = tensor([outputs], db) }
    return LayerGradients(input: tensor(x.shape, dx), parameters: parameters)
  }

  /// `Conv1d`'s backward by direct loops over every output position and tap in Double: the
  /// oracle for ``Conv1d/backward(input:outputGradient:)``. `x` is `[B, C_in, L]`.
  public static func conv1dBackward<Scalar: BLASScalar>(
    _ layer: Conv1d<Scalar>, input x: Tensor<Scalar>, outputGradient dY: Tensor<Scalar>
  ) -> LayerGradients<Scalar> {
    let (batch, length, outLength) = (x.shape[0], x.shape[2], dY.shape[2])
    let (groupIn, groupOut) = (layer.inChannels / layer.groups, layer.outChannels / layer.groups)
    let (xv, dy) = (x.scalars.map(Double.init), dY.scalars.map(Double.init))
    let w = layer.weight.scalars.map(Double.init)
    let k = layer.kernelSize
    var dx = [Double](repeating: 0, count: xv.count)
    var dw = [Double](repeating: 0, count: w.count)
    var db = [Double](repeating: 0, count: layer.outChannels)
    for b in 0..<batch {
      for o in 0..<layer.outChannels {
        let group = o / groupOut
        for l in 0..<outLength {
          let g = dy[(b * layer.outChannels + o) * outLength + l]
          db[o] += g
          for c in 0..<groupIn {
            for tap in 0..<k {
              let position = l * layer.stride + tap * layer.dilation - layer.paddingLeft
              guard position >= 0 && position < length else { continue }
              let xi = (b * layer.inChannels + group * groupIn + c) * length + position
              let wi = (o * groupIn + c) * k + tap
              dw[wi] += g * xv[xi]
              dx[xi] += g * w[wi]
            }
          }
        }
      }
    }
    func tensor(_ shape: [Int], _ v: [Double]) -> Tensor<Scalar> {
      Tensor(shape: shape, scalars: v.map { Scalar($0) })
    }
    var parameters = ["weight": tensor(layer.weight.shape, dw)]
    if layer.hasBias { parameters["bias"] = tensor([layer.outChannels], db) }
    return LayerGradients(input: tensor(x.shape, dx), parameters: parameters)
  }
}
