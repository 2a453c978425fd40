import TensorLSTM
import Testing

/// Programmer mistakes in sizes and layer hyper-parameters stop the process with the message the
/// README promises: the shapes involved and the fix, never a bare "arithmetic overflow".
@Suite("Exit messages: overflow and layer hyper-parameters")
struct ExitMessageTests {
  @Test func lstmHiddenSizeOverflow() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = LSTM<Float>(inputSize: 1, hiddenSize: 1 << 62)
    }
    let text = stderrText(result)
    #expect(text.contains("hiddenSize: 4611686018427387904") && text.contains("Int"), "\(text)")
  }

  @Test func sliceStepIntMin() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [4]).sliced(axis: 0, range: 0..<4, step: Int.min)
    }
    #expect(
      stderrText(result).contains("use a step in -Int.max...Int.max"), "\(stderrText(result))")
  }

  @Test func zerosTooLarge() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [1 << 32, 1 << 32])
    }
    let text = stderrText(result)
    #expect(text.contains("[4294967296, 4294967296]") && text.contains("Int"), "\(text)")
  }

  @Test func expandedCountOverflow() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [1, 1]).expanded(to: [1 << 40, 1 << 30]).count
    }
    let text = stderrText(result)
    #expect(text.contains("[1099511627776, 1073741824]") && text.contains("count"), "\(text)")
  }

  @Test func lstmNonPositiveSize() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = LSTM<Float>(inputSize: 0, hiddenSize: 8)
    }
    #expect(stderrText(result).contains("inputSize (0)"), "\(stderrText(result))")
  }

  @Test func lstmProjectionTooLarge() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = LSTM<Float>(inputSize: 4, hiddenSize: 8, projSize: 8)
    }
    #expect(stderrText(result).contains("projSize 8 must be in 0..<hiddenSize (8)"))
  }

  @Test func lstmThreadBudget() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var lstm = LSTM<Float>(inputSize: 4, hiddenSize: 8)
      lstm.threads = 0
    }
    #expect(stderrText(result).contains("LSTM.threads must be ≥ 1"), "\(stderrText(result))")
  }

  @Test func linearNonPositive() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Linear<Float>(inFeatures: 3, outFeatures: 0)
    }
    #expect(stderrText(result).contains("outFeatures (0)"), "\(stderrText(result))")
  }

  @Test func linearOverflow() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Linear<Float>(inFeatures: 1 << 33, outFeatures: 1 << 33)
    }
    #expect(stderrText(result).contains("Linear(inFeatures: 8589934592"), "\(stderrText(result))")
  }

  @Test func conv1dGroups() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Conv1d<Float>(inChannels: 4, outChannels: 6, kernelSize: 3, groups: 4)
    }
    #expect(stderrText(result).contains("groups (4) must divide"), "\(stderrText(result))")
  }
}
