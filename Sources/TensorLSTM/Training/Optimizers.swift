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

/// Checks a step's arguments: names match both ways, shapes match, gradients are finite.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func validateStep<Scalar: BLASScalar>(
  _ parameters: [String: Tensor<Scalar>], _ gradients: [String: Tensor<Scalar>]
) throws {
  for name in gradients.keys.sorted() where parameters[name] == nil {
    throw TrainingError.unknownParameter(name)
  }
  for name in parameters.keys.sorted() {
    guard let gradient = gradients[name] else { throw TrainingError.missingGradient(name) }
    try TrainingError.check("gradient '\(name)'", gradient, is: parameters[name]!.shape)
    if gradient.scalars.contains(where: { !$0.isFinite }) {
      throw TrainingError.nonFinite("gradient '\(name)'")
    }
  }
}

/// `torch.optim.SGD`: with weight decay `g += λ·p`; with momentum `b = μ·b + (1 − τ)·g` (the
/// first step `b = g`), then `g = g + μ·b` (Nesterov) or `g = b`; `p -= lr·g`.
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
  /// Momentum buffers by parameter name.
  private var buffers: [String: [Scalar]] = [:]

  /// PyTorch's arguments and defaults.
  public init(
    learningRate: Scalar, momentum: Scalar = 0, dampening: Scalar = 0, weightDecay: Scalar = 0,
    nesterov: Bool = false
  ) {
    require(
      !nesterov || (momentum > 0 && dampening == 0),
      "SGD: Nesterov momentum requires a momentum and zero dampening, as in PyTorch")
    (self.learningRate, self.momentum, self.dampening) = (learningRate, momentum, dampening)
    (self.weightDecay, self.nesterov) = (weightDecay, nesterov)
  }

  /// One update of every parameter; see ``Optimizer``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    try validateStep(parameters, gradients)
    for (name, parameter) in parameters {
      var p = parameter.scalars
      var g = gradients[name]!.scalars
      if weightDecay != 0 { for i in g.indices { g[i] += weightDecay * p[i] } }
      if momentum != 0 {
        var b = buffers[name] ?? g
        if buffers[name] != nil {
          for i in b.indices { b[i] = momentum * b[i] + (1 - dampening) * g[i] }
        }
        buffers[name] = b
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
  var learningRate: Scalar
  var betas: (Scalar, Scalar)
  var epsilon: Scalar
  var weightDecay: Scalar
  /// AdamW: `p *= 1 − lr·λ` before the update, instead of `g += λ·p`.
  var decoupled: Bool
  var steps = 0
  var moments: [String: (m: [Scalar], v: [Scalar])] = [:]

  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    try validateStep(parameters, gradients)
    steps += 1
    let (beta1, beta2) = betas
    let correction1 = 1 - Scalar(Foundation.pow(Double(beta1), Double(steps)))
    let correction2Root = (1 - Scalar(Foundation.pow(Double(beta2), Double(steps)))).squareRoot()
    let stepSize = learningRate / correction1
    for (name, parameter) in parameters {
      let count = parameter.count
      // Moments updated in place: taken out of the dictionary so they stay uniquely owned.
      var (m, v) =
        moments.removeValue(forKey: name)
        ?? ([Scalar](repeating: 0, count: count), [Scalar](repeating: 0, count: count))
      var updated = parameter.copied()
      let decay = weightDecay
      let (rate, decoupled) = (learningRate, self.decoupled)
      gradients[name]!.contiguous().withBase { g in
        updated.withMutableBase { p in
          m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
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
      moments[name] = (m, v)
      parameters[name] = updated
    }
  }
}

extension AdamCore {
  /// PyTorch's state names: `step`, `exp_avg.<name>`, `exp_avg_sq.<name>`.
  func stateDict(shapes: [String: [Int]]) -> [String: Tensor<Scalar>] {
    var result: [String: Tensor<Scalar>] = ["step": Tensor(shape: [1], scalars: [Scalar(steps)])]
    for (name, moment) in moments {
      let shape = shapes[name] ?? [moment.m.count]
      result["exp_avg." + name] = Tensor(shape: shape, scalars: moment.m)
      result["exp_avg_sq." + name] = Tensor(shape: shape, scalars: moment.v)
    }
    return result
  }

  mutating func loadStateDict(_ dict: [String: Tensor<Scalar>]) throws {
    guard let step = dict["step"], step.count == 1 else {
      throw TrainingError.missingGradient("step (optimizer state)")
    }
    var loaded: [String: (m: [Scalar], v: [Scalar])] = [:]
    for (key, tensor) in dict where key.hasPrefix("exp_avg.") {
      let name = String(key.dropFirst("exp_avg.".count))
      guard let v = dict["exp_avg_sq." + name] else {
        throw TrainingError.missingGradient("exp_avg_sq.\(name) (optimizer state)")
      }
      try TrainingError.check("exp_avg_sq.\(name)", v, is: tensor.shape)
      loaded[name] = (tensor.scalars, v.scalars)
    }
    (steps, moments) = (Int(step.scalars[0]), loaded)
  }
}

/// `torch.optim.Adam`, L2 weight decay added to the gradient.
public struct Adam<Scalar: BLASScalar>: Optimizer {
  private var core: AdamCore<Scalar>

  /// The moments and step count, for checkpoints: `step`, `exp_avg.<name>`,
  /// `exp_avg_sq.<name>`, shaped like the parameters in `shapes`.
  public func stateDict(shapes: [String: [Int]] = [:]) -> [String: Tensor<Scalar>] {
    core.stateDict(shapes: shapes)
  }

  /// Restores ``stateDict(shapes:)``'s output; checks it first, changes nothing on error.
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

  /// One update of every parameter; see ``Optimizer``.
  @_specialize(where Scalar == Float)
  @_specialize(where Scalar == Double)
  public mutating func step(
    _ parameters: inout [String: Tensor<Scalar>], gradients: [String: Tensor<Scalar>]
  ) throws {
    try core.step(&parameters, gradients: gradients)
  }
}

/// `torch.optim.AdamW`: weight decay decoupled from the gradient (`p *= 1 − lr·λ`).
public struct AdamW<Scalar: BLASScalar>: Optimizer {
  private var core: AdamCore<Scalar>

  /// The moments and step count, for checkpoints: `step`, `exp_avg.<name>`,
  /// `exp_avg_sq.<name>`, shaped like the parameters in `shapes`.
  public func stateDict(shapes: [String: [Int]] = [:]) -> [String: Tensor<Scalar>] {
    core.stateDict(shapes: shapes)
  }

  /// Restores ``stateDict(shapes:)``'s output; checks it first, changes nothing on error.
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

  /// One update of every parameter; see ``Optimizer``.
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
@discardableResult
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func clipGradientNorm<Scalar: BLASScalar>(
  _ gradients: inout [String: Tensor<Scalar>], maxNorm: Double
) throws -> Double {
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
