/// ONNX's 1-D `Conv` as one GEMM per batch element and group over an im2col matrix: the
/// input's taps gathered into `[C/g·K, L_out]` (zeros where the padding is), multiplied by the
/// weight viewed as `[M/g, C/g·K]`. One GEMM instead of ``Conv1d``'s one per tap, which
/// matters for the long kernels of a learned STFT (Silero VAD: K 256, stride 128, one input
/// channel).
enum ONNXConvolution {
  /// Output positions up to which the skinny kernel runs instead of BLAS.
  static let skinnyColumns = 8

  /// The kernel's span and the padded input length for `c` (attributes from the file), or nil
  /// when either overflows.
  static func extent(_ c: ONNXOperator.Convolution, length: Int, kernel: Int) -> (
    span: Int, padded: Int
  )? {
    let (spanLess, o1) = c.dilation.multipliedReportingOverflow(by: kernel - 1)
    let (paddedLength, o2) = length.addingReportingOverflow(c.pads.0)
    let (padded, o3) = paddedLength.addingReportingOverflow(c.pads.1)
    guard !o1 && !o2 && !o3, spanLess < Int.max else { return nil }
    return (spanLess + 1, padded)
  }

  /// The im2col scratch `run` needs, in floats (0 when the shapes do not fit; `run` throws).
  static func scratchCount(_ c: ONNXOperator.Convolution, x: Tensor<Float>, weight: Tensor<Float>?)
    -> Int
  {
    guard x.rank == 3, let weight, weight.rank == 3, c.stride > 0,
      let (span, padded) = extent(c, length: x.shape[2], kernel: weight.shape[2]), padded >= span
    else { return 0 }
    return TensorLayout.addressableCount(
      [weight.shape[1], weight.shape[2], (padded - span) / c.stride + 1]) ?? 0
  }

  /// The convolution of `x` into `output` (contiguous `[N, M, L_out]`, allocated when nil)
  /// with the im2col matrix in `column` (``scratchCount(_:x:weight:)`` floats, allocated when
  /// nil); returns the output.
  @discardableResult
  static func run(
    _ c: ONNXOperator.Convolution, x: Tensor<Float>, weight: Tensor<Float>, bias: Tensor<Float>?,
    isa: VectorISA?, _ node: String, into output: Tensor<Float>? = nil,
    column scratch: UnsafeMutablePointer<Float>? = nil
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
    // Attributes come from the file: sums and products that overflow, and outputs or
    // im2col matrices past the element limit, are refused before anything is allocated.
    guard let (span, padded) = extent(c, length: length, kernel: kernel) else {
      throw fail("pads \(c.pads) or dilation \(c.dilation) overflow with kernel \(kernel)")
    }
    guard padded >= span else {
      throw fail(
        "input length \(length) with pads \(c.pads) is shorter than the kernel's span \(span)")
    }
    let outLength = (padded - span) / c.stride + 1
    let groupOut = outChannels / groups
    let rows = groupIn * kernel
    try ONNXLimits.check(
      TensorLayout.addressableCount([batch, outChannels, outLength]) ?? .max, node)
    try ONNXLimits.check(TensorLayout.addressableCount([rows, outLength]) ?? .max, node)
    // The bias (or zeros) in every output row; the GEMMs accumulate onto it.
    let y = output ?? Tensor<Float>.unfilled(shape: [batch, outChannels, outLength])
    let out = y.storage.base + y.layout.offset
    let b = bias?.contiguous()
    withExtendedLifetime(b) {
      let biasBase = b.map { $0.storage.base + $0.layout.offset }
      // Row by row without a division per row (a convolution with few output positions
      // has as many rows as elements).
      var row = out
      for _ in 0..<batch {
        for co in 0..<outChannels {
          let value = biasBase?[co] ?? 0
          for t in 0..<outLength { row[t] = value }
          row += outLength
        }
      }
    }
    let w = weight.contiguous()
    let column =
      scratch ?? UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(rows * outLength, 1))
    defer { if scratch == nil { column.deallocate() } }
    // Few output positions: the columns as rows ([L_out, C/g·K], each a window of the input)
    // and the skinny kernel, which reads the weight once instead of packing it.
    let skinny = outLength <= skinnyColumns
    let (sn, sc, sl) = (x.strides[0], x.strides[1], x.strides[2])
    withExtendedLifetime((x, w, y)) {
      do {
        let (input, wBase) = (x.storage.base + x.layout.offset, w.storage.base + w.layout.offset)
        do {
          for n in 0..<batch {
            for g in 0..<groups {
              if skinny {
                // Row o of the column matrix is window o of every channel: K contiguous
                // elements per channel when the taps are adjacent and inside the input.
                for o in 0..<outLength {
                  let start = o * c.stride - c.pads.0
                  // The taps inside the input, kLo..<kHi; the others read the zero padding.
                  var (kLo, kHi) = (0, kernel)
                  while kLo < kernel && start + kLo * c.dilation < 0 { kLo += 1 }
                  while kHi > kLo && start + (kHi - 1) * c.dilation >= length { kHi -= 1 }
                  let step = c.dilation &* sl
                  let row = column + o * rows
                  if kLo > 0 || kHi < kernel { row.update(repeating: 0, count: rows) }
                  // Channel ci's taps kLo..<kHi: `count` elements `step` apart from `source`.
                  var source =
                    input + n * sn + g * groupIn * sc + (start &+ kLo &* c.dilation) &* sl
                  var destination = row + kLo
                  let count = kHi - kLo
                  if step == 1 && count > 16 {
                    for _ in 0..<groupIn {
                      destination.update(from: source, count: count)
                      (source, destination) = (source + sc, destination + kernel)
                    }
                  } else if step == 1 {
                    for _ in 0..<groupIn {
                      for k in 0..<count { destination[k] = source[k] }
                      (source, destination) = (source + sc, destination + kernel)
                    }
                  } else {
                    for _ in 0..<groupIn {
                      for k in 0..<count { destination[k] = source[k &* step] }
                      (source, destination) = (source + sc, destination + kernel)
                    }
                  }
                }
              } else {
                for ci in 0..<groupIn {
                  let source = input + n * sn + (g * groupIn + ci) * sc
                  for k in 0..<kernel {
                    let shift = k * c.dilation - c.pads.0
                    let destination = column + (ci * kernel + k) * outLength
                    for o in 0..<outLength {
                      let i = o * c.stride + shift
                      destination[o] = i >= 0 && i < length ? source[i * sl] : 0
                    }
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
      for i in 0..<(batch * outChannels * outLength) {
        let v = out[i]
        out[i] = v < 0 ? 0 : v
      }
    }
    return y
  }
}
