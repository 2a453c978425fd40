// swift-tools-version: 6.1
import PackageDescription

// A nested package so that the root package stays dependency-free: the benchmark tools and
// their dependencies never reach users of the TensorLSTM library.
let package = Package(
  name: "TensorLSTMBenchmarks",
  dependencies: [
    .package(name: "TensorLSTM", path: ".."),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    .executableTarget(
      name: "tensorlstm-bench",
      dependencies: [
        .product(name: "TensorLSTM", package: "TensorLSTM"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    )
  ]
)
