import Glibc

/// A file that could not be read or written, with the path and the system's reason.
public struct FileError: Error, Equatable, CustomStringConvertible {
  /// The file concerned.
  public var path: String
  /// What failed, e.g. "open: No such file or directory".
  public var reason: String

  /// "path: reason".
  public var description: String { "\(path): \(reason)" }
}

/// Whole-file reads and atomic whole-file writes, through the C library.
enum FileBytes {
  static func read(_ path: String) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    if fd < 0 { throw failure(path, "open") }
    defer { close(fd) }
    var info = stat()
    if fstat(fd, &info) != 0 { throw failure(path, "stat") }
    var result: [UInt8] = []
    result.reserveCapacity(Int(info.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw failure(path, "read")
      }
      if count == 0 { return result }
      result.append(contentsOf: chunk[0..<count])
    }
  }

  /// Writes to `path.tmp-PID` then renames over `path`, so a reader never sees half a file.
  static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
    let temporary = "\(path).tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if fd < 0 { throw failure(temporary, "open") }
    var written = 0
    while written < bytes.count {
      let count = bytes.withUnsafeBytes {
        Glibc.write(fd, $0.baseAddress! + written, $0.count - written)
      }
      if count < 0 {
        if errno == EINTR { continue }
        let error = failure(temporary, "write")
        close(fd)
        unlink(temporary)
        throw error
      }
      written += count
    }
    if close(fd) != 0 || rename(temporary, path) != 0 {
      let error = failure(path, "close/rename")
      unlink(temporary)
      throw error
    }
  }

  private static func failure(_ path: String, _ operation: String) -> FileError {
    FileError(path: path, reason: "\(operation): \(String(cString: strerror(errno)))")
  }
}
