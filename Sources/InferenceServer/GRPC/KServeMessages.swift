import GRPCTransport

// The messages of KServe's `inference.GRPCInferenceService` (docs/grpc/grpc_predict_v2.proto, with Triton's
// `double_param` and `uint64_param` parameter kinds), read and written with the hand-written wire codec. Only what
// the server uses is decoded; unknown fields are skipped, as proto3 requires.

/// A model named by `ModelReadyRequest` / `ModelMetadataRequest` (name = 1, version = 2); empty means "not given".
struct ModelReference: Equatable {
    var name = ""
    var version = ""

    init(name: String = "", version: String = "") {
        self.name = name
        self.version = version
    }

    init(decoding bytes: [UInt8]) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1, 2:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                let value = try reader.readString()
                if field == 1 { name = value } else { version = value }
            default: try reader.skip(wireType)
            }
        }
    }
}

/// `InferParameter`: one value of a `map<string, InferParameter>`.
enum InferParameter: Equatable {
    case bool(Bool)
    case int64(Int64)
    case string(String)
    case double(Double)
    case uint64(UInt64)

    init(decoding reader: inout ProtobufReader) throws(ProtobufError) {
        self = .string("")  // an empty message is the oneof unset; treated as an empty string
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wireType, is: .varint, field: field)
                self = .bool(try reader.readVarint() != 0)
            case 2:
                try reader.expect(wireType, is: .varint, field: field)
                self = .int64(Int64(bitPattern: try reader.readVarint()))
            case 3:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                self = .string(try reader.readString())
            case 4:
                try reader.expect(wireType, is: .fixed64, field: field)
                self = .double(Double(bitPattern: try reader.readFixed64()))
            case 5:
                try reader.expect(wireType, is: .varint, field: field)
                self = .uint64(try reader.readVarint())
            default: try reader.skip(wireType)
            }
        }
    }

    func encode(to writer: inout ProtobufWriter) {
        switch self {
        case .bool(let value): writer.writeBool(1, value)
        case .int64(let value): writer.writeInt64(2, value)
        case .string(let value): writer.writeString(3, value)
        case .double(let value): writer.writeDouble(4, value)
        case .uint64(let value): writer.writeUInt64(5, value)
        }
    }
}

/// Reads one `map<string, InferParameter>` entry (key = 1, value = 2) into `parameters`; a repeated key replaces.
func decodeParameterEntry(
    _ reader: inout ProtobufReader, into parameters: inout [(key: String, value: InferParameter)]
) throws(ProtobufError) {
    var entry = try reader.readMessage()
    var key = ""
    var value = InferParameter.string("")
    while let (field, wireType) = try entry.nextField() {
        switch field {
        case 1:
            try entry.expect(wireType, is: .lengthDelimited, field: field)
            key = try entry.readString()
        case 2:
            try entry.expect(wireType, is: .lengthDelimited, field: field)
            var message = try entry.readMessage()
            value = try InferParameter(decoding: &message)
        default: try entry.skip(wireType)
        }
    }
    parameters.removeAll { $0.key == key }
    parameters.append((key, value))
}

/// Writes `map<string, InferParameter>` entries as field `field`.
func encodeParameters(
    _ parameters: [(key: String, value: InferParameter)], field: Int, to writer: inout ProtobufWriter
) {
    for (key, value) in parameters {
        writer.writeMessage(field) { entry in
            entry.writeString(1, key)
            entry.writeMessage(2) { value.encode(to: &$0) }
        }
    }
}

/// `ModelMetadataResponse.TensorMetadata`, also the shape of the HTTP metadata's `inputs` / `outputs` entries.
struct TensorMetadata: Equatable {
    var name: String
    var datatype: String
    var shape: [Int]
}

enum KServeMessages {
    /// `ServerLiveResponse` (live = 1), `ServerReadyResponse` (ready = 1), `ModelReadyResponse` (ready = 1).
    static func encodeFlag(_ value: Bool) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 2)
        if value { writer.writeBool(1, true) }  // proto3 leaves default values out
        return writer.bytes
    }

    /// `ServerMetadataResponse`: name = 1, version = 2, extensions = 3.
    static func encodeServerMetadata(name: String, version: String, extensions: [String]) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 64)
        writer.writeString(1, name)
        writer.writeString(2, version)
        for name in extensions { writer.writeString(3, name) }
        return writer.bytes
    }

    /// `ModelMetadataResponse`: name = 1, versions = 2, platform = 3, inputs = 4, outputs = 5.
    static func encodeModelMetadata(
        name: String, versions: [String], platform: String, inputs: [TensorMetadata], outputs: [TensorMetadata]
    ) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 512)
        writer.writeString(1, name)
        for version in versions { writer.writeString(2, version) }
        writer.writeString(3, platform)
        for (field, tensors) in [(4, inputs), (5, outputs)] {
            for tensor in tensors {
                writer.writeMessage(field) { message in
                    message.writeString(1, tensor.name)
                    message.writeString(2, tensor.datatype)
                    message.writePackedInt64(3, tensor.shape.map(Int64.init))
                }
            }
        }
        return writer.bytes
    }
}
