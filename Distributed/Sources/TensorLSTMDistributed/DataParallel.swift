import Foundation
import TensorLSTM

/// Data-parallel training over MPI: every rank holds the whole model, computes the gradients of
/// its contiguous share of each global batch, and the gradients are averaged over the global
/// batch with an allreduce, so every rank takes the same optimizer step — PyTorch's
/// `DistributedDataParallel`, in explicit calls.
///
///     let dp = DataParallel.start()           // MPI under mpirun; one process otherwise
///     try dp.agree(on: "hidden 256 seed 5")   // every rank runs the same model and options
///     try dp.broadcastParameters(of: &model)  // rank 0's weights on every rank
///     for step in 1...steps {
///       let rows = dp.share(of: batch)        // this rank's rows of the global batch
///       // forward, loss (mean over this rank's n counted targets), backward → g
///       let global = try dp.average(&g, loss: loss, count: n, order: model)
///       try clipGradientNorm(&g, maxNorm: 1)  // on the global gradients: same on every rank
///       try optimizer.step(&parameters, gradients: g)
///     }
///     dp.finish()
///
/// What each rank must do the same way: build the model with the same sizes (``agree(on:)``
/// checks a description), draw the global batch from the same seed and take ``share(of:)`` of
/// it. Rank 0 alone writes checkpoints and prints.
///
/// Cost per step: one allreduce of two doubles (loss and count), where ranks wait for the
/// slowest (``waitingSeconds``), and one of every gradient, in buckets of ``bucketElements``
/// floats in reverse layer order (``communicationSeconds``).
public final class DataParallel {
  /// This process's rank, 0 ..< ``size``.
  public let rank: Int
  /// The number of ranks (1 when not launched by `mpirun`).
  public let size: Int
  /// True when a launcher started this process and MPI was initialised.
  public let usesMPI: Bool
  /// Seconds spent sending since ``start()``: the gradients' allreduce (with copying them in
  /// and out of the buckets), broadcasts and sums.
  public private(set) var communicationSeconds = 0.0
  /// Seconds spent in ``average(_:loss:count:order:)`` waiting for the slowest rank to finish
  /// its backward (the first, two-double allreduce of each step, which every rank enters when
  /// its gradients are ready).
  public private(set) var waitingSeconds = 0.0
  /// Floats per allreduce bucket: 1 Mi floats, 4 MB.
  public static let bucketElements = 1 << 20

  private var flat: [Float] = []
  private var agreedLayout: [String]? = nil

  private init(rank: Int, size: Int, usesMPI: Bool) {
    (self.rank, self.size, self.usesMPI) = (rank, size, usesMPI)
  }

  /// Joins the run: initialises MPI when `mpirun` (or another MPI launcher) started this
  /// process, and otherwise runs alone as rank 0 of 1 without touching MPI. Call once.
  public static func start() -> DataParallel {
    guard MPIWorld.isLaunched else { return DataParallel(rank: 0, size: 1, usesMPI: false) }
    let (rank, size) = MPIWorld.initialize()
    return DataParallel(rank: rank, size: size, usesMPI: true)
  }

  /// True on rank 0, the rank that writes checkpoints and prints.
  public var isMain: Bool { rank == 0 }

  /// Leaves the run (`MPI_Finalize`); call on every rank before exiting normally.
  public func finish() {
    if usesMPI { MPIWorld.finalize() }
  }

  /// Ends every rank of the run with `status` after printing `message` (with this rank's
  /// number) on standard error: for a failure on one rank, which would otherwise leave the
  /// others waiting in an allreduce.
  public func abort(_ message: String, status: Int32 = 2) -> Never {
    let prefix = size > 1 ? "rank \(rank): " : ""
    FileHandle.standardError.write(Data((prefix + message + "\n").utf8))
    if usesMPI && size > 1 { MPIWorld.abort(status: status) }
    exit(status)
  }

  /// This rank's contiguous share of `count` items: rank r takes
  /// `r·count/size ..< (r+1)·count/size`, so the shares cover `0..<count` in rank order
  /// without overlap and differ in size by at most one.
  ///
  ///     DataParallel.start().share(of: 32)   // 0..<16 on rank 0 of 2, 16..<32 on rank 1
  public func share(of count: Int) -> Range<Int> {
    precondition(count >= 0, "DataParallel.share(of:): count must be ≥ 0, got \(count)")
    return (rank * count / size)..<((rank + 1) * count / size)
  }

  /// Checks that every rank passes the same `description` (the model's sizes, the seed, the
  /// options that must match); one allgather.
  ///
  /// - Throws: ``DataParallelError/ranksDisagree(_:)`` on every rank, listing each distinct
  ///   description with the ranks that gave it.
  public func agree(on description: String) throws(DataParallelError) {
    guard size > 1 else { return }
    let all = MPIWorld.gather(Array(description.utf8), ranks: size).map {
      String(decoding: $0, as: UTF8.self)
    }
    guard Set(all).count > 1 else { return }
    // Name only the words that differ (with the word before each, its label) when the
    // descriptions have the same shape: "seed 5" vs "seed 6".
    let words = all.map { $0.split(separator: " ").map(String.init) }
    var shown = all
    if Set(words.map(\.count)).count == 1 {
      let differing = words[0].indices.filter { i in Set(words.map { $0[i] }).count > 1 }
      shown = words.map { w in
        differing.map { i in (i > 0 ? w[i - 1] + " " : "") + w[i] }.joined(separator: ", ")
      }
    }
    var groups: [(description: String, ranks: [Int])] = []
    for (r, text) in shown.enumerated() {
      if let i = groups.firstIndex(where: { $0.description == text }) {
        groups[i].ranks.append(r)
      } else {
        groups.append((text, [r]))
      }
    }
    throw .ranksDisagree(groups.map { "rank(s) \($0.ranks): \($0.description)" })
  }

