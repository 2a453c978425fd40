import Foundation
import TensorLSTM
import Testing

/// Whole ONNX files against onnxruntime (fixtures by tools/make_onnx_fixtures.py): Silero VAD's
/// four float models from the pinned wheel (tools/ensure-silero.sh, run by tools/test.sh) and
/// small models written by torch.onnx.export.
@Suite struct ONNXModelTests {
  static let sileroDirectory: String = {
    let fixtures = Fixtures.directory
    let root = fixtures[..<fixtures.range(of: "/Tests/")!.lowerBound]
    return root + "/.build/models/silero_vad/data"
  }()

  static func silero(_ name: String) throws -> ONNXModel {
    try ONNXModel(contentsOfFile: "\(sileroDirectory)/\(name).onnx")
  }

  static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
  }

  @Test(arguments: [
    ("silero_vad", "silero_vad", 16000), ("silero_vad", "silero_vad_8k", 8000),
    ("silero_vad_16k_op15", "silero_vad_16k_op15", 16000),
    ("silero_vad_op18_ifless", "silero_vad_op18_ifless", 16000),
  ])
  func sileroMatchesOnnxruntime(file: String, key: String, rate: Int) throws {
    let model = try Self.silero(file)
    let (fixture, _) = try Fixtures.load("onnx_silero")
    let rows = fixture[rate == 16000 ? "rows16k" : "rows8k"]!
    var state = Tensor<Float>.zeros(shape: [2, 1, 128])
    var probabilities: [Float] = []
    for i in 0..<rows.shape[0] {
      let row = rows.selected(axis: 0, index: i).unsqueezed(axis: 0)
      let out = try model.run([
        "input": .float(row), "state": .float(state), "sr": .int64([Int64(rate)], shape: []),
      ])
      #expect(out["output"]!.shape == [1, 1])
      probabilities.append(out["output"]!.float!.scalars[0])
      state = out["stateN"]!.float!
    }
    let expected = fixture["probs.\(key)"]!.scalars
    #expect(Self.maxDifference(probabilities, expected) < 1e-4, "\(probabilities) vs \(expected)")
    #expect(Self.maxDifference(state.scalars, fixture["state.\(key)"]!.scalars) < 1e-4)
    // The test signal holds speech and silence: both ends of the range occur.
    #expect(expected.max()! > 0.9 && expected.min()! < 0.1)
  }

  /// Silero's probabilities with its LSTM at int8 and bfloat16 (`ONNXModel.weightPrecision`,
  /// which also reaches the cells the plan fuses) stay within 0.02 of the Float run on every
  /// kernel (measured here: int8 0.0134 for silero_vad and op15, 0.0184 for op18; bfloat16
  /// 0.0009).
  @Test(arguments: [
    ("silero_vad", 16000), ("silero_vad_16k_op15", 16000), ("silero_vad_op18_ifless", 16000),
  ])
  func sileroAtReducedPrecision(file: String, rate: Int) throws {
    var model = try Self.silero(file)
    let rows = try Fixtures.load("onnx_silero").0["rows16k"]!
    func probabilities() throws -> [Float] {
      var state = Tensor<Float>.zeros(shape: [2, 1, 128])
      var result: [Float] = []
      for i in 0..<rows.shape[0] {
        let out = try model.run([
          "input": .float(rows.selected(axis: 0, index: i).unsqueezed(axis: 0)),
          "state": .float(state), "sr": .int64([Int64(rate)], shape: []),
        ])
        result.append(out["output"]!.float!.scalars[0])
        state = out["stateN"]!.float!
      }
      return result
    }
    let float = try probabilities()
    for (kernels, precision) in RecurrentKernels.supported.flatMap({ k in
      [WeightPrecision.int8, .bfloat16].map { (k, $0) }
    }) {
      model.kernels = kernels
      model.weightPrecision = precision
      let reduced = try probabilities()
      let difference = Self.maxDifference(reduced, float)
      #expect(difference < 0.02, "\(file) \(kernels) \(precision): \(difference)")
      #expect(reduced != float, "\(file) \(kernels) \(precision) changed nothing")
    }
  }

  @Test func sileroSequenceModelMatchesOnnxruntime() throws {
    let model = try Self.silero("silero_vad_16k_sequence")
    let (fixture, _) = try Fixtures.load("onnx_silero")
    let zeros = Tensor<Float>.zeros(shape: [1, 1, 128])
    let out = try model.run([
      "input": .float(fixture["rows16k"]!), "h": .float(zeros), "c": .float(zeros),
    ])
    let key = "silero_vad_16k_sequence"
    #expect(
      Self.maxDifference(out["speech_probs"]!.float!.scalars, fixture["probs.\(key)"]!.scalars)
        < 1e-4)
    #expect(Self.maxDifference(out["hn"]!.float!.scalars, fixture["hn.\(key)"]!.scalars) < 1e-4)
    #expect(Self.maxDifference(out["cn"]!.float!.scalars, fixture["cn.\(key)"]!.scalars) < 1e-4)
  }

  @Test func sileroDeclaresItsInputsAndOutputs() throws {
    let model = try Self.silero("silero_vad_16k_op15")
    #expect(model.inputs.map(\.name) == ["input", "state", "sr"])
    #expect(model.inputs[1].shape == [2, nil, 128])
    #expect(model.inputs[1].dimensionNames == [nil, "batch", nil])
    #expect(model.inputs[2].elementType == .int64 && model.inputs[2].shape == [])
    #expect(model.outputs.map(\.name) == ["output", "stateN"])
    // The LSTM's weights are Slices and Concats of initializers: folded at load, so the
    // printed program has no Slice on a weight left.
    #expect(!model.description.contains("Slice '/model/decoder/rnn/Slice_output_0'"))
  }

  @Test(arguments: ["tagger", "convgru", "rnn", "cell"], [14, 17])
  func torchExportsMatchOnnxruntime(name: String, opset: Int) throws {
    let file = "onnx_\(name)_op\(opset)"
    let model = try ONNXModel(contentsOfFile: "\(Fixtures.directory)/\(file).onnx")
    let (fixture, metadata) = try Fixtures.load(file)
    let outputs = metadata["outputs"]!.split(separator: ",").map(String.init)
    for tag in ["a", "b"] {
      let x = fixture["input.\(tag)"]!
      let input: ONNXValue =
        metadata["int_input"] == "1"
        ? .int64(x.scalars.map { Int64($0) }, shape: x.shape) : .float(x)
      // The first run of a shape is traced, the second runs its plan (fused cells, replays).
      for run in ["traced", "planned"] {
        let out = try model.run(["input": input])
        for o in outputs {
          let expected = fixture["\(o).\(tag)"]!
          #expect(out[o]!.shape == expected.shape, "\(file) \(o) \(tag) \(run)")
          #expect(
            Self.maxDifference(out[o]!.float!.scalars, expected.scalars) < 2e-5,
            "\(file) \(o) \(tag) \(run)")
        }
      }
    }
  }

  /// onnxruntime's `DynamicQuantizeLSTM` (quantize_dynamic's rewrite of an LSTM node; per-channel
  /// int8 weights, and per-tensor uint8 weights with zero point 128, bidirectional) loads into
  /// an int8 LSTM and matches onnxruntime within twice onnxruntime's own quantization error
  /// against the float model (the fixture's "ort_error"), on every kernel.
  @Test(arguments: ["int8", "uint8"], RecurrentKernels.supported)
  func dynamicQuantizeLSTMMatchesOnnxruntime(weights: String, kernels: RecurrentKernels) throws {
    let file = "onnx_dqlstm_\(weights)"
    var model = try ONNXModel(contentsOfFile: "\(Fixtures.directory)/\(file).onnx")
    model.kernels = kernels
    let (fixture, metadata) = try Fixtures.load(file)
    let bound = 2 * Float(metadata["ort_error"]!)! + 1e-3
    let out = try model.run(["input": .float(fixture["input.a"]!)])
    for o in ["Y", "Y_h", "Y_c"] {
      let expected = fixture["\(o).a"]!
      #expect(out[o]!.shape == expected.shape, "\(file) \(o)")
      let difference = Self.maxDifference(out[o]!.float!.scalars, expected.scalars)
      #expect(difference <= bound, "\(file) \(o) \(kernels): \(difference) > \(bound)")
    }
  }

  /// Every convolution path (skinny kernel with tails, groups, stride, dilation; BLAS) on every
  /// kernel this CPU runs, against onnxruntime.
  @Test(arguments: RecurrentKernels.supported)
  func convolutionsMatchOnnxruntime(kernels: RecurrentKernels) throws {
    var model = try ONNXModel(contentsOfFile: "\(Fixtures.directory)/onnx_convs.onnx")
    model.kernels = kernels
    let (fixture, metadata) = try Fixtures.load("onnx_convs")
    let out = try model.run(["X": .float(fixture["X"]!), "A": .float(fixture["A"]!)])
    for name in metadata["outputs"]!.split(separator: ",").map(String.init) {
      #expect(out[name]!.shape == fixture[name]!.shape, "\(name)")
      #expect(
        Self.maxDifference(out[name]!.float!.scalars, fixture[name]!.scalars) < 1e-4,
        "\(name) on \(kernels)")
    }
  }

  /// Silero on every kernel this CPU runs (the skinny convolutions and the LSTM's fused step;
  /// op18's LSTM cell is fused by the plan).
  @Test(arguments: RecurrentKernels.supported, ["silero_vad_16k_op15", "silero_vad_op18_ifless"])
  func sileroOnEveryKernel(kernels: RecurrentKernels, file: String) throws {
    var model = try Self.silero(file)
    model.kernels = kernels
    let (fixture, _) = try Fixtures.load("onnx_silero")
    let rows = fixture["rows16k"]!
    var state = Tensor<Float>.zeros(shape: [2, 1, 128])
    var probabilities: [Float] = []
    for i in 0..<rows.shape[0] {
      let out = try model.run([
        "input": .float(rows.selected(axis: 0, index: i).unsqueezed(axis: 0)),
        "state": .float(state), "sr": .int64([16000], shape: []),
      ])
      probabilities.append(out["output"]!.float!.scalars[0])
      state = out["stateN"]!.float!
    }
    #expect(Self.maxDifference(probabilities, fixture["probs.\(file)"]!.scalars) < 1e-4)
  }

  /// The traced plan folds the exporter's shape arithmetic and branches: what is left is the
  /// model's computation, and a second signature (8 kHz) gets its own plan.
  @Test func plansAreSpecialisedPerSignature() throws {
    let model = try Self.silero("silero_vad")
    let state = ONNXValue.float(.zeros(shape: [2, 1, 128]))
    let plan16 = try #require(
      try model.plan(for: [
        "input": .float(.zeros(shape: [1, 576])), "state": state, "sr": .int64([16000], shape: []),
      ]))
    let plan8 = try #require(
      try model.plan(for: [
        "input": .float(.zeros(shape: [1, 288])), "state": state, "sr": .int64([8000], shape: []),
      ]))
    let description = plan16.description
    #expect(
      !description.contains("If ") && !description.contains("Shape ")
        && !description.contains("Equal "))
    #expect(description.contains("LSTM") && description.contains("Conv"))
    #expect(plan16.stepCount < 60 && plan8.stepCount < 60)
    #expect(plan16 !== plan8)
  }

  static func loadError(_ bytes: [UInt8]) -> ONNXError? {
    do {
      _ = try ONNXModel(bytes: bytes)
      return nil
    } catch { return error }
  }

  static func fixtureBytes(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: "\(Fixtures.directory)/\(name).onnx")))
  }

  @Test func unsupportedOperatorsAreReportedTogetherAtLoad() throws {
    let error = Self.loadError(try Self.fixtureBytes("onnx_unsupported"))
    #expect(
      error
        == .unsupportedOperators([
          "Foo (node 'first')", "com.example::Bar (node 'second')",
          "NonMaxSuppression (node 'third')",
        ]))
  }

  @Test func refusedModelsSayWhy() throws {
    let unsorted = "\(Self.loadError(try Self.fixtureBytes("onnx_unsorted")).map { "\($0)" } ?? "")"
    #expect(unsorted.contains("node 'late'") && unsorted.contains("reads 'a' before"))
    let clip = "\(Self.loadError(try Self.fixtureBytes("onnx_clip")).map { "\($0)" } ?? "")"
    #expect(clip.contains("clipped") && clip.contains("clip = 1.0 is not supported"))
  }

  /// Truncating a valid file anywhere throws a malformed-file error naming a field (never a
  /// trap); the wrong wire type for a known field too.
  @Test func truncatedAndCorruptFilesThrow() throws {
    let bytes = try Self.fixtureBytes("onnx_rnn_op14")
    for cut in stride(from: 1, to: bytes.count, by: 97) {
      let error = Self.loadError(Array(bytes.prefix(cut)))
      #expect(error != nil, "cut at \(cut)")
    }
    #expect(
      Self.loadError([0x3A, 0x05, 0x01])
        == .malformed(field: "graph", reason: "claims 5 bytes, 1 remain"))
    #expect(
      Self.loadError([0x0A, 0x05, 0x01])
        == .malformed(
          field: "ir_version", reason: "expected a varint, got wire type lengthDelimited"))
    #expect(
      Self.loadError([0x08, 0x07]) == .malformed(field: "graph", reason: "the model has no graph"))
    #expect(
      Self.loadError([0x0B])
        == .malformed(
          field: "field 1 at byte 0",
          reason: "wire type 3 is not one of 0, 1, 2, 5 (groups are not used by ONNX)"))
  }

  /// The fuzzers' seeds (tools/make_onnx_fixtures.py) load and run: the seeds reach the
  /// executor, not only the reader.
  @Test func fuzzSeedsLoadAndRun() throws {
    let directory = Fixtures.directory.replacingOccurrences(
      of: "TensorLSTMTests/Fixtures", with: "Fuzz/corpus/onnx")
    for name in ["add_relu", "if", "lstm", "conv", "shapes"] {
      let model = try ONNXModel(
        bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name).onnx"))))
      var inputs: [String: ONNXValue] = [:]
      for info in model.inputs {
        let shape = info.shape.map { $0 ?? 2 }
        inputs[info.name] = .float(.randomNormal(shape: shape, seed: 1))
      }
      let out = try model.run(inputs)
      #expect(out.count == model.outputs.count, "\(name)")
    }
  }

  @Test func runChecksItsInputsBeforeRunning() throws {
    let model = try Self.silero("silero_vad_16k_op15")
    let chunk = Tensor<Float>.zeros(shape: [1, 576])
    let state = Tensor<Float>.zeros(shape: [2, 1, 128])
    let sr = ONNXValue.int64([16000], shape: [])
    func expectInvalid(_ inputs: [String: ONNXValue], _ name: String) {
      #expect {
        _ = try model.run(inputs)
      } throws: { error in
        guard case .invalidInput(let n, _, _) = error as? ONNXError else { return false }
        return n == name
      }
    }
    expectInvalid(["input": .float(chunk), "state": .float(state)], "sr")
    expectInvalid(["input": .float(chunk), "state": .float(state), "sr": sr, "extra": sr], "extra")
    expectInvalid(
      ["input": .float(chunk), "state": .float(state), "sr": .float(.zeros(shape: []))], "sr")
    expectInvalid(
      ["input": .float(chunk), "state": .float(.zeros(shape: [3, 1, 128])), "sr": sr], "state")
    expectInvalid(
      ["input": .float(chunk), "state": .float(.zeros(shape: [2, 1, 128, 1])), "sr": sr], "state")
    // "batch" is 1 in the input and 2 in the state.
    expectInvalid(
      ["input": .float(chunk), "state": .float(.zeros(shape: [2, 2, 128])), "sr": sr], "state")
  }
}
