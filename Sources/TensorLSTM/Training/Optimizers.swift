import Foundation

/// An optimizer: updates named parameters from their gradients, `torch.optim`'s rules.
///
///     var opt = Adam<Float>(learningRate: 1e-3)
///     var parameters = lstm.stateDict()
///     try opt.step(&parameters, gradients: g.parameters)
///     try lstm.loadStateDict(parameters)
///
/// A step validates everything first — every gradient names a parameter, every parameter has a
/// gradient of its shape, all finite — and throws ``TrainingError`` otherwise, leaving the
/// parameters and the optimizer's state as they were. Updated parameters are new tensors; the
/// ones passed in (and any model sharing their storage) are not written.
public protocol Optimizer<Scalar> {
  associatedtype Scalar: BLASScalar
  /// One update of every parameter.
  mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]) throws
}

/// Checks a step's arguments: names match both ways, shapes match, gradients are finite, and
/// the optimizer's per-parameter state (`state`, by name) has each parameter's shape.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func validateStep<Scalar: BLASScalar>(
  _ parameters: [String: Tensor<Scalar>], _ gradients: [String: Tensor<Scalar>],
  stateShapes: [String: [Int]], stateName: String
) throws {
  for name in gradients.keys.sorted() where parameters[name] == nil {
    throw TrainingError.unknownParameter(name)
  }
  for name in parameters.keys.sorted() {
    let shape = parameters[name]!.shape
    guard let gradient = gradients[name] else { throw TrainingError.missingGradient(name) }
    try TrainingError.check("gradient '\(name)'", gradient, is: shape)
    if let stateShape = stateShapes[name], stateShape != shape {
      throw TrainingError.shapeMismatch(
        name: "\(stateName) of parameter '\(name)' (the optimizer state is another model's?)",
        expected: shape, actual: stateShape)
    }
    if gradient.scalars.contains(where: { !$0.isFinite }) {
      throw TrainingError.nonFinite("gradient '\(name)'")
    }
  }
}

/// Stops with a message naming the argument unless `value` lies in `range` (NaN never does),
/// as `torch.optim` raises `ValueError("Invalid learning rate: …")`.
func requireArgument<Scalar: BLASScalar>(
  _ optimizer: String, _ name: String, _ value: Scalar, in range: String, _ holds: Bool
) {
  require(
    !value.isNaN && holds,
    "\(optimizer): invalid \(name) \(value); it must be \(range) (torch.optim rejects it too)")
}

/// `torch.optim.SGD`: with weight decay `g += λ·p`; with momentum `b = μ·b + (1 − τ)·g` (the
/// first step `b = g`), then `g = g + μ·b` (Nesterov) or `g = b`; `p -= lr·g`.
///
/// - Precondition: `learningRate`, `momentum` and `weightDecay` are finite and ≥ 0; Nesterov
///   needs a momentum and zero dampening. Checked at `init` and at every `step` (the
///   properties can change between steps).
public struct SGD<Scalar: BLASScalar>: Optimizer {
  /// `lr`.
  public var learningRate: Scalar
  /// `momentum` μ (0: none).
  public var momentum: Scalar
  /// `dampening` τ of the momentum buffer.
  public var dampening: Scalar
  /// `weight_decay` λ (L2, added to the gradient).
  public var weightDecay: Scalar
  /// Nesterov momentum.
  public var nesterov: Bool
  /// Momentum buffers by parameter name, with the shape of the parameter they were made for.
  private var buffers: [String: (shape: [Int], values: [Scalar])] = [:]

  /// PyTorch's arguments and defaults.
  public init(
    learningRate: Scalar, momentum: Scalar = 0, dampening: Scalar = 0, weightDecay: Scalar = 0,
    nesterov: Bool = false
  ) {
    (self.learningRate, self.momentum, self.dampening) = (learningRate, momentum, dampening)
    (self.weightDecay, self.nesterov) = (weightDecay, nesterov)
    checkArguments()
  }

