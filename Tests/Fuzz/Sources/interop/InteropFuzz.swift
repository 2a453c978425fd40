import FuzzSupport
import TensorLSTM

/// libFuzzer entry point for the entry points that take weights from outside: Keras and ONNX
/// converters and `loadStateDict`, with shapes and values drawn from the input bytes. A thrown
/// `LayerError` is the expected outcome for a bad shape; a trap is a finding. When a model is
/// built, it runs one forward on a small input so that loaded weights are exercised too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInterop(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var bytes = ByteReader(Array(UnsafeBufferPointer(start: data, count: size)))
  let entry = bytes.next() % 3
  var model: LSTM<Float>?
  switch entry {
  case 0:
    // Keras: kernel [I, 4u], recurrent [u', 4u''], bias [b] or none, optional backward.
    let forward = bytes.kerasWeights()
    let backward = bytes.next() % 2 == 0 ? bytes.kerasWeights() : nil
    model = try? LSTM(keras: forward, backward: backward, batchFirst: bytes.next() % 2 == 0)
  case 1:
    let directions = Int(bytes.next() % 3)
    let direction = ["forward", "bidirectional", "reverse"][directions]
    let node = ONNXLSTMNode(
      w: bytes.tensor(rank: 3), r: bytes.tensor(rank: 3),
      b: bytes.next() % 2 == 0 ? bytes.tensor(rank: 2) : nil, direction: direction,
      activations: bytes.next() % 4 == 0 ? ["Sigmoid", "Tanh", "Tanh"] : nil,
      inputForget: Int(bytes.next() % 2), layout: Int(bytes.next() % 3) - 1)
    model = try? LSTM(onnx: node)
  default:
    let hidden = 1 + Int(bytes.next() % 4)
    var lstm = LSTM<Float>(
      inputSize: 1 + Int(bytes.next() % 4), hiddenSize: hidden,
      numLayers: 1 + Int(bytes.next() % 2), bias: bytes.next() % 2 == 0,
      bidirectional: bytes.next() % 2 == 0, projSize: Int(bytes.next()) % hidden)
    var dict = lstm.stateDict()
    for key in dict.keys.sorted() where bytes.next() % 4 == 0 {
      dict[key] = bytes.next() % 3 == 0 ? nil : bytes.tensor(rank: 1 + Int(bytes.next() % 2))
    }
    if bytes.next() % 8 == 0 { dict["extra"] = bytes.tensor(rank: 1) }
    if (try? lstm.loadStateDict(dict)) != nil { model = lstm }
  }
  if let model {
    let batchFirst = model.batchFirst
    let x = bytes.tensor(shape: batchFirst ? [2, 3, model.inputSize] : [3, 2, model.inputSize])
    _ = try? model(x).output.scalars
  }
  return 0
}

extension ByteReader {
  mutating func kerasWeights() -> KerasLSTMWeights<Float> {
    KerasLSTMWeights(
      kernel: tensor(rank: 2), recurrentKernel: tensor(rank: 2),
      bias: next() % 2 == 0 ? tensor(rank: 1) : nil)
  }
}
