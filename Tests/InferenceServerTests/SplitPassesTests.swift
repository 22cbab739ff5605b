import Foundation
import HTTPTransport
import MCDropout
import MCDropoutJSON
import Testing

@testable import InferenceServer

@Suite("Two workers for one request: the second half of the passes on the idle worker")
struct SplitPassesTests {
    func splitCount(_ connection: RawHTTPConnection) throws -> Int? {
        let metrics = try connection.request(target: "/metrics").text
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("mcdropout_split_requests_total ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) }
    }

    @Test("same seed → same bytes with and without the split, over real HTTP and in process; the split happens")
    func sameBytes() throws {
        let path = try writeSyntheticModel(name: "wide", hidden: 256)
        let splitting = try startServer(paths: [path]) { $0.splitsPasses = true }
        defer { splitting.shutdown(drainTimeout: .seconds(5)) }
        let plain = try startServer(paths: [path]) { $0.splitsPasses = false }
        defer { plain.shutdown(drainTimeout: .seconds(5)) }
        let inProcess = try makeService(paths: [path])
        let a = try RawHTTPConnection(port: splitting.port)
        let b = try RawHTTPConnection(port: plain.port)
        for seed in 1...12 {
            let samples = [200, 100, 37][seed % 3]
            let pixels = pixelsJSON(testPixels(seed: UInt64(seed)))
            let body = Array(#"{"pixels": \#(pixels), "samples": \#(samples), "seed": \#(seed)}"#.utf8)
            let split = try a.request(method: "POST", target: "/predict", body: body)
            let unsplit = try b.request(method: "POST", target: "/predict", body: body)
            let local = inProcess.handle(HTTPRequest(method: "POST", path: "/predict", body: body))
            #expect(split.status == 200 && unsplit.status == 200 && local.status == 200)
            #expect(split.body == unsplit.body, "seed \(seed)")
            #expect(split.body == local.body, "seed \(seed)")
        }
        // One connection leaves the second worker idle: some second halves ran there (all, unless the machine was
        // too busy to wake it before the first half was done); none with the split turned off.
        let helped = try #require(try splitCount(a))
        #expect(helped > 0 && helped <= 12)
        #expect(try splitCount(b) == 0)
    }
}
