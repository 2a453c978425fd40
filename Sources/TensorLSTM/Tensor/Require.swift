/// Stops the program with `message` when `condition` is false: the library's check for
/// programmer mistakes (see the README's error rules).
///
/// Unlike `precondition`, whose message `-O` builds drop, this keeps the message in release
/// builds, where users need it most: it names the shapes involved and the fix.
@inline(__always)
func require(
  _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
  file: StaticString = #file, line: UInt = #line
) {
  if _slowPath(!condition()) { fatalError(message(), file: file, line: line) }
}
