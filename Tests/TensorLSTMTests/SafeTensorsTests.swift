import Foundation
import TensorLSTM
import Testing

@Suite("safetensors")
struct SafeTensorsTests {
  @Test("write then read gives the same tensors, for Float and Double")
  func roundTrip() throws {
    let a = Tensor<Double>.randomNormal(shape: [3, 4], seed: 1)
    let b = Tensor<Double>.randomNormal(shape: [5, 2, 2], seed: 2).permuted([2, 0, 1])
    let bytes = try SafeTensors.encode(["a": a, "b/strided": b], metadata: ["k": "v \"q\""])
    let back: [String: Tensor<Double>] = try SafeTensors.decode(bytes)
    #expect(back["a"]!.scalars == a.scalars && back["a"]!.shape == a.shape)
    #expect(back["b/strided"]!.scalars == b.scalars && back["b/strided"]!.shape == b.shape)
    #expect(try SafeTensors.metadata(bytes) == ["k": "v \"q\""])
    let path = "/tmp/tensorlstm-roundtrip-\(UInt32.random(in: 0...UInt32.max)).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try SafeTensors.write(["x": Tensor<Float>(shape: [2], scalars: [1.5, -2])], to: path)
    let read: [String: Tensor<Float>] = try SafeTensors.read(contentsOf: path)
    #expect(read["x"]!.scalars == [1.5, -2])
  }

  /// A valid file of one F32 tensor [2] = [1, 2], built byte by byte so that each malformation
  /// below changes exactly one thing.
  static func file(header: String, data: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]) -> [UInt8] {
    let h = Array(header.utf8)
    return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + data
  }

  static let good = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

  @Test("the hand-built reference file decodes")
  func reference() throws {
    let t: [String: Tensor<Float>] = try SafeTensors.decode(Self.file(header: Self.good))
    #expect(t["x"]!.scalars == [1, 2])
  }

  @Test(
    "malformed files throw, never trap",
    arguments: [
      ("too short", [UInt8](repeating: 0, count: 5)),
      (
        "header past the end",
        file(header: good).dropLast(0).enumerated().map { $0.offset == 0 ? 200 : $0.element }
      ),
      ("not JSON", file(header: "{\"x\":")),
      ("not an object", file(header: "[1, 2]")),
      ("unknown dtype", file(header: #"{"x":{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}}"#)),
      ("size mismatch", file(header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#)),
      (
        "offsets past data",
        file(header: #"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#)
      ),
      (
        "reversed offsets", file(header: #"{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#)
      ),
      (
        "overflowing dims",
        file(
          header: #"{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#)
      ),
      ("negative dim", file(header: #"{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#)),
      (
        "overlap",
        file(
          header:
            #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        )
      ),
      ("non-UTF-8 key", file(header: "{\"\u{FF}\":1}").map { $0 == 0xC3 ? 0xFF : $0 }),
      ("missing field", file(header: #"{"x":{"dtype":"F32","shape":[2]}}"#)),
    ] as [(String, [UInt8])])
  func malformed(name: String, bytes: [UInt8]) {
    #expect(throws: SafeTensorsError.self, "\(name)") {
      let _: [String: Tensor<Float>] = try SafeTensors.decode(bytes)
    }
  }

  @Test("F16, BF16 and integer dtypes widen to the requested scalar")
  func widening() throws {
    let header =
      #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]},"i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}"#
    // F16 1.0, -2.0, 65504; BF16 1.5; I64 -7.
    let data: [UInt8] =
      [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0xC0, 0x3F]
      + withUnsafeBytes(of: Int64(-7).littleEndian, Array.init)
    let t: [String: Tensor<Double>] = try SafeTensors.decode(Self.file(header: header, data: data))
    #expect(t["h"]!.scalars == [1, -2, 65504])
    #expect(t["b"]!.scalars == [1.5])
    #expect(t["i"]!.scalars == [-7])
  }
}
