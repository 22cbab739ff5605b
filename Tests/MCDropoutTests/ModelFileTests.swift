import Foundation
import MCDropoutJSON
import Testing

@testable import MCDropout

func sampleModelFile(dropout: [Float] = [0, 0.5, 0.3]) -> ModelFile {
    let model = smallModel(dropout: dropout)
    let metadata = ModelMetadata(
        layerSizes: model.layerSizes, dropoutProbabilities: dropout, labels: ["a", "b", "c", "d", "e"],
        dataset: "synthetic", seed: 3, inputScale: 255, inputShape: [4, 5],
        hyperparameters: JSONObject([("optimizer", .string("adam"))]),
        metrics: JSONObject([("accuracy", .number(0.5))]),
        extensions: JSONObject([("uncertainty", .object(JSONObject([("threshold", .number(0.25))])))]))
    return ModelFile(model: model, metadata: metadata)
}

/// Re-encodes a file with a modified header (the 8-byte length prefix is recomputed).
func withHeader(_ bytes: [UInt8], _ transform: (String) -> String) -> [UInt8] {
    var length = 0
    for index in (0..<8).reversed() { length = length << 8 | Int(bytes[index]) }
    let header = Array(transform(String(decoding: bytes[8..<(8 + length)], as: UTF8.self)).utf8)
    var out: [UInt8] = []
    var n = UInt64(header.count)
    for _ in 0..<8 {
        out.append(UInt8(truncatingIfNeeded: n))
        n >>= 8
    }
    return out + header + bytes[(8 + length)...]
}

@Suite("safetensors model files")
struct ModelFileTests {
    @Test("round trip keeps weights, metadata and unknown fields; encoding is deterministic")
    func roundTrip() throws {
        let file = sampleModelFile()
        let bytes = file.encoded()
        let decoded = try ModelFile(decoding: bytes)
        #expect(decoded == file)
        #expect(decoded.encoded() == bytes)
        #expect(decoded.metadata.extensions["uncertainty"] != nil)
        // The header is 8-byte aligned and the data section holds exactly the float32 tensors.
        var length = 0
        for index in (0..<8).reversed() { length = length << 8 | Int(bytes[index]) }
        #expect(length % 8 == 0)
        #expect(bytes.count - 8 - length == file.model.parameterCount * 4)
    }

    @Test("the header lists PyTorch-layout tensors and the metadata as a JSON string")
    func layout() throws {
        let bytes = sampleModelFile().encoded()
        var length = 0
        for index in (0..<8).reversed() { length = length << 8 | Int(bytes[index]) }
        let header = try JSONParser.parse(Array(bytes[8..<(8 + length)]))
        guard case .object(let entries) = header else {
            Issue.record("header is not an object")
            return
        }
        guard case .object(let weight)? = entries["layers.0.weight"] else {
            Issue.record("no layers.0.weight")
            return
        }
        #expect(weight["shape"] == .array([.number(33), .number(20)]))
        #expect(weight["dtype"] == .string("F32"))
        guard case .object(let meta)? = entries["__metadata__"], case .string(let text)? = meta["mcdropout"] else {
            Issue.record("no __metadata__.mcdropout string")
            return
        }
        let metadata = try JSONParser.parse(Array(text.utf8))
        guard case .object(let object) = metadata else {
            Issue.record("metadata is not an object")
            return
        }
        #expect(object["dropout"] == .array([.number(0), .number(0.5), .number(0.3)]))
    }

    @Test("corrupt files give typed errors naming the problem")
    func corrupt() {
        let bytes = sampleModelFile().encoded()
        #expect(throws: ModelFileError.tooShort(byteCount: 3)) { try ModelFile(decoding: [1, 2, 3]) }
        var huge = bytes
        huge[7] = 0x7F
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: huge) }
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: Array(bytes.dropLast(4))) }
        #expect(throws: ModelFileError.self) { try ModelFile(decoding: withHeader(bytes) { _ in "{not json" }) }
        #expect(throws: ModelFileError.shapeMismatch(tensor: "layers.1.weight", expected: [17, 33], found: [33, 17])) {
            try ModelFile(
                decoding: withHeader(bytes) { $0.replacingFirst("\"shape\":[17,33]", with: "\"shape\":[33,17]") })
        }
        #expect(throws: ModelFileError.unsupportedDataType(tensor: "layers.0.bias", dataType: "F16")) {
            try ModelFile(
                decoding: withHeader(bytes) {
                    $0.replacingFirst(
                        "\"layers.0.bias\":{\"dtype\":\"F32\"", with: "\"layers.0.bias\":{\"dtype\":\"F16\"")
                })
        }
        #expect(throws: ModelFileError.missingTensor("layers.2.bias")) {
            try ModelFile(decoding: withHeader(bytes) { $0.replacingFirst("layers.2.bias", with: "layers.9.bias") })
        }
        #expect(throws: ModelFileError.invalidMetadata(field: "dropout", reason: "probabilities must be in [0, 1)")) {
            try ModelFile(
                decoding: withHeader(bytes) {
                    $0.replacingFirst("\\\"dropout\\\":[0,0.5,0.3]", with: "\\\"dropout\\\":[0,1.5,0.3]")
                })
        }
        #expect(throws: ModelFileError.missingMetadata(field: "mcdropout")) {
            try ModelFile(decoding: withHeader(bytes) { $0.replacingFirst("\"mcdropout\"", with: "\"other\"") })
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
