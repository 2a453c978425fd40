/// The parts of ONNX's `ModelProto` (onnx/onnx.proto3) a runtime needs, as plain values read
/// from the wire format: no tensors are built here, only numbers, names and bytes.
///
/// Field numbers follow onnx.proto3; fields a runtime does not need (doc strings, metadata,
/// training info, functions) are skipped, unknown fields too (protobuf's rule).
enum ONNXProto {
  /// Subgraphs (`If`, `Loop`, `Scan` bodies) nest at most this deep, so a hostile file cannot
  /// exhaust the stack.
  static let maximumDepth = 16
  /// The most values one repeated field holds.
  static let maximumCount = 1 << 28

  struct Model {
    var irVersion: Int64 = 0
    /// Opset version per domain ("" is the default domain, `ai.onnx`).
    var opsets: [String: Int64] = [:]
    var producer = ""
    var graph = Graph()
  }

  struct Graph {
    var name = ""
    var nodes: [Node] = []
    var initializers: [TensorData] = []
    var hasSparseInitializers = false
    var inputs: [ValueInfo] = []
    var outputs: [ValueInfo] = []
  }

  struct Node {
    var name = ""
    var opType = ""
    var domain = ""
    var inputs: [String] = []
    var outputs: [String] = []
    var attributes: [Attribute] = []
  }

  struct Attribute {
    var name = ""
    /// AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6,
    /// INTS 7, STRINGS 8, TENSORS 9, GRAPHS 10; 0 when the file leaves it out (then the field
    /// that is set decides).
    var type: Int64 = 0
    var float: Float?
    var int: Int64?
    var string: [UInt8]?
    var tensor: TensorData?
    var graph: Graph?
    var floats: [Float] = []
    var ints: [Int64] = []
    var strings: [[UInt8]] = []
    var tensors: [TensorData] = []
    var graphs: [Graph] = []
    var refAttributeName: String?
  }

  struct TensorData {
    var name = ""
    var dims: [Int64] = []
    /// TensorProto.DataType: FLOAT 1, UINT8 2, INT8 3, INT32 6, INT64 7, BOOL 9, FLOAT16 10,
    /// DOUBLE 11, …
    var dataType: Int32 = 0
    var rawData: [UInt8]?
    var floatData: [Float] = []
    var int32Data: [Int64] = []
    var int64Data: [Int64] = []
    var doubleData: [Double] = []
    var stringCount = 0
    var external = false
    /// Where it was read, for errors.
    var path = ""
  }

  struct ValueInfo {
    var name = ""
    /// TensorProto.DataType of a tensor type; 0 for another type (sequence, map, optional).
    var elementType: Int32 = 0
    /// Dimensions: a value, a symbolic name, or nil (unknown); nil shape = rank unknown.
    var shape: [Dimension]?
  }

  enum Dimension: Equatable {
    case value(Int64)
    case symbol(String)
    case unknown
  }

  /// The model in `bytes`.
  static func model(_ bytes: UnsafeRawBufferPointer) throws(ONNXError) -> Model {
    var reader = ProtobufReader(bytes, range: 0..<bytes.count, path: "")
    var model = Model()
    var sawGraph = false
    while !reader.isAtEnd {
      let (number, wire) = try reader.nextKey()
      switch (number, wire) {
      case (1, _): model.irVersion = try reader.int64(wire, "ir_version")
      case (2, .lengthDelimited): model.producer = try reader.string("producer_name")
      case (7, .lengthDelimited):
        var sub = try reader.message("graph")
        model.graph = try graph(&sub, depth: 0)
        sawGraph = true
      case (8, .lengthDelimited):
        var sub = try reader.message("opset_import[\(model.opsets.count)]")
        var (domain, version): (String, Int64) = ("", 0)
        while !sub.isAtEnd {
          let (n, w) = try sub.nextKey()
          switch (n, w) {
          case (1, .lengthDelimited): domain = try sub.string("domain")
          case (2, _): version = try sub.int64(w, "version")
          default: try sub.skip(w, "field \(n)")
          }
        }
        model.opsets[domain == "ai.onnx" ? "" : domain] = version
      default: try reader.skip(wire, "field \(number)")
      }
    }
    guard sawGraph else {
      throw ONNXError.malformed(field: "graph", reason: "the model has no graph")
    }
    return model
  }

