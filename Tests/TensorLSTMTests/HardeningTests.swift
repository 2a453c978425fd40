import Dispatch
import Foundation
import TensorLSTM
import Testing

/// Issue 10's reproducers, each a test that failed (or trapped) before the fix.
@Suite("Hardening")
struct HardeningTests {
  // MARK: Any strided input into the LSTM

  /// The input layouts a `Tensor` can have for `[B, T, I]` (or `[T, B, I]`) data: every one
  /// must give the result of its contiguous copy.
  static let layouts = [
    "reversed time", "reversed batch and time", "broadcast batch", "broadcast features",
    "stepped time", "permuted features-last", "plain",
  ]

  /// Builds the variant `name` of a `[B, T, I]` (batch-first) input from random data.
  static func variant(_ name: String, batch: Int, steps: Int, features: Int, seed: UInt64)
    -> Tensor<Float>
  {
    var random = TestRandom(seed: seed)
    switch name {
    case "reversed time":
      return random.tensor([batch, steps, features]).sliced(
        axis: 1, range: 0..<steps, step: -1)
    case "reversed batch and time":
      return random.tensor([batch, steps, features]).sliced(axis: 0, range: 0..<batch, step: -1)
        .sliced(axis: 1, range: 0..<steps, step: -1)
    case "broadcast batch":
      return random.tensor([1, steps, features]).expanded(to: [batch, steps, features])
    case "broadcast features":
      return random.tensor([features]).expanded(to: [batch, steps, features])
    case "stepped time":
      return random.tensor([batch, 2 * steps + 1, features]).sliced(
        axis: 1, range: 1..<(2 * steps + 1), step: -2)
    case "permuted features-last":
      return random.tensor([features, steps, batch]).permuted([2, 1, 0])
    default:
      return random.tensor([batch, steps, features])
    }
  }

  @Test(
    "strided inputs match their contiguous copy on every path",
    arguments: layouts, ["fused", "portable", "batch split", "hidden split", "unbatched"])
  func stridedInput(layout: String, path: String) throws {
    let batch = path == "hidden split" || path == "unbatched" ? 1 : (path == "batch split" ? 9 : 3)
    let hidden = path == "hidden split" ? 128 : 12
    for batchFirst in [true, false] {
      var model = LSTM<Float>(
        inputSize: 5, hiddenSize: hidden, numLayers: 2, batchFirst: batchFirst, seed: 4)
      model.kernels = path == "portable" ? .portable : .automatic
      model.threads = path.hasSuffix("split") ? 2 : 1
      // Small shapes do not pay for a second worker; force the split under test.
      model.threadSplit =
        path == "hidden split" ? .hiddenUnits : (path == "batch split" ? .batchSlices : nil)
      // 16 steps: the hidden split needs at least ForwardPlan.hiddenSplitMinimumSteps.
      var x = Self.variant(layout, batch: batch, steps: 16, features: 5, seed: 9)
      if !batchFirst { x = x.permuted([1, 0, 2]) }
      if path == "unbatched" { x = x.squeezed(axis: batchFirst ? 0 : 1) }
      let expected = try model(x.contiguous())
      let actual = try model(x)
      let context = "\(layout), \(path), batchFirst \(batchFirst)"
      expectClose(actual.output, expected.output, absolute: 1e-6, relative: 1e-6, context)
      expectClose(actual.hidden, expected.hidden, absolute: 1e-6, relative: 1e-6, context)
      if path.hasSuffix("split") {
        let kind: ForwardPlan.Split = path == "hidden split" ? .hiddenUnits : .batchSlices
        #expect(try model.plan(for: x).split == kind, "\(context)")
      }
    }
  }

