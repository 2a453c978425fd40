// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "TensorLSTM",
  products: [
    .library(name: "TensorLSTM", targets: ["TensorLSTM"]),
    .executable(name: "tensorlstm-demo", targets: ["tensorlstm-demo"]),
    .executable(name: "tensorlstm-classify", targets: ["tensorlstm-classify"]),
    .executable(name: "tensorlstm-vad", targets: ["tensorlstm-vad"]),
  ],
  targets: [
    .systemLibrary(
      name: "CBLASShim",
      path: "CBLASShim",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
    ),
    // The AVX2+FMA and AVX-512F step kernels, compiled per function (target attributes), chosen
    // at run time.
    .target(name: "CRecurrentKernels"),
    .target(
      name: "TensorLSTM",
      dependencies: ["CBLASShim", "CRecurrentKernels"]
    ),
    .executableTarget(name: "tensorlstm-demo", dependencies: ["TensorLSTM"]),
    // Training examples: a character-level language model and the article's classifier. The
    // char-LM has no product line on purpose: SwiftPM still builds it here (`swift run
    // tensorlstm-charlm`), and the nested package Distributed/ can then own the product
    // `tensorlstm-charlm` built from the same file with MPI (product names are global).
    .executableTarget(name: "tensorlstm-charlm", dependencies: ["TensorLSTM"]),
    .executableTarget(name: "tensorlstm-classify", dependencies: ["TensorLSTM"]),
    // Voice activity detection on a WAV file with Silero VAD's ONNX model (ONNXModel).
    .executableTarget(name: "tensorlstm-vad", dependencies: ["TensorLSTM"]),
    // The fixtures are read from the source tree (#filePath), not bundled as resources.
    .testTarget(name: "TensorLSTMTests", dependencies: ["TensorLSTM"], exclude: ["Fixtures"]),
  ]
)
