import TensorLSTM

/// Golden files written by tools/make_fixtures.py (PyTorch); read without Python.
enum Fixtures {
  static let directory: String = {
    let file = "\(#filePath)"
    let support = file[..<file.lastIndex(of: "/")!]
    return support[..<support.lastIndex(of: "/")!] + "/Fixtures"
  }()

  static func path(_ name: String) -> String { "\(directory)/\(name).safetensors" }

  static func load<Scalar: BLASScalar>(_ name: String, as _: Scalar.Type = Float.self) throws
    -> (tensors: [String: Tensor<Scalar>], metadata: [String: String])
  {
    let tensors: [String: Tensor<Scalar>] = try SafeTensors.read(contentsOf: path(name))
    let metadata = try SafeTensors.metadata(contentsOf: path(name))
    return (tensors, metadata)
  }
}
