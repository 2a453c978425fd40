/// The precision a ``BLASScalar`` maps to: `s`-prefixed or `d`-prefixed BLAS/LAPACK routines.
public enum BLASPrecision: Sendable {
  /// 32-bit `Float`: `sgemm`, `sgemv`, `sgesv`, `sgels`.
  case single
  /// 64-bit `Double`: `dgemm`, `dgemv`, `dgesv`, `dgels`.
  case double
}

/// A scalar type that BLAS and LAPACK can compute with: `Float` and `Double`.
///
/// The library's generic code (tensors, layers) is written once over `BLASScalar`; the single
/// C-boundary file picks the `s` or `d` routine from ``precision``.
public protocol BLASScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable,
  CustomStringConvertible
{
  /// Which family of BLAS/LAPACK routines computes with this type.
  static var precision: BLASPrecision { get }
}

extension Float: BLASScalar {
  /// `.single`: `Float` uses `sgemm`, `sgemv`, `sgesv`, `sgels`.
  public static var precision: BLASPrecision { .single }
}

extension Double: BLASScalar {
  /// `.double`: `Double` uses `dgemm`, `dgemv`, `dgesv`, `dgels`.
  public static var precision: BLASPrecision { .double }
}
