import GRPCTransport

// The messages of Triton's extension RPCs of `inference.GRPCInferenceService` (grpc_service.proto and
// model_config.proto of triton-inference-server/common; field numbers checked against tritonclient's generated
// descriptors). The data comes from TritonExtensions.swift, which HTTP renders as JSON; only the wire form is here.

/// `RepositoryIndexRequest`: repository_name = 1, ready = 2.
struct RepositoryIndexRequestMessage: Equatable {
    var repositoryName = ""
    var isReadyOnly = false

    init(decoding bytes: [UInt8]) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                repositoryName = try reader.readString()
            case 2:
                try reader.expect(wireType, is: .varint, field: field)
                isReadyOnly = try reader.readVarint() != 0
            default: try reader.skip(wireType)
            }
        }
    }
}

/// `RepositoryModelLoadRequest` / `RepositoryModelUnloadRequest`: repository_name = 1, model_name = 2, parameters
/// = 3 (read only as far as to know the message is well formed: the server refuses model control).
struct RepositoryModelRequestMessage: Equatable {
    var repositoryName = ""
    var modelName = ""

    init(decoding bytes: [UInt8]) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1, 2:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                let value = try reader.readString()
                if field == 1 { repositoryName = value } else { modelName = value }
            case 3:
                try reader.expect(wireType, is: .lengthDelimited, field: field)
                _ = try reader.readMessage()
            default: try reader.skip(wireType)
            }
        }
    }
}

enum TritonExtensionMessages {
    /// model_config.proto's `DataType` numbers of the V2 datatype names.
    static let dataTypes: [String: UInt64] = [
        "BOOL": 1, "UINT8": 2, "UINT16": 3, "UINT32": 4, "UINT64": 5, "INT8": 6, "INT16": 7, "INT32": 8, "INT64": 9,
        "FP16": 10, "FP32": 11, "FP64": 12, "BYTES": 13, "BF16": 14,
    ]

    /// `ModelConfigResponse { ModelConfig config = 1 }`. `ModelConfig`: name = 1, platform = 2, version_policy = 3
    /// (`latest` = 1 { num_versions = 1 }), max_batch_size = 4, input = 5, output = 6, parameters = 14
    /// (`ModelParameter { string_value = 1 }`), backend = 17. `ModelInput`: name = 1, data_type = 2, format = 3
    /// (FORMAT_NONE, the default, so left out), dims = 4; `ModelOutput`: name = 1, data_type = 2, dims = 3.
    static func encodeModelConfig(_ configuration: ModelConfiguration) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 512)
        writer.writeMessage(1) { config in
            config.writeString(1, configuration.name)
            config.writeString(2, configuration.platform)
            config.writeMessage(3) { policy in
                policy.writeMessage(1) { $0.writeUInt64(1, UInt64(configuration.latestVersionCount)) }
            }
            config.writeInt64(4, Int64(configuration.maxBatchSize))
            for (field, tensors) in [(5, configuration.inputs), (6, configuration.outputs)] {
                for tensor in tensors {
                    config.writeMessage(field) { message in
                        message.writeString(1, tensor.name)
                        message.writeUInt64(2, dataTypes[tensor.datatype] ?? 0)
                        message.writePackedInt64(field == 5 ? 4 : 3, tensor.dims.map(Int64.init))
                    }
                }
            }
            for (key, value) in configuration.parameters {
                config.writeMessage(14) { entry in
                    entry.writeString(1, key)
                    entry.writeMessage(2) { $0.writeString(1, value) }
                }
            }
            config.writeString(17, configuration.backend)
        }
        return writer.bytes
    }

    /// `ModelStatisticsResponse { repeated ModelStatistics model_stats = 1 }`. `ModelStatistics`: name = 1,
    /// version = 2, last_inference = 3, inference_count = 4, execution_count = 5, inference_stats = 6
    /// (`InferStatistics`: success = 1, fail = 2, each a `StatisticDuration { count = 1, ns = 2 }`); no batch_stats.
    static func encodeModelStatistics(_ reports: [ModelStatisticsReport]) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 64 + 96 * reports.count)
        for report in reports {
            writer.writeMessage(1) { message in
                message.writeString(1, report.name)
                message.writeString(2, report.version)
                message.writeUInt64(3, UInt64(report.lastInference))
                message.writeUInt64(4, UInt64(report.inferenceCount))
                message.writeUInt64(5, UInt64(report.executionCount))
                message.writeMessage(6) { statistics in
                    for (field, duration) in [(1, report.success), (2, report.fail)] {
                        statistics.writeMessage(field) { message in
                            message.writeUInt64(1, UInt64(duration.count))
                            message.writeUInt64(2, UInt64(duration.nanoseconds))
                        }
                    }
                }
            }
        }
        return writer.bytes
    }

    /// `RepositoryIndexResponse { repeated ModelIndex models = 1 }`; `ModelIndex`: name = 1, version = 2, state = 3.
    static func encodeRepositoryIndex(_ entries: [RepositoryIndexEntry]) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 16 + 48 * entries.count)
        for entry in entries {
            writer.writeMessage(1) { message in
                message.writeString(1, entry.name)
                message.writeString(2, entry.version)
                message.writeString(3, entry.state)
            }
        }
        return writer.bytes
    }
}
