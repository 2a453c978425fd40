// The one file that imports MPI's C API: every call DataParallel makes, on MPI_COMM_WORLD, with
// Swift types at the boundary. Counts are checked against MPI's Int32 and sent in pieces when
// larger.
internal import CMPI
import Foundation

/// The ranks of this run as MPI sees them (`MPI_COMM_WORLD`).
enum MPIWorld {
  /// True when a launcher (`mpirun`, `mpiexec`, a PMIx or PMI server) started this process:
  /// only then is MPI initialised. A process started by hand runs alone without touching MPI.
  static var isLaunched: Bool {
    let environment = ProcessInfo.processInfo.environment
    return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains {
      environment[$0] != nil
    }
  }

  /// `MPI_Init_thread` (funneled: only the calling thread talks to MPI; the engine's worker
  /// threads never do). Returns this process's rank and the number of ranks.
  static func initialize() -> (rank: Int, size: Int) {
    var provided: Int32 = 0
    check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
    var rank: Int32 = 0
    var size: Int32 = 0
    check(MPI_Comm_rank(cmpi_comm_world(), &rank), "MPI_Comm_rank")
    check(MPI_Comm_size(cmpi_comm_world(), &size), "MPI_Comm_size")
    return (Int(rank), Int(size))
  }

  /// `MPI_Finalize`.
  static func finalize() {
    _ = MPI_Finalize()
  }

  /// `MPI_Abort`: ends every rank of the run with `status`.
  static func abort(status: Int32) -> Never {
    _ = MPI_Abort(cmpi_comm_world(), status)
    exit(status)
  }

  /// Sums `count` floats element-wise over all ranks, in place.
  static func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {
    forEachPiece(count) { offset, n in
      check(
        MPI_Allreduce(
          cmpi_in_place(), values + offset, n, cmpi_float(), cmpi_sum(), cmpi_comm_world()),
        "MPI_Allreduce")
    }
  }

  /// Sums doubles element-wise over all ranks, in place.
  static func sum(_ values: inout [Double]) {
    let count = values.count
    values.withUnsafeMutableBufferPointer { buffer in
      forEachPiece(count) { offset, n in
        check(
          MPI_Allreduce(
            cmpi_in_place(), buffer.baseAddress! + offset, n, cmpi_double(), cmpi_sum(),
            cmpi_comm_world()), "MPI_Allreduce")
      }
    }
  }

  /// Every rank's `bytes`, in rank order (`MPI_Allgather` of the lengths, then
  /// `MPI_Allgatherv`). For short messages: the total must fit in Int32.
  static func gather(_ bytes: [UInt8], ranks: Int) -> [[UInt8]] {
    var lengths = [UInt64](repeating: 0, count: ranks)
    var mine = UInt64(bytes.count)
    check(
      MPI_Allgather(&mine, 1, cmpi_uint64(), &lengths, 1, cmpi_uint64(), cmpi_comm_world()),
      "MPI_Allgather")
    let counts = lengths.map { Int32(clamping: $0) }
    var displacements = [Int32](repeating: 0, count: ranks)
    for r in 1..<max(ranks, 1) { displacements[r] = displacements[r - 1] &+ counts[r - 1] }
    let total = counts.reduce(0) { $0 + Int($1) }
    precondition(total < Int(Int32.max), "MPIWorld.gather: \(total) bytes do not fit in Int32")
    var all = [UInt8](repeating: 0, count: max(total, 1))
    var sent = bytes.isEmpty ? [0] : bytes
    check(
      MPI_Allgatherv(
        &sent, Int32(bytes.count), cmpi_byte(), &all, counts, displacements, cmpi_byte(),
        cmpi_comm_world()), "MPI_Allgatherv")
    return (0..<ranks).map {
      Array(all[Int(displacements[$0])..<(Int(displacements[$0]) + Int(counts[$0]))])
    }
  }

  /// Rank `root`'s `bytes` on every rank (its length first, then the bytes in pieces).
  static func broadcast(_ bytes: inout [UInt8], root: Int) {
    var length = UInt64(bytes.count)
    check(
      MPI_Bcast(&length, 1, cmpi_uint64(), Int32(root), cmpi_comm_world()), "MPI_Bcast")
    if bytes.count != Int(length) { bytes = [UInt8](repeating: 0, count: Int(length)) }
    bytes.withUnsafeMutableBufferPointer { buffer in
      forEachPiece(buffer.count) { offset, n in
        check(
          MPI_Bcast(buffer.baseAddress! + offset, n, cmpi_byte(), Int32(root), cmpi_comm_world()),
          "MPI_Bcast")
      }
    }
  }

  /// Calls `body(offset, count)` for pieces of at most 2^30 elements (MPI counts are Int32).
  private static func forEachPiece(_ count: Int, _ body: (Int, Int32) -> Void) {
    let piece = 1 << 30
    var offset = 0
    while offset < count {
      let n = min(piece, count - offset)
      body(offset, Int32(n))
      offset += n
    }
  }

  /// MPI's default error handler ends the run on a failed call, so a non-success code here
  /// means a handler was changed: stop with the call's name.
  private static func check(_ code: Int32, _ call: String) {
    if code != cmpi_success() {
      FileHandle.standardError.write(Data("\(call) failed with MPI error \(code)\n".utf8))
      abort(status: 3)
    }
  }
}
