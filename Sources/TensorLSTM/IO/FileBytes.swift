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
  /// Reads a regular file whole, in chunks: memory grows with the bytes actually read, never
  /// with the size the file claims, and never past the size it claims (plus a chunk).
  ///
  /// The file is opened without blocking (`O_NONBLOCK`) and its type checked on the open
  /// descriptor, so a FIFO with no writer is refused at once instead of hanging in `open`.
  /// A "regular" file that claims 0 bytes (`/proc`, `/sys`) is read up to
  /// ``unsizedLimit`` bytes at most.
  ///
  /// - Throws: ``FileError`` when the path holds a NUL character, the file cannot be opened or
  ///   read, is not a regular file (`/dev/zero`, a pipe, a directory), claims more bytes than
  ///   this machine's memory, or streams more bytes than it claims.
  static func read(_ path: String) throws(FileError) -> [UInt8] {
    try checkPath(path)
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    if fd < 0 { throw failure(path, "open") }
    defer { close(fd) }
    var info = stat()
    if fstat(fd, &info) != 0 { throw failure(path, "stat") }
    guard info.st_mode & S_IFMT == S_IFREG else {
      throw FileError(
        path: path, reason: "not a regular file; TensorLSTM reads tensors from regular files only")
    }
    let claimed = Int(info.st_size)
    let memory = sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
    if memory > 0 && claimed > memory {
      throw FileError(
        path: path,
        reason: "the file has \(claimed) bytes, more than this machine's \(memory) bytes of memory")
    }
    // A file may grow a little while it is read; one that streams far past its size is not a
    // file of tensors (and could stream without end).
    let limit = claimed == 0 ? unsizedLimit : claimed + chunkSize
    var result: [UInt8] = []
    result.reserveCapacity(Swift.min(claimed, chunkSize))
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    while true {
      let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw failure(path, "read")
      }
      if count == 0 { return result }
      guard result.count + count <= limit else {
        throw FileError(
          path: path,
          reason:
            "the file claims \(claimed) bytes but streams more than \(limit); TensorLSTM reads tensors from regular files only"
        )
      }
      result.append(contentsOf: chunk[0..<count])
    }
  }

  /// The most bytes read from a regular file that claims a size of 0 (a `/proc` file).
  static let unsizedLimit = 16 << 20

  /// Refuses a path with a NUL character: C would read it only up to the NUL, a different file.
  static func checkPath(_ path: String) throws(FileError) {
    if path.utf8.contains(0) {
      throw FileError(
        path: path.replacingNUL, reason: "the path contains a NUL character; no file has that name")
    }
  }

  static let chunkSize = 1 << 20

  /// Writes `bytes` to a new temporary file beside `path` (unique per call, `mkstemp`), flushes
  /// it to disk and renames it over `path`: readers see the old file or the new one, never half
  /// of one, and concurrent writers each leave a complete file (the last rename wins). Nothing
  /// is left behind on failure.
  static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
    try checkPath(path)
    var template = Array("\(path).tmp-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    if fd < 0 { throw failure(path, "mkstemp") }
    let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    func fail(_ operation: String) -> FileError {
      let error = failure(temporary, operation)
      close(fd)
      unlink(temporary)
      return error
    }
    var written = 0
    while written < bytes.count {
      let count = bytes.withUnsafeBytes {
        Glibc.write(fd, $0.baseAddress! + written, $0.count - written)
      }
      if count < 0 {
        if errno == EINTR { continue }
        throw fail("write")
      }
      written += count
    }
    // mkstemp creates the file 0600; a saved model gets 0644, as the usual umask gives. (Reading
    // the umask means setting it, which would race with other threads creating files.)
    if fchmod(fd, 0o644) != 0 { throw fail("chmod") }
    if fsync(fd) != 0 { throw fail("fsync") }
    if close(fd) != 0 {
      let error = failure(temporary, "close")
      unlink(temporary)
      throw error
    }
    if rename(temporary, path) != 0 {
      let error = failure(path, "rename")
      unlink(temporary)
      throw error
    }
  }

  private static func failure(_ path: String, _ operation: String) -> FileError {
    FileError(path: path, reason: "\(operation): \(String(cString: strerror(errno)))")
  }
}

extension String {
  /// The string with each NUL shown as `\0`, for messages.
  fileprivate var replacingNUL: String {
    split(separator: "\u{0}", omittingEmptySubsequences: false).joined(separator: "\\0")
  }
}
