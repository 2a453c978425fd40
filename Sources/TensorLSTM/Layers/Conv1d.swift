/// A 1-D convolution, PyTorch's `nn.Conv1d`, on `[B, C, L]` input, lowered to GEMMs.
///
///     let conv = Conv1d<Float>(inChannels: 64, outChannels: 32, kernelSize: 3, padding: 1)
///     let y = try conv(lstmOutput.permuted([0, 2, 1]))   // [B, T, H] → [B, H, T] → [B, 32, T]
///
/// Parameters: `weight` `[out, in/groups, K]`, `bias` `[out]` (PyTorch names and shapes).
/// Each kernel tap is one GEMM `W_k · X_k` per batch element and group, where `X_k` is the
/// input shifted by the tap and read through its strides: the permuted LSTM output (channel
/// stride 1) and contiguous input (length stride 1) are both read in place, no `contiguous()`.
public struct Conv1d<Scalar: BLASScalar>: Sendable, StateDictLayer {
  /// Channels of the input.
  public let inChannels: Int
  /// Channels of the output.
  public let outChannels: Int
  /// Taps per kernel, `K`.
  public let kernelSize: Int
  /// Step between output positions.
  public let stride: Int
  /// Zeros added before the sequence.
  public let paddingLeft: Int
  /// Zeros added after the sequence.
  public let paddingRight: Int
  /// Spacing between kernel taps.
  public let dilation: Int
  /// Independent channel groups; in and out channels divide by it.
  public let groups: Int
  /// Whether the layer adds `bias`.
  public let hasBias: Bool
  /// Training or evaluation mode (``Layer``); the layer computes the same in both.
  public var training = true
  /// `[out, in/groups, K]`.
  public private(set) var weight: Tensor<Scalar>
  /// `[out]`, or nil without bias.
  public private(set) var bias: Tensor<Scalar>?
  /// The weight repacked per tap, `[K, out, in/groups]`, so that each tap is a plain matrix.
  var tapWeights: Tensor<Scalar>

  /// A convolution with symmetric zero `padding` and PyTorch's default initialisation
  /// U(−1/√(in/groups·K), ·); allocates.
  ///
  /// - Precondition: sizes are positive, `padding ≥ 0`, and `groups` divides both channel
  ///   counts.
  public init(
    inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1, bias: Bool = true, seed: UInt64 = 0
  ) {
    self.init(
      inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride,
      paddingLeft: padding, paddingRight: padding, dilation: dilation, groups: groups,
      bias: bias, seed: seed)
  }

  /// PyTorch's `padding='same'`: stride 1, output length equal to input length; an odd total
  /// padding puts the extra zero on the right, as PyTorch does.
  ///
  ///     Conv1d<Float>.same(inChannels: 64, outChannels: 64, kernelSize: 4)
  public static func same(
    inChannels: Int, outChannels: Int, kernelSize: Int, dilation: Int = 1, groups: Int = 1,
    bias: Bool = true, seed: UInt64 = 0
  ) -> Conv1d {
    let total = dilation * (kernelSize - 1)
    return Conv1d(
      inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: 1,
      paddingLeft: total / 2, paddingRight: total - total / 2, dilation: dilation,
      groups: groups, bias: bias, seed: seed)
  }

  init(
    inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, paddingLeft: Int,
    paddingRight: Int, dilation: Int, groups: Int, bias: Bool, seed: UInt64
  ) {
    require(
      inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && dilation > 0
        && groups > 0,
      "Conv1d: channels, kernelSize, stride, dilation and groups must be positive")
    require(paddingLeft >= 0 && paddingRight >= 0, "Conv1d: padding must be ≥ 0")
    require(
      inChannels % groups == 0 && outChannels % groups == 0,
      "Conv1d: groups (\(groups)) must divide inChannels (\(inChannels)) and outChannels (\(outChannels))"
    )
    requireCountable(
      [[outChannels, inChannels / groups, kernelSize]],
      "Conv1d(inChannels: \(inChannels), outChannels: \(outChannels), kernelSize: \(kernelSize))")
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernelSize = kernelSize
    self.stride = stride
    self.paddingLeft = paddingLeft
    self.paddingRight = paddingRight
    self.dilation = dilation
    self.groups = groups
    self.hasBias = bias
    let shapes = [[outChannels, inChannels / groups, kernelSize]] + (bias ? [[outChannels]] : [])
    let parameters: [Tensor<Scalar>] = uniformParameters(
      shapes: shapes, fanIn: inChannels / groups * kernelSize, seed: seed)
    weight = parameters[0]
    self.bias = bias ? parameters[1] : nil
    tapWeights = parameters[0].permuted([2, 0, 1]).contiguous()
  }

  /// `weight` and, with bias, `bias`.
  public var parameterShapes: [(name: String, shape: [Int])] {
    [("weight", [outChannels, inChannels / groups, kernelSize])]
      + (hasBias ? [("bias", [outChannels])] : [])
  }

  /// The parameters by PyTorch name; shares storage.
  public func stateDict() -> [String: Tensor<Scalar>] {
    WeightAndBias.stateDict(weight, bias)
  }

