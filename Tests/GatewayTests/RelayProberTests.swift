import Gateway
import Glibc
import Reactor
import TestSupport
import XCTest

/// The relay prober over real UDP sockets on loopback: STUN Binding probes at most one per second
/// per peer, answered by a small responder here; lost probes counted; junk and forged answers
/// dropped and counted without touching the estimates.
final class RelayProberTests: XCTestCase {
    /// A UDP socket on 127.0.0.1 that answers Binding requests (20-byte success header, same
    /// transaction id) unless `silent`, and counts what it received.
    final class Responder {
        let fd: Int32
        let port: UInt16
        var silent = false
        var received = 0, requestBytes = 0

        init() throws {
            let socketFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            let address = SocketAddress(ip: "127.0.0.1", port: 0)!
            guard address.withSockAddr({ bind(socketFD, $0, $1) }) == 0 else { throw SystemError("bind") }
            var bound = sockaddr_in(), length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
            fd = socketFD
            port = UInt16(bigEndian: bound.sin_port)
        }

        deinit { close(fd) }

        func serve() {
            var buffer = [UInt8](repeating: 0, count: 1_500)
            var from = sockaddr_storage(), length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            while true {
                let n = withUnsafeMutablePointer(to: &from) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) }
                }
                guard n >= 20 else { return }
                received += 1
                requestBytes += n
                guard !silent else { continue }
                buffer[0] = 0x01
                buffer[1] = 0x01
                _ = withUnsafePointer(to: &from) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer, 20, 0, $0, length) }
                }
            }
        }
    }

    func testProbesMeasureLossAndDropJunk() throws {
        let loop = try EventLoop(maxRegistrations: 16, timerCapacity: 64, tickNanos: 5_000_000)
        let responder = try Responder()
        let prober = try RelayProber(loop: loop, local: SocketAddress(ip: "127.0.0.1", port: 0)!, capacity: 4, intervalMs: 1_000)
        defer { prober.stop() }
        prober.setTargets([(name: "b", address: SocketAddress(ip: "127.0.0.1", port: responder.port)!)])
        let started = MonotonicClock.now()
        XCTAssertTrue(holds(within: 6, loop: loop) {
            responder.serve()
            return prober.probesAnswered >= 3
        })
        let seconds = Double(MonotonicClock.now() - started) / 1e9
        XCTAssertLessThanOrEqual(Double(prober.probesSent), seconds / 0.8 + 1, "at most one probe per 0.8 s (1 s, jittered ±20 %)")
        XCTAssertEqual(responder.requestBytes, 20 * responder.received, "a probe is a bare 20-byte Binding request")
        let estimate = try XCTUnwrap(prober.estimates.first?.estimate)
        XCTAssertEqual(estimate.loss, 0)
        XCTAssertLessThan(estimate.rttMicros, 50_000)

        // Junk, forged answers (wrong salt) and a flood of them: dropped, counted, no effect.
        let flood = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(flood) }
        let target = SocketAddress(ip: "127.0.0.1", port: prober.localPort)!
        var forged: [UInt8] = [0x01, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42] + [UInt8](repeating: 7, count: 12)
        for i in 0..<2_000 {
            forged[19] = UInt8(i & 0xff)
            let datagram = i % 2 == 0 ? forged : [UInt8](repeating: UInt8(i & 0xff), count: i % 60)
            _ = target.withSockAddr { sendto(flood, datagram, datagram.count, 0, $0, $1) }
            if i % 200 == 0 { runLoop(loop, for: 0.01) }
        }
        runLoop(loop, for: 0.3)
        XCTAssertGreaterThan(prober.strayDatagrams, 1_000, "junk counted (some may have been dropped by the kernel's buffer)")
        XCTAssertEqual(prober.estimates.first?.estimate.loss, 0, "and the estimate untouched")

        // The peer goes silent: probes time out after 2 s and count as lost.
        responder.silent = true
        let answered = prober.probesAnswered
        XCTAssertTrue(holds(within: 8, loop: loop) {
            responder.serve()
            return prober.probesLost >= 2
        })
        XCTAssertEqual(prober.probesAnswered, answered)
        XCTAssertGreaterThan(prober.estimates.first?.estimate.loss ?? 0, 0.3)
    }

    func testNoPeersNoTimerNoTraffic() throws {
        let loop = try EventLoop(maxRegistrations: 16, timerCapacity: 64, tickNanos: 5_000_000)
        let prober = try RelayProber(loop: loop, local: SocketAddress(ip: "127.0.0.1", port: 0)!, capacity: 4, intervalMs: 1_000)
        defer { prober.stop() }
        runLoop(loop, for: 1.5)
        XCTAssertEqual(prober.probesSent, 0)
        XCTAssertNil(loop.timers.nanosUntilNextDeadline(now: MonotonicClock.now()), "an instance alone arms nothing")
    }
}