  private func checkArguments() {
    requireArgument(
      "SGD", "learningRate", learningRate, in: "finite and ≥ 0",
      learningRate.isFinite && learningRate >= 0)
    requireArgument(
      "SGD", "momentum", momentum, in: "finite and ≥ 0", momentum.isFinite && momentum >= 0)
    requireArgument("SGD", "dampening", dampening, in: "finite", dampening.isFinite)
    requireArgument(
      "SGD", "weightDecay", weightDecay, in: "finite and ≥ 0",
      weightDecay.isFinite && weightDecay >= 0)
    require(
      !nesterov || (momentum > 0 && dampening == 0),
      "SGD: Nesterov momentum requires a momentum and zero dampening, as in PyTorch")
  }

  /// One update of every parameter; see ``Optimizer``. A momentum buffer made for a parameter
  /// of another shape throws ``TrainingError/shapeMismatch(name:expected:actual:)``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    checkArguments()
    try validateStep(
      parameters, gradients, stateShapes: buffers.mapValues(\.shape), stateName: "momentum buffer")
    for (name, parameter) in parameters {
      var p = parameter.scalars
      var g = gradients[name]!.scalars
      if weightDecay != 0 { for i in g.indices { g[i] += weightDecay * p[i] } }
      if momentum != 0 {
        var b = buffers[name]?.values ?? g
        if buffers[name] != nil {
          for i in b.indices { b[i] = momentum * b[i] + (1 - dampening) * g[i] }
        }
        buffers[name] = (parameter.shape, b)
        if nesterov { for i in g.indices { g[i] += momentum * b[i] } } else { g = b }
      }
      for i in p.indices { p[i] -= learningRate * g[i] }
      parameters[name] = Tensor(shape: parameter.shape, scalars: p)
    }
  }
}

/// `torch.optim.Adam` (and, with `decoupled`, AdamW): `m = lerp(m, g, 1 − β1)`,
/// `v = β2·v + (1 − β2)·g²`, `p -= lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)`.
struct AdamCore<Scalar: BLASScalar> {
  /// One parameter's moments, with the shape of the parameter they were made for.
  struct Moments {
    var shape: [Int]
    var m: [Scalar]
    var v: [Scalar]
  }

  var learningRate: Scalar
  var betas: (Scalar, Scalar)
  var epsilon: Scalar
  var weightDecay: Scalar
  /// AdamW: `p *= 1 − lr·λ` before the update, instead of `g += λ·p`.
  var decoupled: Bool
  var steps = 0
  var moments: [String: Moments] = [:]

  init(
    learningRate: Scalar, betas: (Scalar, Scalar), epsilon: Scalar, weightDecay: Scalar,
    decoupled: Bool
  ) {
    let name = decoupled ? "AdamW" : "Adam"
    requireArgument(
      name, "learningRate", learningRate, in: "finite and ≥ 0",
      learningRate.isFinite && learningRate >= 0)
    requireArgument(name, "betas.0", betas.0, in: "in [0, 1)", betas.0 >= 0 && betas.0 < 1)
    requireArgument(name, "betas.1", betas.1, in: "in [0, 1)", betas.1 >= 0 && betas.1 < 1)
    requireArgument(
      name, "epsilon", epsilon, in: "finite and ≥ 0", epsilon.isFinite && epsilon >= 0)
    requireArgument(
      name, "weightDecay", weightDecay, in: "finite and ≥ 0",
      weightDecay.isFinite && weightDecay >= 0)
    (self.learningRate, self.betas, self.epsilon) = (learningRate, betas, epsilon)
    (self.weightDecay, self.decoupled) = (weightDecay, decoupled)
  }

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    try validateStep(
      parameters, gradients, stateShapes: moments.mapValues(\.shape), stateName: "exp_avg")
    steps += 1
    let (beta1, beta2) = betas
    let correction1 = 1 - Scalar(Foundation.pow(Double(beta1), Double(steps)))
    let correction2Root = (1 - Scalar(Foundation.pow(Double(beta2), Double(steps)))).squareRoot()
    let stepSize = learningRate / correction1
    for (name, parameter) in parameters {
      let count = parameter.count
      // Moments updated in place: taken out of the dictionary so they stay uniquely owned.
      var state =
        moments.removeValue(forKey: name)
        ?? Moments(
          shape: parameter.shape, m: [Scalar](repeating: 0, count: count),
          v: [Scalar](repeating: 0, count: count))
      var updated = parameter.copied()
      let decay = weightDecay
      let (rate, decoupled) = (learningRate, self.decoupled)
      gradients[name]!.contiguous().withBase { g in
        updated.withMutableBase { p in
          state.m.withUnsafeMutableBufferPointer { m in
            state.v.withUnsafeMutableBufferPointer { v in
              for i in 0..<count {
                var gi = g[i]
                if decay != 0 {
                  if decoupled { p[i] *= 1 - rate * decay } else { gi += decay * p[i] }
                }
                m[i] += (1 - beta1) * (gi - m[i])
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                p[i] -= stepSize * m[i] / (v[i].squareRoot() / correction2Root + epsilon)
              }
            }
          }
        }
      }
      moments[name] = state
      parameters[name] = updated
    }
  }
}

