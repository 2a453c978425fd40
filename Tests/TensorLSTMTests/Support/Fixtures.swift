import TensorLSTM

/// Golden files written by tools/make_fixtures.py (PyTorch); read without Python.
enum Fixtures {
  static let directory: String = {
    let file = "\(#filePath)"
    let support = file[..<file.lastIndex(of: "/")!]
    return support[..<support.lastIndex(of: "/")!] + "/Fixtures"
  }()

  static func path(_ name: String) -> String { "\(directory)/\(name).safetensors" }

  static func load(_ name: String) throws -> (
    tensors: [String: Tensor<Float>], metadata: [String: String]
  ) {
    let tensors: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: path(name))
    let metadata = try SafeTensors.metadata(contentsOf: path(name))
    return (tensors, metadata)
  }
}
