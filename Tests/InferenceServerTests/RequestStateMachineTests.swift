// The daemon's decisions for one request, without a socket: events in, actions out (RequestStateMachine), and the
// checks a response passes before libmicrohttpd sends it (ResponseHead). The live tests (MicroHTTPDaemon*Tests,
// HalfCloseAndDrainTests) check that the daemon carries these actions out.
import Logging
import Testing

@testable import HTTPTransport

/// Stands in for the daemon's `OffloadedRequest` (the machine only keeps it and hands it back).
private final class FakeJob {}

private typealias Machine = RequestStateMachine<FakeJob>

/// The step's case, for comparing (payloads that are not `Equatable` become text).
private func describe(_ step: Machine.Step) -> String {
    switch step {
    case .wait: "wait"
    case .handleInline: "handleInline"
    case .reject(let rejection): "reject(\(rejection))"
    case .askWhereToRun: "askWhereToRun"
    case .deferToNextCall: "deferToNextCall"
    case .askForWorker: "askForWorker"
    case .collect: "collect"
    case .respond(let response): "respond(\(response.status))"
    }
}

/// Whether `step` asks to collect the response of exactly `job`.
private func collectsJob(_ job: FakeJob, _ step: Machine.Step) -> Bool {
    if case .collect(let collected) = step { collected === job } else { false }
}

/// A machine with workers whose request, complete and within the limits, is bound for the pool (`.askForWorker`).
private func requestBoundForWorker() -> Machine {
    var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
    _ = machine.headArrived(declaredLength: nil)
    _ = machine.calledWithoutData()
    _ = machine.placed(onWorker: true)
    return machine
}

@Suite("RequestStateMachine")
struct RequestStateMachineTests {
    @Test("without workers, a body within the limit is received and handled inline; later calls send nothing more")
    func inlineRequest() {
        var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: false)
        #expect(machine.isReceiving)
        #expect(machine.headArrived(declaredLength: 10) == .receiveBody(reservingCapacity: 10))
        #expect(machine.bodyArrived(byteCount: 4) == .append)
        #expect(machine.bodyArrived(byteCount: 6) == .append)
        // Without a pool the handler is not asked whether the request needs a worker.
        #expect(describe(machine.calledWithoutData()) == "handleInline")
        #expect(!machine.isReceiving)
        #expect(describe(machine.calledWithoutData()) == "wait")
        #expect(machine.bodyArrived(byteCount: 1) == .drop)
    }

    @Test("the body's initial capacity is what the head declares, at most 64 KiB, and none without a length")
    func initialCapacity() {
        var declared = Machine(bodyLimit: 1 << 20, memoryBudget: 1 << 30, hasWorkers: false)
        #expect(declared.headArrived(declaredLength: 1_000_000) == .receiveBody(reservingCapacity: 64 * 1024))
        var undeclared = Machine(bodyLimit: 1 << 20, memoryBudget: 1 << 30, hasWorkers: false)
        #expect(undeclared.headArrived(declaredLength: nil) == .receiveBody(reservingCapacity: 0))
        var empty = Machine(bodyLimit: 1 << 20, memoryBudget: 1 << 30, hasWorkers: false)
        #expect(empty.headArrived(declaredLength: 0) == .receiveBody(reservingCapacity: 0))
        #expect(empty.isReceiving)
    }

    @Test("a declared length over the limit is rejected at once; the body that follows is dropped")
    func declaredTooLarge() {
        var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
        #expect(machine.headArrived(declaredLength: 101) == .reject(.bodyTooLarge(limit: 100)))
        #expect(!machine.isReceiving)
        #expect(machine.bodyArrived(byteCount: 50) == .drop)
        #expect(describe(machine.calledWithoutData()) == "wait")
    }

    @Test("a streamed body over the limit is dropped and rejected at its end; far over it, the connection is closed")
    func streamedTooLarge() {
        var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
        #expect(machine.headArrived(declaredLength: nil) == .receiveBody(reservingCapacity: 0))
        #expect(machine.bodyArrived(byteCount: 60) == .append)
        #expect(machine.bodyArrived(byteCount: 60) == .drop)
        #expect(machine.isReceiving)
        // Rejected without asking the handler where it would run.
        #expect(describe(machine.calledWithoutData()) == "reject(bodyTooLarge(limit: 100))")
        #expect(describe(machine.calledWithoutData()) == "wait")

        var flooding = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
        _ = flooding.headArrived(declaredLength: nil)
        #expect(flooding.bodyArrived(byteCount: 100 + 64 * 1024) == .drop)
        #expect(flooding.bodyArrived(byteCount: 1) == .closeConnection)
    }

    @Test("when the budget for bodies runs out, the rest of the body is dropped and the request refused for memory")
    func budgetExhausted() {
        var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
        _ = machine.headArrived(declaredLength: 80)
        #expect(machine.bodyArrived(byteCount: 30) == .append)
        machine.budgetExhausted()
        #expect(machine.bodyArrived(byteCount: 50) == .drop)
        #expect(describe(machine.calledWithoutData()) == "reject(bodyMemoryExhausted(limit: 1000))")
    }

    @Test("with workers, a request the handler keeps on the I/O thread is handled inline")
    func workersButInline() {
        var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
        _ = machine.headArrived(declaredLength: nil)
        #expect(describe(machine.calledWithoutData()) == "askWhereToRun")
        #expect(!machine.isReceiving)
        #expect(describe(machine.placed(onWorker: false)) == "handleInline")
        #expect(describe(machine.calledWithoutData()) == "wait")
    }

    @Test("a request for a worker is deferred one call, admitted, suspended, then answered when the worker is done")
    func offloadedRequest() {
        var machine = Machine(bodyLimit: 100, memoryBudget: 1000, hasWorkers: true)
        _ = machine.headArrived(declaredLength: 5)
        #expect(machine.bodyArrived(byteCount: 5) == .append)
        #expect(describe(machine.calledWithoutData()) == "askWhereToRun")
        #expect(describe(machine.placed(onWorker: true)) == "deferToNextCall")
        #expect(describe(machine.calledWithoutData()) == "askForWorker")
        #expect(machine.offload(.admitted) == .suspendAndEnqueue)
        let job = FakeJob()
        machine.suspended(for: job)
        // MHD may call before the worker has finished: nothing to send yet.
        #expect(collectsJob(job, machine.calledWithoutData()))
        #expect(describe(machine.collected(nil)) == "wait")
        #expect(collectsJob(job, machine.calledWithoutData()))
        #expect(describe(machine.collected(HTTPResponse(status: 200))) == "respond(200)")
        #expect(describe(machine.calledWithoutData()) == "wait")
    }

    @Test("a full pool without an overload hold refuses at once")
    func refusedAtOnce() {
        var machine = requestBoundForWorker()
        #expect(describe(machine.calledWithoutData()) == "askForWorker")
        #expect(machine.offload(.refused) == .reject(.overloaded))
        #expect(describe(machine.calledWithoutData()) == "wait")
    }

    @Test("a full pool with an overload hold suspends the request and sends the held refusal when it is released")
    func refusedWithHold() {
        var machine = requestBoundForWorker()
        #expect(describe(machine.calledWithoutData()) == "askForWorker")
        #expect(machine.offload(.refusedWithHold) == .suspendAndHold)
        let job = FakeJob()
        machine.suspended(for: job)
        #expect(collectsJob(job, machine.calledWithoutData()))
        #expect(describe(machine.collected(HTTPResponse(status: 503))) == "respond(503)")
        #expect(describe(machine.calledWithoutData()) == "wait")
    }
}

