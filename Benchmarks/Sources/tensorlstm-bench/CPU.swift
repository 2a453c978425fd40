import Foundation
import TensorLSTM

/// The CPU the figures come from: its model name and the vector extensions the kernels care
/// about, read from /proc/cpuinfo. Every results table starts with this line.
enum CPU {
  static let extensionsOfInterest = [
    "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile",
  ]

  static var summary: String {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
      return "CPU: unknown (no /proc/cpuinfo)"
    }
    let lines = info.split(separator: "\n")
    func field(_ name: String) -> String? {
      lines.first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
        .map { $0.trimmingCharacters(in: .whitespaces) }
    }
    let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
    let present = extensionsOfInterest.filter(flags.contains)
    return
      "CPU: \(field("model name") ?? "unknown") (family \(field("cpu family") ?? "?"), model \(field("model") ?? "?")); "
      + (present.isEmpty ? "no AVX2" : present.joined(separator: " "))
      + "; OpenBLAS core \(BLAS.coreName)"
      + (BLAS.narrowKernelWarning.map { " (narrower than the CPU: \($0))" } ?? "")
  }
}
