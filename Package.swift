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
    .target(
      name: "TensorLSTM",
      dependencies: ["CBLASShim"]
    ),
    .executableTarget(name: "tensorlstm-demo", dependencies: ["TensorLSTM"]),
    .testTarget(name: "TensorLSTMTests", dependencies: ["TensorLSTM"]),
  ]
)
