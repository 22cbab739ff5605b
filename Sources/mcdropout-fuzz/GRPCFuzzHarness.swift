// The gRPC half of the fuzz harness: KServe V2 request messages (ModelInferRequest, ModelMetadataRequest, …) through
// the hand-written protobuf decoder and the ``GRPCEndpoint`` behind it, inference included. Built into the libFuzzer
// binary with -DFUZZ_GRPC (scripts/reliability/fuzz.sh --grpc); a normal build replays with `--grpc`.
//
// Input format (so seeds are readable): the first line is the method name (`ModelInfer`), the rest is the request
// message's bytes. An input without a newline is a method called without a message.
import GRPCTransport
import InferenceServer
import Synchronization

/// The endpoint under test: the fuzz service, with inference run inline instead of on a worker pool.
let grpcEndpoint = GRPCEndpoint(service: service) { work, _ in
    work()
    return true
}

/// What the endpoint answered for one call; filled by the call's responder.
final class AnswerBox: Sendable {
    let answers = Mutex<[GRPCResponse]>([])
}

/// Runs one input as a gRPC call and traps if the answer breaks the server's contract.
func checkGRPC(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n"))
    let method = String(decoding: bytes[..<(newline ?? bytes.count)], as: UTF8.self)
    let message = newline.map { Array(bytes[($0 + 1)...]) }
    let box = AnswerBox()
    let call = GRPCCall(
        method: "/inference.GRPCInferenceService/\(method)", message: message, authorization: nil
    ) { response in box.answers.withLock { $0.append(response) } }
    grpcEndpoint.handle(call)
    let answers = box.answers.withLock { $0 }
    // Answered exactly once, at once (inference runs inline).
    guard answers.count == 1, let answer = answers.first else {
        fatalError("\(method): \(answers.count) answers")
    }
    // Client input must never produce a server fault.
    let faults: Set<GRPCStatusCode> = [.internal, .unknown, .dataLoss, .unavailable]
    guard !faults.contains(answer.status) else {
        fatalError("\(method): \(answer.status) \(answer.message)")
    }
    guard (answer.status == .ok) == (answer.payload != nil) else {
        fatalError("\(method): status \(answer.status) with payload \(String(describing: answer.payload?.count))")
    }
    guard let payload = answer.payload else {
        if answer.message.isEmpty { fatalError("\(method): \(answer.status) without a message") }
        return
    }
    // What the server writes must itself be well-formed protobuf, down to every nested message it contains.
    do throws(ProtobufError) {
        try walk(ProtobufReader(payload), depth: 0)
    } catch {
        fatalError("\(method): the response does not parse: \(error)")
    }
}

/// Reads every field of a message, descending into length-delimited values that parse as messages themselves.
private func walk(_ reader: ProtobufReader, depth: Int) throws(ProtobufError) {
    var reader = reader
    while let (_, wireType) = try reader.nextField() {
        guard wireType == .lengthDelimited, depth < 4 else {
            try reader.skip(wireType)
            continue
        }
        let nested = try reader.readMessage()
        // Strings and raw tensor bytes need not be messages: only a fully parsing value is descended into.
        if (try? walk(nested, depth: depth + 1)) == nil { continue }
    }
}
