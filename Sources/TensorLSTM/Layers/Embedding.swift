/// A lookup table of vectors, PyTorch's `nn.Embedding`: token ids `[*]` → `[*, E]`.
///
///     let embed = Embedding<Float>(numEmbeddings: 50, embeddingDim: 16, paddingIdx: 0)
///     let x = try embed(ids)   // ids [B, T] of whole numbers in 0..<50 → [B, T, 16]
///
/// Parameter: `weight` `[V, E]`, initialised N(0, 1) with the padding row zero, as PyTorch.
/// Ids come as a `Tensor` of whole numbers (exact in `Float` up to 2²⁴). The backward is a
/// scatter-add of the output gradient into the rows used (the padding row gets none); the ids
/// have no gradient (the input gradient is zeros). Cost: one row copy per id.
public struct Embedding<Scalar: BLASScalar>: Layer {
  /// Rows of the table, `V`.
  public let numEmbeddings: Int
  /// Width of each row, `E`.
  public let embeddingDim: Int
  /// The row that stays zero and gets no gradient (counted from 0; nil: none).
  public let paddingIdx: Int?
  /// `[V, E]`.
  public private(set) var weight: Tensor<Scalar>
  /// Training or evaluation mode; the lookup is the same in both.
  public var training = true

  /// A table with PyTorch's initialisation; a negative `paddingIdx` counts from the end.
  ///
  /// - Precondition: sizes are positive; `paddingIdx` in `-V..<V`.
  public init(numEmbeddings: Int, embeddingDim: Int, paddingIdx: Int? = nil, seed: UInt64 = 0) {
    require(
      numEmbeddings > 0 && embeddingDim > 0,
      "Embedding: numEmbeddings (\(numEmbeddings)) and embeddingDim (\(embeddingDim)) must be positive"
    )
    requireCountable(
      [[numEmbeddings, embeddingDim]], "Embedding(\(numEmbeddings), \(embeddingDim))")
    if let paddingIdx {
      require(
        (-numEmbeddings..<numEmbeddings).contains(paddingIdx),
        "Embedding: paddingIdx \(paddingIdx) must be in -\(numEmbeddings)..<\(numEmbeddings)")
    }
    self.numEmbeddings = numEmbeddings
    self.embeddingDim = embeddingDim
    self.paddingIdx = paddingIdx.map { $0 < 0 ? $0 + numEmbeddings : $0 }
    var table = Tensor<Scalar>.randomNormal(shape: [numEmbeddings, embeddingDim], seed: seed)
    if let row = self.paddingIdx {
      table[row] = Tensor(repeating: 0, shape: [embeddingDim])
    }
    weight = table
  }

  /// `weight`.
  public var parameterShapes: [(name: String, shape: [Int])] {
    [("weight", [numEmbeddings, embeddingDim])]
  }

  /// The table by PyTorch name; shares storage.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func stateDict() -> [String: Tensor<Scalar>] { ["weight": weight] }

  /// Replaces `weight`; validates first; copies.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try StateDictCheck.validate(dict, expected: parameterShapes)
    weight = dict["weight"]!.contiguous()
  }

  /// The ids of `input` as row numbers, checked.
  ///
  /// - Throws: ``LayerError/invalidValue(name:reason:)`` naming the first id that is not a
  ///   whole number in `0..<V`, with its position.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func ids(_ input: Tensor<Scalar>) throws -> [Int] {
    let values = input.scalars
    if let bad = values.firstIndex(where: {
      !($0 >= 0 && $0 < Scalar(numEmbeddings) && $0.rounded(.towardZero) == $0)
    }) {
      let position = TensorLayout.rowMajorIndex(of: bad, shape: input.shape)
      throw LayerError.invalidValue(
        name: "input",
        reason:
          "token id \(values[bad]) at \(position) is not a whole number in 0..<\(numEmbeddings) (numEmbeddings)"
      )
    }
    return values.map { Int($0) }
  }

  /// The rows of `weight` for every id: `[*]` → `[*, E]`.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar> {
    lookup(try ids(input), shape: input.shape)
  }

  /// The lookup, keeping the ids.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    let rows = try ids(input)
    return LayerTrace(
      input: input, output: lookup(rows, shape: input.shape), lengths: lengths, record: rows)
  }

  /// One row copy per id into a new `[shape…, E]` tensor (`weight` is contiguous: every load
  /// makes it so).
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  func lookup(_ rows: [Int], shape: [Int]) -> Tensor<Scalar> {
    let width = embeddingDim
    var output = Tensor<Scalar>.zeros(shape: shape + [width])
    weight.withBase { w in
      output.withMutableBase { out in
        for (position, row) in rows.enumerated() {
          (out + position * width).update(from: w + row * width, count: width)
        }
      }
    }
    return output
  }

  /// `dW[id] += dY[position]` for every position (not the padding row); the ids get zeros.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    let rows = try trace.record(as: [Int].self, layer: "Embedding")
    try TrainingError.check("outputGradient", outputGradient, is: trace.output.shape)
    var dW = Tensor<Scalar>.zeros(shape: [numEmbeddings, embeddingDim])
    let width = embeddingDim
    outputGradient.contiguous().withBase { g in
      dW.withMutableBase { w in
        for (position, row) in rows.enumerated() where row != paddingIdx {
          let (source, target) = (g + position * width, w + row * width)
          for j in 0..<width { target[j] += source[j] }
        }
      }
    }
    let dX: Tensor<Scalar> = inputGradient ? .zeros(shape: trace.input.shape) : .zeros(shape: [0])
    return LayerGradients(input: dX, parameters: ["weight": dW])
  }
}
