// swift-tools-version: 6.1
// libFuzzer targets, built from the package itself so that a new module or a changed API
// breaks them at once: `swift build --package-path Tests/Fuzz --sanitize=fuzzer
// --sanitize=address` (tools/fuzz.sh does this, then runs each target). Each target's file
// defines LLVMFuzzerTestOneInput; libFuzzer supplies main, so they link only with the fuzzer
// sanitizer on.
import PackageDescription

let package = Package(
  name: "TensorLSTMFuzz",
  dependencies: [.package(name: "TensorLSTM", path: "../..")],
  targets: [
    // The fuzzers' byte reader: sizes and values drawn from the input.
    .target(
      name: "FuzzSupport", dependencies: [.product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/FuzzSupport"),
    .executableTarget(
      name: "fuzz-safetensors", dependencies: [.product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/safetensors"),
    .executableTarget(
      name: "fuzz-npy", dependencies: [.product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/npy"),
    .executableTarget(
      name: "fuzz-interop",
      dependencies: ["FuzzSupport", .product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/interop"),
    .executableTarget(
      name: "fuzz-optimizer",
      dependencies: ["FuzzSupport", .product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/optimizer"),
    .executableTarget(
      name: "fuzz-onnx", dependencies: [.product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/onnx"),
    .executableTarget(
      name: "fuzz-wav", dependencies: [.product(name: "TensorLSTM", package: "TensorLSTM")],
      path: "Sources/wav"),
  ]
)
