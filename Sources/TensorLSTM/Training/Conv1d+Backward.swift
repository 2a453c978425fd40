extension Conv1d {
  /// The gradients of the convolution given dL/dy, for every stride, padding, dilation and
  /// group count.
  ///
  ///     let g = try conv.backward(input: lstmOut.permuted([0, 2, 1]), outputGradient: dY)
  ///     g.input       // [B, C_in, L], like the input (a permuted view is read in place)
  ///
  /// Per kernel tap, batch and group, two GEMMs: `dW_k += dY · X_kᵀ` and `dX_k = W_kᵀ · dY`
  /// (added into dX at the tap's input positions); `db` sums dY over batch and length. `x` is
  /// read through its strides as in the forward. Allocates the results.
  /// - Throws: the forward's ``LayerError`` for `x`, and
  ///   ``TrainingError/shapeMismatch(name:expected:actual:)`` when `dY` is not the output's
  ///   shape.
  public func backward(input x: Tensor<Scalar>, outputGradient dY: Tensor<Scalar>) throws
    -> LayerGradients<Scalar>
  {
    let outputLength = try outputLength(checking: x)
    try TrainingError.check(
      "outputGradient", dY, is: Array(x.shape.dropLast(2)) + [outChannels, outputLength])
    let input = x.rank == 2 ? x.unsqueezed(axis: 0) : x
    let gradient = (x.rank == 2 ? dY.unsqueezed(axis: 0) : dY).contiguous()
    let (batch, length, outLength) = (input.shape[0], input.shape[2], gradient.shape[2])
    let (sb, sc, sl) = (input.strides[0], input.strides[1], input.strides[2])
    let (groupIn, groupOut) = (inChannels / groups, outChannels / groups)
    var dX = Tensor<Scalar>.zeros(shape: [batch, inChannels, length])
    var dTaps = Tensor<Scalar>.zeros(shape: [kernelSize, outChannels, groupIn])
    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: groupIn * outLength)
    defer { scratch.deallocate() }
    dX.withMutableBase { dxBase in
      dTaps.withMutableBase { dwBase in
        input.withBase { xBase in
          gradient.withBase { dyBase in
            tapWeights.withBase { wBase in
              for k in 0..<kernelSize {
                guard let span = tapSpan(k, length: length, outLength: outLength) else {
                  continue
                }
                let (first, columns, shift) = span
                for b in 0..<batch {
                  for g in 0..<groups {
                    let dySlice = StridedMatrix(
                      base: dyBase + (b * outChannels + g * groupOut) * outLength + first,
                      rows: groupOut, columns: columns, rowStride: outLength, columnStride: 1)
                    let tap = tapInput(
                      xBase + b * sb + g * groupIn * sc, strides: (sc, sl), span: span,
                      scratch: scratch)
                    // dW_k[g] += dY_slice · tapᵀ: [groupOut, columns] · [columns, groupIn].
                    BLAS.gemm(
                      dySlice,
                      StridedMatrix(
                        base: tap.base, rows: columns, columns: groupIn,
                        rowStride: tap.columnStride, columnStride: tap.rowStride),
                      into: dwBase + (k * outChannels + g * groupOut) * groupIn,
                      rowStride: groupIn, beta: 1)
                    // dX_tap = W_k[g]ᵀ · dY_slice, [groupIn, columns], then added at the tap's
                    // input positions (every stride-th one).
                    BLAS.gemm(
                      StridedMatrix(
                        base: wBase + (k * outChannels + g * groupOut) * groupIn, rows: groupIn,
                        columns: groupOut, rowStride: 1, columnStride: groupIn),
                      dySlice, into: scratch, rowStride: columns)
                    for c in 0..<groupIn {
                      let row = dxBase + (b * inChannels + g * groupIn + c) * length
                      for l in 0..<columns {
                        row[(first + l) * stride + shift] += scratch[c * columns + l]
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    var parameters = ["weight": dTaps.permuted([1, 2, 0]).contiguous()]
    if hasBias {
      parameters["bias"] = columnSums(
        gradient.permuted([0, 2, 1]).reshaped([batch * outLength, outChannels]))
    }
    return LayerGradients(input: x.rank == 2 ? dX.reshaped(x.shape) : dX, parameters: parameters)
  }
}
