// swift-tools-version: 6.1
import PackageDescription

// Data-parallel training over MPI, in a nested package so that the root package and everyone who
// builds it never need MPI. Needs Open MPI's development files (`tools/ensure-mpi.sh` installs
// libopenmpi-dev and openmpi-bin when missing).
let package = Package(
  name: "TensorLSTMDistributed",
  products: [
    .library(name: "TensorLSTMDistributed", targets: ["TensorLSTMDistributed"]),
    .executable(name: "tensorlstm-charlm", targets: ["CharLMDataParallel"]),
    .executable(name: "tensorlstm-dp-check", targets: ["tensorlstm-dp-check"]),
  ],
  dependencies: [.package(name: "TensorLSTM", path: "..")],
  targets: [
    .systemLibrary(
      name: "CMPI",
      pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
    ),
    .target(
      name: "TensorLSTMDistributed",
      dependencies: ["CMPI", .product(name: "TensorLSTM", package: "TensorLSTM")]
    ),
    // The root package's char-LM example (Sources/tensorlstm-charlm is a link to it), built here
    // with DATA_PARALLEL, which compiles its `--data-parallel` parts. The product keeps the
    // example's name; the target needs its own (target names are unique across packages).
    .executableTarget(
      name: "CharLMDataParallel",
      dependencies: [
        "TensorLSTMDistributed", .product(name: "TensorLSTM", package: "TensorLSTM"),
      ],
      path: "Sources/tensorlstm-charlm",
      swiftSettings: [.define("DATA_PARALLEL")]
    ),
    // The equivalence checks CI runs under mpirun: a GRU with lengths and padding trained by
    // 2 ranks against one process, and two checkpoints compared.
    .executableTarget(
      name: "tensorlstm-dp-check",
      dependencies: [
        "TensorLSTMDistributed", .product(name: "TensorLSTM", package: "TensorLSTM"),
      ]
    ),
  ]
)