  /// Rank 0's tensors on every rank (sent as one safetensors blob); other ranks' `dict` is
  /// replaced whatever it held.
  public func broadcast<Scalar: BLASScalar>(_ dict: inout [String: Tensor<Scalar>]) throws {
    guard size > 1 else { return }
    var bytes = isMain ? try SafeTensors.encode(dict) : []
    let started = Date()
    MPIWorld.broadcast(&bytes, root: 0)
    communicationSeconds += Date().timeIntervalSince(started)
    if !isMain { dict = try SafeTensors.decode(bytes) }
  }

  /// Loads rank 0's parameters into `model` on every rank, so every rank starts equal
  /// whatever its seed.
  public func broadcastParameters<Model: StateDictLayer>(of model: inout Model) throws {
    var parameters = model.stateDict()
    try broadcast(&parameters)
    if !isMain { try model.loadStateDict(parameters) }
  }

  /// Replaces each rank's gradients by the mean over the global batch and returns the global
  /// mean loss and count.
  ///
  /// Each rank passes the gradients of its mean loss over `count` counted items (targets that
  /// are not ignored); the result is `Σ_r count_r · g_r / Σ_r count_r`, the gradient of the
  /// mean loss over every rank's items — what one process computes on the whole batch. A rank
  /// whose share counts nothing passes zero gradients and `count` 0.
  ///
  /// - Parameter order: the model whose `parameterShapes` order the buckets: the gradients are
  ///   sent last layer first, in buckets of ``bucketElements`` floats.
  /// - Throws: ``DataParallelError/layoutMismatch(_:)`` when the ranks' gradients differ in
  ///   names or sizes, ``DataParallelError/nothingCounted`` when no rank counted an item.
  /// - Precondition: `gradients` holds a tensor for every parameter of `order`.
  public func average<Model: StateDictLayer<Float>>(
    _ gradients: inout [String: Tensor<Float>], loss: Double, count: Int, order model: Model
  ) throws(DataParallelError) -> (loss: Double, count: Int) {
    let names = Array(model.parameterShapes.map(\.name).reversed())
    let sizes = names.map { name -> Int in
      guard let g = gradients[name] else {
        preconditionFailure(
          "DataParallel.average: no gradient for '\(name)'; pass the gradients of every parameter of the model"
        )
      }
      return g.count
    }
    let layout = zip(names, sizes).map { "\($0) \($1)" }
    if agreedLayout != layout {
      do {
        try agree(on: layout.joined(separator: ", "))
      } catch {
        throw .layoutMismatch(error.description)
      }
      agreedLayout = layout
    }
    var started = Date()
    var totals = [loss * Double(count), Double(count)]
    if size > 1 { MPIWorld.sum(&totals) }
    waitingSeconds += Date().timeIntervalSince(started)
    started = Date()
    defer { communicationSeconds += Date().timeIntervalSince(started) }
    guard totals[1] > 0 else { throw .nothingCounted }
    let global = (loss: totals[0] / totals[1], count: Int(totals[1]))
    guard size > 1 else { return global }
    let scale = Float(Double(count) / totals[1])
    let total = sizes.reduce(0, +)
    if flat.count != total { flat = [Float](repeating: 0, count: total) }
    flat.withUnsafeMutableBufferPointer { buffer in
      // Fill and send bucket by bucket, last layer first.
      var offset = 0
      var sent = 0
      for (name, n) in zip(names, sizes) {
        gradients[name]!.withUnsafeBufferPointer { values in
          for i in 0..<n { buffer[offset + i] = values[i] * scale }
        }
        offset += n
        while offset - sent >= Self.bucketElements {
          MPIWorld.sum(buffer.baseAddress! + sent, count: Self.bucketElements)
          sent += Self.bucketElements
        }
      }
      if offset > sent { MPIWorld.sum(buffer.baseAddress! + sent, count: offset - sent) }
      offset = 0
      for (name, n) in zip(names, sizes) {
        // Taken out of the dictionary so that the tensor is uniquely referenced (no copy).
        var gradient = gradients.removeValue(forKey: name)!
        gradient.withUnsafeMutableBufferPointer { values in
          values.baseAddress!.update(from: buffer.baseAddress! + offset, count: n)
        }
        gradients[name] = gradient
        offset += n
      }
    }
    return global
  }

  /// Sums doubles over all ranks (counts, loss totals, timings); returns them unchanged on
  /// one rank.
  public func sum(_ values: [Double]) -> [Double] {
    guard size > 1 else { return values }
    var result = values
    let started = Date()
    MPIWorld.sum(&result)
    communicationSeconds += Date().timeIntervalSince(started)
    return result
  }
}

/// A disagreement between the ranks of a data-parallel run.
public enum DataParallelError: Error, CustomStringConvertible, Equatable {
  /// The ranks passed different descriptions to ``DataParallel/agree(on:)``: each entry lists
  /// the ranks that gave one description.
  case ranksDisagree([String])
  /// The ranks' gradients differ in names or sizes (models built differently).
  case layoutMismatch(String)
  /// No rank counted an item in this batch (every target ignored).
  case nothingCounted

  /// A message naming what differs.
  public var description: String {
    switch self {
    case .ranksDisagree(let groups):
      return "the ranks were started differently: " + groups.joined(separator: "; ")
    case .layoutMismatch(let detail):
      return "the ranks' models differ in their parameters: \(detail)"
    case .nothingCounted:
      return "no rank counted a target in this batch (every target is the ignored index)"
    }
  }
}
