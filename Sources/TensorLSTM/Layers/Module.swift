/// The one layer protocol: every layer — LSTM, GRU, RNN, Linear, Conv1d, Embedding, Dropout,
/// LayerNorm, the activations, the shape layers, ``Sequential`` itself — and a user's own struct
/// can be run, traced, differentiated, saved and loaded through it (PyTorch's `nn.Module`).
///
///     var model = Sequential<Float> {
///       Embedding<Float>(numEmbeddings: 50, embeddingDim: 16)
///       LSTM<Float>(inputSize: 16, hiddenSize: 32, batchFirst: true)
///       LastStep<Float>()
///       Linear<Float>(inFeatures: 32, outFeatures: 4)
///     }
///     let trace = try model.forwardWithTrace(ids, lengths: lengths)
///     let grads = try model.backward(trace, outputGradient: dLogits)
///
/// A layer is a value; `training` (PyTorch's `train()`/`eval()`, default `true`) changes only
/// what ``Dropout`` and the recurrent layers' `dropout` do. `lengths` (each sequence's valid
/// steps, batch order) flows to every layer; those without a time axis ignore it.
public protocol Layer<Scalar>: StateDictLayer, Sendable {
  /// Training mode (`true`, PyTorch's default) or evaluation mode.
  var training: Bool { get set }

  /// The inference forward; keeps no trace.
  func forward(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> Tensor<Scalar>

  /// The forward, keeping what ``backward(_:outputGradient:inputGradient:)`` needs.
  func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<Scalar>

  /// The gradients of a loss with gradient `outputGradient` on the traced output: with respect
  /// to the input (empty when `inputGradient` is false) and to every parameter, keyed as
  /// `stateDict()`.
  func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar>
}

/// What a traced forward of a ``Layer`` keeps: its input, its output, the `lengths` it was
/// given and the layer's own record (a recurrent trace, a dropout mask, …).
public struct LayerTrace<Scalar: BLASScalar>: Sendable {
  /// The layer's input.
  public let input: Tensor<Scalar>
  /// The layer's output (for a model: the logits).
  public let output: Tensor<Scalar>
  /// The `lengths` of the call.
  public let lengths: [Int]?
  /// The layer's own record for its backward.
  let record: any Sendable

  init(input: Tensor<Scalar>, output: Tensor<Scalar>, lengths: [Int]?, record: any Sendable = ()) {
    (self.input, self.output, self.lengths, self.record) = (input, output, lengths, record)
  }

  /// The record as the layer's type, or a stale-trace error naming the layer.
  func record<R>(as _: R.Type, layer: String) throws -> R {
    guard let record = record as? R else {
      throw TrainingError.staleTrace("the \(layer) got the trace of another layer")
    }
    return record
  }
}

extension Layer {
  /// The inference forward (`model(x)`, `model(ids, lengths: lengths)`). Disfavoured: a
  /// layer's own richer call (`lstm(x, lengths:)` → `LSTMOutput`) wins where both fit.
  @_disfavoredOverload
  public func callAsFunction(_ input: Tensor<Scalar>, lengths: [Int]? = nil) throws -> Tensor<
    Scalar
  > {
    try forward(input, lengths: lengths)
  }

  /// The traced forward without lengths.
  @_disfavoredOverload
  public func forwardWithTrace(_ input: Tensor<Scalar>) throws -> LayerTrace<Scalar> {
    try forwardWithTrace(input, lengths: nil)
  }

  /// The backward with the input gradient.
  public func backward(_ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>) throws
    -> LayerGradients<Scalar>
  {
    try backward(trace, outputGradient: outputGradient, inputGradient: true)
  }

  /// This layer as a child of a ``Sequential`` named `name` (a custom module's attribute name:
  /// `"lstm"` makes its keys `"lstm.weight_ih_l0"`).
  public func named(_ name: String) -> NamedLayer<Scalar> { NamedLayer(name: name, layer: self) }
}

/// A layer with the name its parameters are keyed under in a ``Sequential``.
public struct NamedLayer<Scalar: BLASScalar>: Sendable {
  /// The key prefix without its dot; nil: the child's position (`"0"`, `"1"`, …).
  public var name: String?
  /// The layer.
  public var layer: any Layer<Scalar>
}

/// A layer without parameters: empty state dict, shapes and loads (a non-empty dict throws).
public protocol ParameterFreeLayer<Scalar>: Layer {}

extension ParameterFreeLayer {
  /// No parameters.
  public var parameterShapes: [(name: String, shape: [Int])] { [] }
  /// No parameters.
  public func stateDict() -> [String: Tensor<Scalar>] { [:] }
  /// Accepts only an empty dict.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try StateDictCheck.validate(dict, expected: [])
  }
}

/// A parameter-free layer whose backward is a function of its trace and the output gradient
/// alone (activations, shape layers): written once here.
protocol ElementwiseLayer<Scalar>: ParameterFreeLayer {
  /// dL/dx from the trace and dL/dy.
  func inputGradient(_ trace: LayerTrace<Scalar>, _ outputGradient: Tensor<Scalar>) throws
    -> Tensor<Scalar>
}

extension ElementwiseLayer {
  /// The traced forward; see ``Layer``.
  public func forwardWithTrace(_ input: Tensor<Scalar>, lengths: [Int]?) throws -> LayerTrace<
    Scalar
  > {
    LayerTrace(input: input, output: try forward(input, lengths: lengths), lengths: lengths)
  }

  /// The backward; see ``Layer``.
  public func backward(
    _ trace: LayerTrace<Scalar>, outputGradient: Tensor<Scalar>, inputGradient: Bool
  ) throws -> LayerGradients<Scalar> {
    try TrainingError.check("outputGradient", outputGradient, is: trace.output.shape)
    let dX = inputGradient ? try self.inputGradient(trace, outputGradient) : .zeros(shape: [0])
    return LayerGradients(input: dX, parameters: [:])
  }
}