  /// Replaces `weight` (and `bias`); validates before changing anything; copies.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    (weight, bias) = try WeightAndBias.load(dict, expected: parameterShapes)
    tapWeights = weight.permuted([2, 0, 1]).contiguous()
  }

  /// The output length for an input of length `length` (PyTorch's formula).
  public func outputLength(for length: Int) -> Int {
    (length + paddingLeft + paddingRight - dilation * (kernelSize - 1) - 1) / stride + 1
  }

  /// The convolution of `x`: `[B, C_in, L]` → `[B, C_out, L_out]` (or unbatched `[C_in, L]`
  /// → `[C_out, L_out]`).
  ///
  ///     try conv(lstmOutput.permuted([0, 2, 1]))   // reads the [B, H, T] view in place
  ///
  /// Reads `x` through its strides when its channel or length axis has unit stride (and the
  /// stride is 1 for the latter); otherwise gathers each tap's input into a scratch matrix.
  /// Allocates the result.
  /// - Throws: ``LayerError`` for a wrong rank, channel count, or an input too short for the
  ///   kernel.
  public func callAsFunction(_ x: Tensor<Scalar>) throws -> Tensor<Scalar> {
    let outLength = try outputLength(checking: x)
    let input = x.rank == 2 ? x.unsqueezed(axis: 0) : x
    let batch = input.shape[0]
    var y: Tensor<Scalar>
    if let bias {
      y = bias.unsqueezed(axis: -1).expanded(to: [batch, outChannels, outLength]).contiguous()
    } else {
      y = .zeros(shape: [batch, outChannels, outLength])
    }
    convolve(input, into: &y)
    return x.rank == 2 ? y.reshaped([outChannels, outLength]) : y
  }

  /// The output length for `x`, after the checks of the forward.
  func outputLength(checking x: Tensor<Scalar>) throws -> Int {
    guard x.rank == 3 || x.rank == 2 else {
      throw LayerError.rankMismatch(
        name: "input", expected: "[B, \(inChannels), L] or unbatched [\(inChannels), L]",
        actual: x.shape)
    }
    let (channels, length) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
    guard channels == inChannels else {
      var expected = x.shape
      expected[x.rank - 2] = inChannels
      throw LayerError.shapeMismatch(name: "input", expected: expected, actual: x.shape)
    }
    let outLength = outputLength(for: length)
    guard outLength >= 1 else {
      throw LayerError.unsupported(
        "Conv1d: input length \(length) is too short for kernel \(kernelSize) with dilation \(dilation) and padding (\(paddingLeft), \(paddingRight))"
      )
    }
    return outLength
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func convolve(_ input: Tensor<Scalar>, into y: inout Tensor<Scalar>) {
    let (batch, length) = (input.shape[0], input.shape[2])
    let (sb, sc, sl) = (input.strides[0], input.strides[1], input.strides[2])
    let (groupIn, groupOut) = (inChannels / groups, outChannels / groups)
    let outLength = y.shape[2]
    // Only for taps BLAS cannot read in place (e.g. stride > 1 over contiguous input).
    let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: groupIn * outLength)
    defer { scratch.deallocate() }
    y.withMutableBase { yBase in
      input.withBase { xBase in
        tapWeights.withBase { wBase in
          for k in 0..<kernelSize {
            guard let span = tapSpan(k, length: length, outLength: outLength) else { continue }
            for b in 0..<batch {
              for g in 0..<groups {
                let tap = tapInput(
                  xBase + b * sb + g * groupIn * sc, strides: (sc, sl), span: span,
                  scratch: scratch)
                let weights = StridedMatrix(
                  base: wBase + (k * outChannels + g * groupOut) * groupIn, rows: groupOut,
                  columns: groupIn, rowStride: groupIn, columnStride: 1)
                BLAS.gemm(
                  weights, tap,
                  into: yBase + (b * outChannels + g * groupOut) * outLength + span.first,
                  rowStride: outLength, beta: 1)
              }
            }
          }
        }
      }
    }
  }

  /// The output positions tap `k` contributes to: those `l` whose input position
  /// `l·stride + k·dilation − paddingLeft` is inside `0..<length`, as the first and the count,
  /// and the input shift `k·dilation − paddingLeft`; nil when there are none.
  func tapSpan(_ k: Int, length: Int, outLength: Int) -> (first: Int, columns: Int, shift: Int)? {
    let shift = k * dilation - paddingLeft
    let first = Swift.max(0, (-shift + stride - 1) / stride)
    let last = Swift.min(outLength - 1, (length - 1 - shift) / stride)
    if last < first || (length - 1 - shift) < 0 { return nil }
    return (first, last - first + 1, shift)
  }

  /// A group's input rows for one tap, `[groupIn, columns]`, as a BLAS operand: read in place
  /// through the strides (`channel`, `length`) from `base` (the group's first channel), or
  /// gathered into `scratch` when no unit stride exists (e.g. stride > 1 over contiguous input).
  func tapInput(
    _ base: UnsafePointer<Scalar>, strides: (channel: Int, length: Int),
    span: (first: Int, columns: Int, shift: Int), scratch: UnsafeMutablePointer<Scalar>
  ) -> StridedMatrix<Scalar> {
    let groupIn = inChannels / groups
    let tap = StridedMatrix(
      base: base + (span.first * stride + span.shift) * strides.length, rows: groupIn,
      columns: span.columns, rowStride: strides.channel, columnStride: strides.length * stride)
    guard tap.blasForm == nil else { return tap }
    Self.gather(tap, into: scratch)
    return StridedMatrix(
      base: scratch, rows: groupIn, columns: span.columns, rowStride: span.columns,
      columnStride: 1)
  }

  /// Copies the matrix's elements, row-major, to `destination` (the fallback for taps with no
  /// unit stride).
  static func gather(_ m: StridedMatrix<Scalar>, into destination: UnsafeMutablePointer<Scalar>) {
    for i in 0..<m.rows {
      for j in 0..<m.columns {
        destination[i * m.columns + j] = m.base[i * m.rowStride + j * m.columnStride]
      }
    }
  }
}