extension AdamCore {
  /// The largest `step` a checkpoint may hold: every whole number up to it is exact in Double.
  static var maximumStep: Double { 9_007_199_254_740_992 }

  /// PyTorch's state names: `step`, `exp_avg.<name>`, `exp_avg_sq.<name>`, each moment shaped
  /// like its parameter.
  func stateDict() -> [String: Tensor<Scalar>] {
    var result: [String: Tensor<Scalar>] = ["step": Tensor(shape: [1], scalars: [Scalar(steps)])]
    for (name, moment) in moments {
      result["exp_avg." + name] = Tensor(shape: moment.shape, scalars: moment.m)
      result["exp_avg_sq." + name] = Tensor(shape: moment.shape, scalars: moment.v)
    }
    return result
  }

  /// Checks the whole dictionary, then replaces the state; nothing changes on error. Whether
  /// each moment fits its parameter is checked by the next ``step(_:gradients:)`` (before it
  /// changes anything): the parameters are not known here.
  mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    guard let stepTensor = dict["step"] else {
      throw TrainingError.invalidOptimizerState("no 'step' entry")
    }
    guard stepTensor.count == 1 else {
      throw TrainingError.invalidOptimizerState(
        "'step' must hold one number, got shape \(stepTensor.shape)")
    }
    let step = Double(stepTensor.scalars[0])
    guard step.isFinite, step >= 0, step <= Self.maximumStep, step.rounded() == step else {
      throw TrainingError.invalidOptimizerState(
        "'step' must be a whole number in 0...2^53, got \(step)")
    }
    var loaded: [String: Moments] = [:]
    for key in dict.keys.sorted() where key != "step" {
      let isAverage = key.hasPrefix("exp_avg.")
      guard isAverage || key.hasPrefix("exp_avg_sq.") else {
        throw TrainingError.invalidOptimizerState(
          "unexpected entry '\(key)' (expected step, exp_avg.<name>, exp_avg_sq.<name>)")
      }
      let name = String(key.dropFirst(isAverage ? "exp_avg.".count : "exp_avg_sq.".count))
      let partnerKey = (isAverage ? "exp_avg_sq." : "exp_avg.") + name
      guard let partner = dict[partnerKey] else {
        throw TrainingError.invalidOptimizerState("'\(key)' has no '\(partnerKey)'")
      }
      let tensor = dict[key]!
      try TrainingError.check(partnerKey, partner, is: tensor.shape)
      if !isAverage { continue }
      let (m, v) = (tensor.scalars, partner.scalars)
      if m.contains(where: { !$0.isFinite }) { throw TrainingError.nonFinite(key) }
      if v.contains(where: { !$0.isFinite || $0 < 0 }) {
        throw TrainingError.invalidOptimizerState(
          "'\(partnerKey)' must be finite and ≥ 0 (it is a mean of squares)")
      }
      loaded[name] = Moments(shape: tensor.shape, m: m, v: v)
    }
    (steps, moments) = (Int(step), loaded)
  }
}

/// `torch.optim.Adam`, L2 weight decay added to the gradient.
///
/// - Precondition: `learningRate`, `epsilon` and `weightDecay` finite and ≥ 0, both betas in
///   `[0, 1)`, as `torch.optim.Adam` requires.
public struct Adam<Scalar: BLASScalar>: Optimizer {
  private var core: AdamCore<Scalar>