@Suite("ResponseHead")
struct ResponseHeadTests {
    private let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// The packed fields back as pairs.
    private func fields(_ head: ResponseHead) -> [String] {
        head.packedHeaders.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    @Test("valid fields are packed in order as name, NUL, value, NUL")
    func packsFields() {
        let head = ResponseHead(
            HTTPResponse(
                status: 201, headers: [(name: "Content-Type", value: "text/plain"), (name: "X-A", value: "1")],
                body: [1, 2]),
            closesConnection: false, logger: logger)
        #expect(head.status == 201)
        #expect(head.headerCount == 2)
        #expect(fields(head) == ["Content-Type", "text/plain", "X-A", "1"])
        #expect(head.body == [1, 2])
    }

    @Test("framing fields, names that are not tokens and values with CR, LF or NUL or none are dropped")
    func dropsInvalidFields() {
        let head = ResponseHead(
            HTTPResponse(
                status: 200,
                headers: [
                    (name: "content-LENGTH", value: "5"), (name: "Transfer-Encoding", value: "chunked"),
                    (name: "Bad Name", value: "x"), (name: "", value: "x"), (name: "X-Split", value: "a\r\nb"),
                    (name: "X-Nul", value: "a\u{0}b"), (name: "X-Empty", value: ""), (name: "X-Ok", value: "yes"),
                ]),
            closesConnection: false, logger: logger)
        #expect(fields(head) == ["X-Ok", "yes"])
        #expect(head.headerCount == 1)
    }

    @Test("a status outside 200...599 becomes a bare 500")
    func invalidStatus() {
        for status in [0, 199, 600] {
            let head = ResponseHead(
                HTTPResponse(status: status, headers: [(name: "X-A", value: "1")], body: [1]),
                closesConnection: false, logger: logger)
            #expect(head.status == 500)
            #expect(head.headerCount == 0)
            #expect(head.body.isEmpty)
        }
    }

    @Test("while draining, every response asks the client to close, even a replaced one")
    func draining() {
        let head = ResponseHead(
            HTTPResponse(status: 200, headers: [(name: "X-A", value: "1")]), closesConnection: true, logger: logger)
        #expect(fields(head) == ["X-A", "1", "Connection", "close"])
        let replaced = ResponseHead(HTTPResponse(status: 42), closesConnection: true, logger: logger)
        #expect(fields(replaced) == ["Connection", "close"])
        #expect(replaced.headerCount == 1)
    }

    @Test("Content-Length is read as digits with blanks around it (no sign), anything else as absent")
    func contentLength() {
        #expect(ASCII.contentLength("42") == 42)
        #expect(ASCII.contentLength(" \t42 ") == 42)
        #expect(ASCII.contentLength("18446744073709551615") == .max)
        #expect(ASCII.contentLength("18446744073709551616") == nil)
        #expect(ASCII.contentLength("") == nil)
        #expect(ASCII.contentLength("  ") == nil)
        #expect(ASCII.contentLength("4 2") == nil)
        #expect(ASCII.contentLength("x") == nil)
        #expect(ASCII.contentLength("+42") == nil)
        #expect(ASCII.contentLength("-0") == nil)
        #expect(ASCII.contentLength("0x10") == nil)
    }
}