  @Test("the issue's two reproducers run")
  func reproducers() throws {
    let lstm = LSTM<Float>(inputSize: 4, hiddenSize: 8, batchFirst: true)
    let x = Tensor<Float>.randomNormal(shape: [1, 6, 4], seed: 2)
    let reversed = x.sliced(axis: 1, range: 0..<6, step: -1)
    expectClose(try lstm(reversed).output, try lstm(reversed.contiguous()).output)
    let timeMajor = LSTM<Float>(inputSize: 4, hiddenSize: 8)
    let broadcast = Tensor<Float>.randomNormal(shape: [4], seed: 2).expanded(to: [6, 3, 4])
    expectClose(try timeMajor(broadcast).output, try timeMajor(broadcast.contiguous()).output)
  }

  // MARK: Negative slice steps

  @Test("a negative step walks the range from its last element backwards")
  func negativeStep() {
    let x = Tensor<Double>(shape: [6], scalars: (0..<6).map(Double.init))
    for (range, step) in [(1..<5, -2), (0..<6, -4), (2..<3, -5), (0..<5, -3), (1..<1, -2)] {
      let expected = stride(from: range.upperBound - 1, through: range.lowerBound, by: step)
        .map(Double.init)
      #expect(
        x.sliced(axis: 0, range: range, step: step).scalars == expected, "\(range) by \(step)")
    }
    #expect(x.sliced(axis: 0, range: 1..<5, step: -2).scalars == [4, 2], "the issue's example")
  }

  // MARK: Crafted files

  static let hugeShape = "[0,4294967296,4294967296]"

  @Test("a zero dimension does not hide the overflow of the others (safetensors)")
  func safeTensorsZeroHidesOverflow() {
    for shape in [Self.hugeShape, "[4294967296,0,4294967296]", "[4294967296,4294967296,0]"] {
      let bytes = SafeTensorsTests.file(
        header: #"{"a":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,0]}}"#, data: [])
      #expect(throws: SafeTensorsError.self, "\(shape)") {
        let _: [String: Tensor<Float>] = try SafeTensors.decode(bytes)
      }
    }
  }

  @Test("a zero dimension does not hide the overflow of the others (.npy, C and Fortran)")
  func numPyZeroHidesOverflow() {
    for fortran in ["False", "True"] {
      let header =
        "{'descr': '<f4', 'fortran_order': \(fortran), 'shape': (0, 4294967296, 4294967296), }\n"
      let bytes: [UInt8] =
        [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
      #expect(throws: NumPyError.self, "fortran \(fortran)") {
        let _: Tensor<Float> = try NumPy.decode(bytes)
      }
    }
  }

  @Test("an empty tensor between two overlapping ones does not hide the overlap")
  func overlapBehindEmptyTensor() {
    let header =
      #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    #expect(throws: SafeTensorsError.overlapping("a", "b")) {
      let _: [String: Tensor<Float>] = try SafeTensors.decode(
        SafeTensorsTests.file(header: header))
    }
  }

  @Test("NumPy.encode switches to format version 2 for headers over 65,535 bytes")
  func numPyVersion2() throws {
    let shape = [3] + Array(repeating: 1, count: 22_000) + [2]
    let tensor = Tensor<Float>.randomNormal(shape: shape, seed: 1)
    let bytes = NumPy.encode(tensor)
    #expect(bytes[6] == 2 && bytes[7] == 0, "version \(bytes[6]).\(bytes[7])")
    #expect((bytes.count - tensor.count * 4) % 64 == 0, "data starts on a 64-byte boundary")
    let back: Tensor<Float> = try NumPy.decode(bytes)
    #expect(back.shape == shape && back.scalars == tensor.scalars)
    let small = NumPy.encode(Tensor<Float>.zeros(shape: [2, 3]))
    #expect(small[6] == 1, "small headers stay version 1")
  }

  @Test("non-regular files are refused, not read until memory runs out")
  func nonRegularFiles() throws {
    #expect(throws: FileError.self) {
      let _: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: "/dev/zero")
    }
    #expect(throws: FileError.self) { let _: Tensor<Float> = try NumPy.read(contentsOf: "/tmp") }
  }

  @Test("a sparse file larger than memory throws instead of reserving its size")
  func sparseHugeFile() throws {
    let path = NSTemporaryDirectory() + "tensorlstm-sparse-\(getpid()).safetensors"
    defer { unlink(path) }
    let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
    try #require(fd >= 0)
    let resized = ftruncate(fd, 1 << 40)
    close(fd)
    try #require(resized == 0, "this file system cannot hold a 1 TiB sparse file")
    #expect(throws: FileError.self) {
      let _: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: path)
    }
  }

  // MARK: Atomic writes under concurrency

  @Test("three threads writing one path: every read sees a whole file, no writer errs")
  func concurrentWriters() throws {
    let path = NSTemporaryDirectory() + "tensorlstm-race-\(getpid()).safetensors"
    defer { unlink(path) }
    let versions: [[String: Tensor<Float>]] = (0..<3).map { i in
      ["w": Tensor<Float>(repeating: Float(i + 1), shape: [64, 64])]
    }
    try SafeTensors.write(versions[0], to: path)
    let failures = Failures()
    DispatchQueue.concurrentPerform(iterations: 4) { worker in
      for _ in 0..<25 {
        do {
          if worker < 3 {
            try SafeTensors.write(versions[worker], to: path)
          } else {
            let read: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: path)
            let values = Set(read["w"]?.scalars ?? [])
            if values.count != 1 || read["w"]?.count != 64 * 64 {
              failures.add("a torn or mixed file: values \(values.sorted())")
            }
          }
        } catch {
          failures.add("\(error)")
        }
      }
    }
    #expect(failures.messages.isEmpty, "\(failures.messages.prefix(3))")
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
      .filter { $0.hasPrefix("tensorlstm-race-\(getpid()).safetensors.tmp") }
    #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
  }

  // MARK: Converters

  @Test("ONNX attributes and shapes outside the spec throw LayerError")
  func onnxValidation() {
    let (w, r) = (
      Tensor<Float>.zeros(shape: [1, 16, 3]), Tensor<Float>.zeros(shape: [1, 16, 4])
    )
    for layout in [2, -1, 7] {
      #expect(throws: LayerError.self, "layout \(layout)") {
        try LSTM(onnx: ONNXLSTMNode(w: w, r: r, layout: layout))
      }
    }
    #expect(throws: LayerError.self, "W with no inputs") {
      try LSTM(onnx: ONNXLSTMNode(w: Tensor<Float>.zeros(shape: [1, 16, 0]), r: r))
    }
    for activations in [["Sigmoid", "Tanh"], ["Sigmoid", "Tanh", "Tanh", "Sigmoid"]] {
      #expect(throws: LayerError.self, "\(activations)") {
        try LSTM(onnx: ONNXLSTMNode(w: w, r: r, activations: activations))
      }
    }
    #expect(throws: LayerError.self, "input_forget 2") {
      try LSTM(onnx: ONNXLSTMNode(w: w, r: r, inputForget: 2))
    }
  }

  @Test("Keras weights outside the layer's shapes throw LayerError")
  func kerasValidation() {
    let weights = KerasLSTMWeights(
      kernel: Tensor<Float>.zeros(shape: [3, 16]), recurrentKernel: .zeros(shape: [4, 16]),
      bias: nil)
    #expect(throws: LayerError.self, "empty kernel") {
      try LSTM(
        keras: KerasLSTMWeights(
          kernel: Tensor<Float>.zeros(shape: [0, 16]), recurrentKernel: .zeros(shape: [4, 16]),
          bias: nil))
    }
    var backward = weights
    backward.bias = .zeros(shape: [16])
    #expect(throws: LayerError.self, "backward bias without a forward one") {
      try LSTM(keras: weights, backward: backward)
    }
  }
}

/// Messages collected from worker threads.
final class Failures: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [String] = []
  func add(_ message: String) { lock.withLock { stored.append(message) } }
  var messages: [String] { lock.withLock { stored } }
}