  static func graph(_ reader: inout ProtobufReader, depth: Int) throws(ONNXError) -> Graph {
    guard depth <= maximumDepth else {
      throw reader.error("", "subgraphs nest deeper than \(maximumDepth) levels")
    }
    var graph = Graph()
    while !reader.isAtEnd {
      let (number, wire) = try reader.nextKey()
      switch (number, wire) {
      case (1, .lengthDelimited):
        var sub = try reader.message("node[\(graph.nodes.count)]")
        graph.nodes.append(try node(&sub, depth: depth))
      case (2, .lengthDelimited): graph.name = try reader.string("name")
      case (5, .lengthDelimited):
        var sub = try reader.message("initializer[\(graph.initializers.count)]")
        graph.initializers.append(try tensor(&sub))
      case (15, .lengthDelimited):
        _ = try reader.lengthDelimited("sparse_initializer")
        graph.hasSparseInitializers = true
      case (11, .lengthDelimited):
        var sub = try reader.message("input[\(graph.inputs.count)]")
        graph.inputs.append(try valueInfo(&sub))
      case (12, .lengthDelimited):
        var sub = try reader.message("output[\(graph.outputs.count)]")
        graph.outputs.append(try valueInfo(&sub))
      default: try reader.skip(wire, "field \(number)")
      }
    }
    return graph
  }

  static func node(_ reader: inout ProtobufReader, depth: Int) throws(ONNXError) -> Node {
    var node = Node()
    while !reader.isAtEnd {
      let (number, wire) = try reader.nextKey()
      switch (number, wire) {
      case (1, .lengthDelimited): node.inputs.append(try reader.string("input"))
      case (2, .lengthDelimited): node.outputs.append(try reader.string("output"))
      case (3, .lengthDelimited): node.name = try reader.string("name")
      case (4, .lengthDelimited): node.opType = try reader.string("op_type")
      case (7, .lengthDelimited): node.domain = try reader.string("domain")
      case (5, .lengthDelimited):
        var sub = try reader.message("attribute[\(node.attributes.count)]")
        node.attributes.append(try attribute(&sub, depth: depth))
      default: try reader.skip(wire, "field \(number)")
      }
    }
    if node.domain == "ai.onnx" { node.domain = "" }
    return node
  }

  static func attribute(_ reader: inout ProtobufReader, depth: Int) throws(ONNXError) -> Attribute {
    var a = Attribute()
    while !reader.isAtEnd {
      let (number, wire) = try reader.nextKey()
      switch (number, wire) {
      case (1, .lengthDelimited): a.name = try reader.string("name")
      case (20, _): a.type = try reader.int64(wire, "type")
      case (2, .fixed32): a.float = Float(bitPattern: UInt32(try reader.fixed(4, "f")))
      case (3, _): a.int = try reader.int64(wire, "i")
      case (4, .lengthDelimited): a.string = try reader.data("s")
      case (5, .lengthDelimited):
        var sub = try reader.message("t")
        a.tensor = try tensor(&sub)
      case (6, .lengthDelimited):
        var sub = try reader.message("g")
        a.graph = try graph(&sub, depth: depth + 1)
      case (7, _): try reader.repeatedFloats(wire, "floats", into: &a.floats, limit: maximumCount)
      case (8, _): try reader.repeatedVarints(wire, "ints", into: &a.ints, limit: maximumCount)
      case (9, .lengthDelimited): a.strings.append(try reader.data("strings"))
      case (10, .lengthDelimited):
        var sub = try reader.message("tensors[\(a.tensors.count)]")
        a.tensors.append(try tensor(&sub))
      case (11, .lengthDelimited):
        var sub = try reader.message("graphs[\(a.graphs.count)]")
        a.graphs.append(try graph(&sub, depth: depth + 1))
      case (21, .lengthDelimited): a.refAttributeName = try reader.string("ref_attr_name")
      default: try reader.skip(wire, "field \(number)")
      }
    }
    return a
  }

