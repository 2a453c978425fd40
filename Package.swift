// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "TensorLSTM",
  products: [
    .library(name: "TensorLSTM", targets: ["TensorLSTM"]),
    .executable(name: "tensorlstm-demo", targets: ["tensorlstm-demo"]),
  ],
  targets: [
    .systemLibrary(
      name: "CBLASShim",
      path: "CBLASShim",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
    ),
    // AVX2+FMA step kernels, compiled per function (target attributes), chosen at run time.
    .target(name: "CRecurrentKernels"),
    .target(
      name: "TensorLSTM",
      dependencies: ["CBLASShim", "CRecurrentKernels"]
    ),
    .executableTarget(name: "tensorlstm-demo", dependencies: ["TensorLSTM"]),
    // The fixtures are read from the source tree (#filePath), not bundled as resources.
    .testTarget(name: "TensorLSTMTests", dependencies: ["TensorLSTM"], exclude: ["Fixtures"]),
  ]
)
