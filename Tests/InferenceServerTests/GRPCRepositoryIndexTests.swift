import GRPCTransport
import HTTPTransport
import InferenceServer
import MCDropoutJSON
import Synchronization
import Testing

/// Calls `endpoint` in-process (no socket) and returns its answer; the methods used here answer on the calling thread.
func grpcAnswer(_ endpoint: GRPCEndpoint, _ method: String, _ message: [UInt8]) -> GRPCResponse? {
    let answer = Mutex<GRPCResponse?>(nil)
    endpoint.handle(
        GRPCCall(method: "/inference.GRPCInferenceService/\(method)", message: message, authorization: nil) {
            response in answer.withLock { $0 = response }
        })
    return answer.withLock { $0 }
}

/// The (name, version, state) entries of a `RepositoryIndexResponse`.
func repositoryEntries(_ bytes: [UInt8]) throws -> [[String]] {
    var reader = ProtobufReader(bytes)
    var entries: [[String]] = []
    while let (field, wireType) = try reader.nextField() {
        #expect(field == 1 && wireType == .lengthDelimited)
        var model = try reader.readMessage()
        var entry = ["", "", ""]
        while let (field, _) = try model.nextField() { entry[field - 1] = try model.readString() }
        entries.append(entry)
    }
    return entries
}

@Suite("The repository index over both protocols, in every phase")
struct GRPCRepositoryIndexTests {
    @Test("models are READY, UNAVAILABLE while draining, and Triton's ready filter lists only ready ones")
    func readyFilter() throws {
        let service = try makeService(paths: [try writeSyntheticModel(name: "a"), try writeSyntheticModel(name: "b")])
        let endpoint = GRPCEndpoint(service: service) { work, _ in
            work()
            return true
        }
        func grpcIndex(readyOnly: Bool) throws -> [[String]] {
            var request = ProtobufWriter()
            if readyOnly { request.writeBool(2, true) }
            let response = try #require(grpcAnswer(endpoint, "RepositoryIndex", request.bytes))
            #expect(response.status == .ok, "\(response.message)")
            return try repositoryEntries(response.payload ?? [])
        }
        func httpIndex(_ body: String) -> HTTPResponse {
            service.handle(HTTPRequest(method: "POST", path: "/v2/repository/index", body: Array(body.utf8)))
        }
        let ready = [["a", "1", "READY"], ["b", "1", "READY"]]
        #expect(try grpcIndex(readyOnly: false) == ready && grpcIndex(readyOnly: true) == ready)
        #expect(try JSONParser.parse(httpIndex(#"{"ready": true}"#).body).arrayValue?.count == 2)

        service.markDraining()
        #expect(try grpcIndex(readyOnly: false) == [["a", "1", "UNAVAILABLE"], ["b", "1", "UNAVAILABLE"]])
        #expect(try grpcIndex(readyOnly: true) == [])
        let all = try JSONParser.parse(httpIndex("{}").body).arrayValue ?? []
        #expect(all.map { $0["state"] } == [.string("UNAVAILABLE"), .string("UNAVAILABLE")])
        #expect(try JSONParser.parse(httpIndex(#"{"ready": true}"#).body) == .array([]))
        #expect(try JSONParser.parse(httpIndex(#"{"ready": false}"#).body).arrayValue?.count == 2)
        let bad = httpIndex(#"{"ready": 1}"#)
        #expect(bad.status == 400)
        #expect(String(decoding: bad.body, as: UTF8.self).contains("'ready'"))
        // A wrong wire type for `ready` is a malformed request over gRPC.
        var wrong = ProtobufWriter()
        wrong.writeString(2, "yes")
        #expect(grpcAnswer(endpoint, "RepositoryIndex", wrong.bytes)?.status == .invalidArgument)
    }
}
