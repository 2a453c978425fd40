// swift-tools-version: 6.1
import PackageDescription

// A nested package so that the root package stays dependency-free: the benchmark tools and
// their dependencies never reach users of the TensorLSTM library.
let package = Package(
  name: "TensorLSTMBenchmarks",
  dependencies: [
    .package(name: "TensorLSTM", path: ".."),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(
      url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1",
      traits: ["MallocInterposer"]),
  ],
  targets: [
    // The README's main command: LSTM BLAS vs naive vs bare sgemm, and the view ops.
    .executableTarget(
      name: "tensorlstm-bench",
      dependencies: [
        .product(name: "TensorLSTM", package: "TensorLSTM"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // Perf regression suite with committed thresholds (swift package benchmark …).
    .executableTarget(
      name: "LSTMForward",
      dependencies: [
        .product(name: "TensorLSTM", package: "TensorLSTM"),
        .product(name: "Benchmark", package: "package-benchmark"),
      ],
      path: "Benchmarks/LSTMForward",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
    ),
  ]
)