  static func tensor(_ reader: inout ProtobufReader) throws(ONNXError) -> TensorData {
    var t = TensorData()
    t.path = reader.path
    while !reader.isAtEnd {
      let (number, wire) = try reader.nextKey()
      switch (number, wire) {
      case (1, _): try reader.repeatedVarints(wire, "dims", into: &t.dims, limit: 64)
      case (2, _): t.dataType = Int32(truncatingIfNeeded: try reader.int64(wire, "data_type"))
      case (4, _):
        try reader.repeatedFloats(wire, "float_data", into: &t.floatData, limit: maximumCount)
      case (5, _):
        try reader.repeatedVarints(wire, "int32_data", into: &t.int32Data, limit: maximumCount)
      case (6, .lengthDelimited):
        _ = try reader.lengthDelimited("string_data")
        t.stringCount += 1
      case (7, _):
        try reader.repeatedVarints(wire, "int64_data", into: &t.int64Data, limit: maximumCount)
      case (8, .lengthDelimited): t.name = try reader.string("name")
      case (9, .lengthDelimited): t.rawData = try reader.data("raw_data")
      case (10, _):
        try reader.repeatedDoubles(wire, "double_data", into: &t.doubleData, limit: maximumCount)
      case (13, .lengthDelimited):
        _ = try reader.lengthDelimited("external_data")
        t.external = true
      case (14, _):
        let location = try reader.int64(wire, "data_location")
        t.external = t.external || location == 1
      default: try reader.skip(wire, "field \(number)")
      }
    }
    return t
  }

  static func valueInfo(_ reader: inout ProtobufReader) throws(ONNXError) -> ValueInfo {
    var info = ValueInfo()
    while !reader.isAtEnd {
      let (number, wire) = try reader.nextKey()
      switch (number, wire) {
      case (1, .lengthDelimited): info.name = try reader.string("name")
      case (2, .lengthDelimited):
        var type = try reader.message("type")
        while !type.isAtEnd {
          let (n, w) = try type.nextKey()
          guard n == 1, w == .lengthDelimited else {
            try type.skip(w, "field \(n)")
            continue
          }
          var tensorType = try type.message("tensor_type")
          while !tensorType.isAtEnd {
            let (m, v) = try tensorType.nextKey()
            switch (m, v) {
            case (1, _):
              info.elementType = Int32(truncatingIfNeeded: try tensorType.int64(v, "elem_type"))
            case (2, .lengthDelimited):
              var shape = try tensorType.message("shape")
              var dims: [Dimension] = []
              while !shape.isAtEnd {
                let (k, x) = try shape.nextKey()
                guard k == 1, x == .lengthDelimited else {
                  try shape.skip(x, "field \(k)")
                  continue
                }
                guard dims.count < 64 else { throw shape.error("dim", "more than 64 dimensions") }
                var dim = try shape.message("dim[\(dims.count)]")
                var value = Dimension.unknown
                while !dim.isAtEnd {
                  let (j, y) = try dim.nextKey()
                  switch (j, y) {
                  case (1, _): value = .value(try dim.int64(y, "dim_value"))
                  case (2, .lengthDelimited): value = .symbol(try dim.string("dim_param"))
                  default: try dim.skip(y, "field \(j)")
                  }
                }
                dims.append(value)
              }
              info.shape = dims
            default: try tensorType.skip(v, "field \(m)")
            }
          }
        }
      default: try reader.skip(wire, "field \(number)")
      }
    }
    return info
  }
}
