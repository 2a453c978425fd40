import Foundation
import TensorLSTM
import Testing

/// Programmer mistakes stop the process with a message that names the shapes and the fix.
@Suite("View-op preconditions")
struct ViewPreconditionTests {
  @Test func duplicatePermutationAxis() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3, 4]).permuted([0, 1, 1])
    }
    let text = stderrText(result)
    #expect(text.contains("duplicate axis") && text.contains("[2, 3, 4]"), "\(text)")
  }

  @Test func axisOutOfRange() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3]).selected(axis: 2, index: 0)
    }
    let text = stderrText(result)
    #expect(text.contains("axis 2 is out of range for shape [2, 3]"), "\(text)")
  }

  @Test func elementCountMismatch() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3]).reshaped([4, 2])
    }
    let text = stderrText(result)
    #expect(text.contains("[2, 3] has 6 elements but [4, 2] has 8"), "\(text)")
  }

  @Test func indexOutOfRange() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3]).selected(axis: 1, index: 3)
    }
    let text = stderrText(result)
    #expect(text.contains("index 3 is out of range for axis 1 of size 3"), "\(text)")
  }

  @Test func expandNonUnitAxis() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor<Float>.zeros(shape: [2, 3]).expanded(to: [4, 3])
    }
    let text = stderrText(result)
    #expect(text.contains("only size-1 axes can be broadcast"), "\(text)")
  }

  @Test func matmulInnerMismatch() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = matmul(Tensor<Float>.zeros(shape: [2, 3]), Tensor<Float>.zeros(shape: [4, 5]))
    }
    let text = stderrText(result)
    #expect(text.contains("inner sizes differ: [2, 3] · [4, 5]"), "\(text)")
  }
}
