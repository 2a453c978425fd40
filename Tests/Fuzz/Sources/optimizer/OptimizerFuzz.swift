import FuzzSupport
import TensorLSTM

/// libFuzzer entry point for optimizer state from outside: a checkpoint of random names,
/// shapes and step values loaded into Adam or AdamW (`loadStateDict`), then steps on
/// parameters whose names and shapes may or may not match it, and SGD with momentum stepping
/// one name at changing shapes. A thrown `TrainingError` is the expected outcome for a
/// mismatch; a trap or an out-of-bounds write (AddressSanitizer) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOptimizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var bytes = ByteReader(Array(UnsafeBufferPointer(start: data, count: size)))
  let names = ["w", "b", "weight_ih_l0", ""]
  func parameters() -> [String: Tensor<Float>] {
    var result: [String: Tensor<Float>] = [:]
    for name in names where bytes.next() % 2 == 0 {
      result[name] = bytes.tensor(rank: 1 + Int(bytes.next() % 2))
    }
    return result
  }
  switch bytes.next() % 3 {
  case 0, 1:
    var state: [String: Tensor<Float>] = [:]
    if bytes.next() % 8 != 0 {
      let steps: [Float] = [0, 1, 5, -1, 2.5, .nan, .infinity, 1e30, 16_777_216]
      state["step"] =
        bytes.next() % 4 == 0
        ? bytes.tensor(rank: 1)
        : Tensor(shape: [1], scalars: [steps[Int(bytes.next()) % steps.count]])
    }
    for name in names + ["junk"] {
      for prefix in ["exp_avg.", "exp_avg_sq.", "momentum."] where bytes.next() % 3 == 0 {
        state[prefix + name] = bytes.tensor(rank: 1 + Int(bytes.next() % 2))
      }
    }
    var adam = Adam<Float>()
    var adamW = AdamW<Float>()
    let loaded =
      bytes.next() % 2 == 0 ? (try? adam.loadStateDict(state)) : (try? adamW.loadStateDict(state))
    _ = loaded
    for _ in 0..<2 {
      var p = parameters()
      let g = p.mapValues { bytes.next() % 16 == 0 ? bytes.tensor(rank: 1) : $0 }
      _ = try? adam.step(&p, gradients: g)
      _ = try? adamW.step(&p, gradients: g)
      _ = p.values.map(\.scalars)
    }
    _ = adam.stateDict()
  default:
    var sgd = SGD<Float>(learningRate: 0.1, momentum: 0.9, nesterov: bytes.next() % 2 == 0)
    for _ in 0..<3 {
      var p = ["w": bytes.tensor(rank: 1 + Int(bytes.next() % 2))]
      _ = try? sgd.step(&p, gradients: p)
      _ = p["w"]!.scalars
    }
  }
  return 0
}