  /// The moments and step count, for checkpoints: `step`, `exp_avg.<name>`,
  /// `exp_avg_sq.<name>`, each moment shaped like its parameter.
  public func stateDict() -> [String: Tensor<Scalar>] { core.stateDict() }

  /// Restores ``stateDict()``'s output; checks it whole first and changes nothing on error.
  ///
  /// - Throws: ``TrainingError/invalidOptimizerState(_:)`` for a `step` that is not a whole
  ///   number in `0...2^53`, an unknown entry, or a moment without its partner;
  ///   ``TrainingError/shapeMismatch(name:expected:actual:)`` for partners of different
  ///   shapes. A moment whose shape differs from its parameter's makes the next `step` throw.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try core.loadStateDict(dict)
  }

  /// PyTorch's arguments and defaults (`amsgrad` is not offered).
  public init(
    learningRate: Scalar = 1e-3, betas: (Scalar, Scalar) = (0.9, 0.999), epsilon: Scalar = 1e-8,
    weightDecay: Scalar = 0
  ) {
    core = AdamCore(
      learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay,
      decoupled: false)
  }

  /// Steps taken so far.
  public var steps: Int { core.steps }

  /// One update of every parameter; see ``Optimizer``. Moments made for a parameter of
  /// another shape throw ``TrainingError/shapeMismatch(name:expected:actual:)``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    try core.step(&parameters, gradients: gradients)
  }
}

/// `torch.optim.AdamW`: weight decay decoupled from the gradient (`p *= 1 − lr·λ`).
///
/// - Precondition: as ``Adam``.
public struct AdamW<Scalar: BLASScalar>: Optimizer {
  private var core: AdamCore<Scalar>

  /// The moments and step count, for checkpoints; see ``Adam/stateDict()``.
  public func stateDict() -> [String: Tensor<Scalar>] { core.stateDict() }

  /// Restores ``stateDict()``'s output; see ``Adam/loadStateDict(_:)``.
  public mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    try core.loadStateDict(dict)
  }

  /// PyTorch's arguments and defaults (weight decay 0.01).
  public init(
    learningRate: Scalar = 1e-3, betas: (Scalar, Scalar) = (0.9, 0.999), epsilon: Scalar = 1e-8,
    weightDecay: Scalar = 1e-2
  ) {
    core = AdamCore(
      learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay,
      decoupled: true)
  }

  /// Steps taken so far.
  public var steps: Int { core.steps }

  /// One update of every parameter; see ``Adam/step(_:gradients:)``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    try core.step(&parameters, gradients: gradients)
  }
}

/// Scales all gradients together so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_`: factor `maxNorm / (norm + 1e-6)` when below 1. Returns
/// the norm before clipping.
///
///     let norm = try clipGradientNorm(&g.parameters, maxNorm: 1)
///
/// - Throws: ``TrainingError/nonFinite(_:)`` naming the first parameter (by name) whose
///   gradient is not finite; nothing is scaled then.
/// - Precondition: `maxNorm` ≥ 0 and not NaN (`.infinity` never clips).
@discardableResult
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func clipGradientNorm<Scalar: BLASScalar>(
  _ gradients: inout [String: Tensor<Scalar>], maxNorm: Double
) throws -> Double {
  require(
    maxNorm >= 0,
    "clipGradientNorm: maxNorm must be ≥ 0 (and not NaN), got \(maxNorm); a negative bound would flip every gradient's sign"
  )
  var total = 0.0
  for name in gradients.keys.sorted() {
    let values = gradients[name]!.scalars
    if values.contains(where: { !$0.isFinite }) {
      throw TrainingError.nonFinite("gradient '\(name)'")
    }
    for v in values { total += Double(v) * Double(v) }
  }
  let norm = total.squareRoot()
  let factor = maxNorm / (norm + 1e-6)
  if factor < 1 {
    for (name, g) in gradients {
      gradients[name] = Tensor(shape: g.shape, scalars: g.scalars.map { $0 * Scalar(factor) })
    }
  }
  return norm
}
