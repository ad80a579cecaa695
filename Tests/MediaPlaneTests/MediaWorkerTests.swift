import Glibc
import MallocCounter
import MediaPlane
import Reactor
import STUN
import TestSupport
import XCTest

/// A plain client socket for driving a worker from the test thread.
private struct Client {
    let socket: UDPSocket
    let server: SocketAddress

    init(ip: String, server: SocketAddress) throws {
        socket = try UDPSocket(bindTo: SocketAddress(ip: ip, port: 0)!)
        self.server = server
    }

    func send(_ bytes: [UInt8]) {
        XCTAssertTrue(bytes.withUnsafeBytes { socket.send($0, to: server) })
    }

    /// Waits up to `timeoutMs` for one datagram while the worker's loop runs.
    func receive(driving worker: MediaWorker, timeoutMs: Int = 1000) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let deadline = MonotonicClock.now() + UInt64(timeoutMs) * 1_000_000
        while MonotonicClock.now() < deadline {
            worker.loop.runOnce(maxWaitNanos: 5_000_000)
            let n = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n >= 0 { return Array(buffer[0..<n]) }
        }
        return nil
    }
}

private func bindingRequest(fingerprint: Bool = false) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 128)
    let count = try buffer.withUnsafeMutableBytes { raw throws(StunBuildError) -> Int in
        var builder = try StunMessageBuilder(into: raw, type: .bindingRequest, transactionID: .random())
        if fingerprint { try builder.appendFingerprint() }
        return builder.count
    }
    return Array(buffer[0..<count])
}

private func makeWorker(rateLimit: UInt32 = 0, tcp: Bool = true) throws -> MediaWorker {
    var config = MediaWorkerConfig()
    config.listenAddresses = [SocketAddress(ip: "127.0.0.1", port: 0)!, SocketAddress(ip: "::1", port: 0)!]
    config.tcp = tcp
    config.poolSlots = 128
    config.responder.ratePerSecond = rateLimit
    config.responder.burst = max(rateLimit, 1)
    return try MediaWorker(id: 0, config: config)
}

private final class AllocationProbe {
    var value = 0
}

final class MediaWorkerTests: XCTestCase {
    func testAnswersBindingOverIPv4AndIPv6WithTheClientsAddress() throws {
        let worker = try makeWorker()
        for (index, ip) in ["127.0.0.1", "::1"].enumerated() {
            let client = try Client(ip: ip, server: worker.boundAddresses[index])
            let request = try bindingRequest(fingerprint: true)
            client.send(request)
            let reply = try XCTUnwrap(client.receive(driving: worker))
            try reply.withUnsafeBytes { raw in
                let message = try StunMessageView(raw)
                XCTAssertEqual(message.type, .bindingSuccess)
                XCTAssertEqual(request.withUnsafeBytes { TransactionID(bytes: UnsafeRawBufferPointer(rebasing: $0[8..<20])) },
                               message.transactionID)
                XCTAssertEqual(message.xorAddress(.xorMappedAddress).map { SocketAddress($0).description },
                               client.socket.localAddress.description)
                XCTAssertEqual(message.verifyFingerprint(), true)
            }
        }
        let counters = worker.currentCounters
        XCTAssertEqual(counters.stun.successResponses, 2)
        XCTAssertEqual(counters.udpDatagramsIn, 2)
        XCTAssertEqual(counters.udpDatagramsOut, 2)
    }

    func testOversizedAndForeignDatagramsAreCountedNotAnswered() throws {
        let worker = try makeWorker()
        let client = try Client(ip: "127.0.0.1", server: worker.boundAddresses[0])
        client.send([UInt8](repeating: 0, count: 4000))  // longer than a pool slot
        client.send(Array("GET / HTTP/1.1\r\nHost: gateway\r\n\r\n".utf8))
        XCTAssertNil(client.receive(driving: worker, timeoutMs: 200))
        let counters = worker.currentCounters
        XCTAssertEqual(counters.udpTruncated, 1)
        XCTAssertEqual(counters.stun.drops[.notStun], 1)
        XCTAssertEqual(counters.udpDatagramsOut, 0)
    }

    func testRateLimitDropsAreCountedPerSource() throws {
        let worker = try makeWorker(rateLimit: 2)
        let flooder = try Client(ip: "127.0.0.1", server: worker.boundAddresses[0])
        for _ in 0..<10 { flooder.send(try bindingRequest()) }
        var answered = 0
        while flooder.receive(driving: worker, timeoutMs: 100) != nil { answered += 1 }
        XCTAssertLessThanOrEqual(answered, 3)
        XCTAssertGreaterThanOrEqual(answered, 2)
        XCTAssertEqual(worker.currentCounters.stun.drops[.rateLimited], UInt64(10 - answered))
        let other = try Client(ip: "127.0.0.2", server: worker.boundAddresses[0])
        other.send(try bindingRequest())
        XCTAssertNotNil(other.receive(driving: worker), "another source is not limited by the flood")
    }

