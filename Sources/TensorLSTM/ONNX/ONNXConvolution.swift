/// ONNX's 1-D `Conv` as one GEMM per batch element and group over an im2col matrix: the
/// input's taps gathered into `[C/g·K, L_out]` (zeros where the padding is), multiplied by the
/// weight viewed as `[M/g, C/g·K]`. One GEMM instead of ``Conv1d``'s one per tap, which
/// matters for the long kernels of a learned STFT (Silero VAD: K 256, stride 128, one input
/// channel).
enum ONNXConvolution {
  /// Output positions up to which the skinny kernel runs instead of BLAS.
  static let skinnyColumns = 8

  static func run(
    _ c: ONNXOperator.Convolution, x: Tensor<Float>, weight: Tensor<Float>, bias: Tensor<Float>?,
    isa: VectorISA?, _ node: String
  ) throws(ONNXError) -> Tensor<Float> {
    func fail(_ reason: String) -> ONNXError { .runtime(node: node, reason: reason) }
    guard x.rank == 3, weight.rank == 3 else {
      throw fail(
        "Conv supports 1-D data: X [N, C, L] and W [M, C/group, K], got \(x.shape) and \(weight.shape)"
      )
    }
    let (batch, channels, length) = (x.shape[0], x.shape[1], x.shape[2])
    let (outChannels, groupIn, kernel) = (weight.shape[0], weight.shape[1], weight.shape[2])
    let groups = c.groups
    guard channels == groupIn * groups, outChannels % groups == 0, kernel == (c.kernel ?? kernel),
      kernel > 0
    else {
      throw fail(
        "X \(x.shape) and W \(weight.shape) do not match group \(groups) and kernel_shape \(c.kernel.map { [$0] } ?? [])"
      )
    }
    if let bias, bias.shape != [outChannels] {
      throw fail("B \(bias.shape) must be [\(outChannels)]")
    }
    let span = c.dilation * (kernel - 1) + 1
    let padded = length + c.pads.0 + c.pads.1
    guard padded >= span else {
      throw fail(
        "input length \(length) with pads \(c.pads) is shorter than the kernel's span \(span)")
    }
    let outLength = (padded - span) / c.stride + 1
    let groupOut = outChannels / groups
    let rows = groupIn * kernel
    // The bias (or zeros) in every output row; the GEMMs accumulate onto it.
    var y = Tensor<Float>.unfilled(shape: [batch, outChannels, outLength])
    let b = bias?.contiguous()
    y.withMutableBase { out in
      for row in 0..<(batch * outChannels) {
        let value = b?.withBase { $0[row % outChannels] } ?? 0
        (out + row * outLength).update(repeating: value, count: outLength)
      }
    }
    let w = weight.contiguous()
    let column = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(rows * outLength, 1))
    defer { column.deallocate() }
    // Few output positions: the columns as rows ([L_out, C/g·K], each a window of the input)
    // and the skinny kernel, which reads the weight once instead of packing it.
    let skinny = outLength <= skinnyColumns
    let (sn, sc, sl) = (x.strides[0], x.strides[1], x.strides[2])
    y.withMutableBase { out in
      x.withBase { input in
        w.withBase { wBase in
          for n in 0..<batch {
            for g in 0..<groups {
              for ci in 0..<groupIn {
                let source = input + n * sn + (g * groupIn + ci) * sc
                for k in 0..<kernel {
                  let shift = k * c.dilation - c.pads.0
                  let (start, step) =
                    skinny ? (ci * kernel + k, rows) : ((ci * kernel + k) * outLength, 1)
                  for o in 0..<outLength {
                    let i = o * c.stride + shift
                    column[start + o * step] = i >= 0 && i < length ? source[i * sl] : 0
                  }
                }
              }
              let target = out + (n * outChannels + g * groupOut) * outLength
              let weights = wBase + g * groupOut * rows
              if skinny {
                FusedStep.skinnyGemm(
                  weights, lda: rows, column, ldb: rows, into: target, ldc: outLength,
                  rows: groupOut, cols: outLength, k: rows, isa: isa)
              } else {
                BLAS.gemm(
                  StridedMatrix(
                    base: weights, rows: groupOut, columns: rows, rowStride: rows, columnStride: 1),
                  StridedMatrix(
                    base: UnsafePointer(column), rows: rows, columns: outLength,
                    rowStride: outLength,
                    columnStride: 1),
                  into: target, rowStride: outLength, beta: 1)
              }
            }
          }
        }
      }
    }
    if c.relu {
      y.withMutableBase { out in
        for i in 0..<(batch * outChannels * outLength) where out[i] < 0 { out[i] = 0 }
      }
    }
    return y
  }
}