    /// A limit set live (reload) applies within one loop turn, before a barrier sent after it
    /// is answered: the daemon confirms live changes that way.
    func testLiveRateLimitAppliesBeforeALaterBarrierIsAnswered() throws {
        let worker = try makeWorker(rateLimit: 0)
        worker.handle.setRateLimit(ratePerSecond: 1, burst: 1)
        worker.handle.send(.barrier(ticket: 7))
        var answer: WorkerReply?
        waitUntil(worker.loop, "the barrier was not answered") {
            answer = worker.handle.reply(for: 7)
            return answer != nil
        }
        guard case .done? = answer else { return XCTFail("barrier answered with \(String(describing: answer))") }
        let flooder = try Client(ip: "127.0.0.3", server: worker.boundAddresses[0])
        for _ in 0..<10 { flooder.send(try bindingRequest()) }
        var answered = 0
        while flooder.receive(driving: worker, timeoutMs: 100) != nil { answered += 1 }
        XCTAssertGreaterThanOrEqual(answered, 1)
        XCTAssertLessThanOrEqual(answered, 2, "burst 1 (plus at most one refill) once the new limit is in force")
    }

    func testAnswersOverTCP() throws {
        let worker = try makeWorker()
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let server = worker.streamAddresses[1]
        XCTAssertEqual(server.withSockAddr { connect(fd, $0, $1) }, 0)
        let request = try bindingRequest()
        let twice = request + request
        XCTAssertEqual(twice.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, twice.count)
        var buffer = [UInt8](repeating: 0, count: 256)
        var received: [UInt8] = []
        let deadline = MonotonicClock.now() + 2_000_000_000
        while received.count < 64 && MonotonicClock.now() < deadline {
            worker.loop.runOnce(maxWaitNanos: 5_000_000)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { received += buffer[0..<n] }
        }
        XCTAssertEqual(received.count, 88, "two 44-byte responses (header + IPv6 XOR-MAPPED-ADDRESS)")
        XCTAssertEqual(worker.currentCounters.tcpAccepted, 1)
        XCTAssertEqual(worker.currentCounters.stun.successResponses, 2)
    }

    /// The hot path (epoll wake-up, recvmmsg, parse, respond, sendmmsg) allocates nothing.
    func testHotPathDoesNotAllocate() throws {
        XCTAssertEqual(rtcgate_malloc_counter_linked(), 1)
        let worker = try makeWorker(tcp: false)
        let client = try Client(ip: "127.0.0.1", server: worker.boundAddresses[0])
        let request = try bindingRequest(fingerprint: true)
        let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 8)
        defer { receiveBuffer.deallocate() }
        var destination = client.server
        func roundTrips(_ count: Int) -> Int {
            var answered = 0
            var sent = 0
            while sent < count {
                let burst = min(16, count - sent)
                for _ in 0..<burst {
                    _ = request.withUnsafeBytes { bytes in
                        destination.withSockAddr { sendto(client.socket.fd, bytes.baseAddress, bytes.count, 0, $0, $1) }
                    }
                }
                sent += burst
                var spins = 0
                while answered < sent && spins < 1000 {
                    worker.loop.runOnce(maxWaitNanos: 1_000_000)
                    while recv(client.socket.fd, receiveBuffer.baseAddress, receiveBuffer.count, Int32(MSG_DONTWAIT)) > 0 {
                        answered += 1
                    }
                    spins += 1
                }
            }
            return answered
        }
        XCTAssertEqual(roundTrips(2000), 2000)  // warm-up: lazy runtime metadata, first timer
        rtcgate_malloc_count_reset()
        let answered = roundTrips(20_000)
        let allocations = rtcgate_malloc_count()
        XCTAssertEqual(answered, 20_000)
        XCTAssertEqual(allocations, 0, "allocations on the worker's packet path")
        destination = client.server
        // Positive control: the counter does see this thread's allocations.
        rtcgate_malloc_count_reset()
        withExtendedLifetime(AllocationProbe()) {}
        XCTAssertGreaterThan(rtcgate_malloc_count(), 0)
    }

    func testConfigProblemsAreReported() {
        var config = MediaWorkerConfig()
        XCTAssertTrue(config.problems().contains("no listening address"))
        config.listenAddresses = [SocketAddress(ip: "127.0.0.1", port: 0)!]
        XCTAssertEqual(config.problems(), [])
        config.poolSlots = 10
        XCTAssertFalse(config.problems().isEmpty)
    }
}
