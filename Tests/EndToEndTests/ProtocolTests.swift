import Foundation
import Glibc
import STUN
import TestSupport
import XCTest

/// Fails unless `reply` is at most 2.5 times `request` (anti-reflection bound).
func assertAmplification(request: Int, reply: Int, _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertLessThanOrEqual(reply * 10, request * 25, "\(what): \(reply)-byte reply to a \(request)-byte request",
                             file: file, line: line)
}

/// Wire behaviour of the running binary, checked with the project's own STUN codec.
final class ProtocolTests: XCTestCase {
    /// 420 and 400 answers, and silence (but counting) for garbage, responses, indications,
    /// truncated datagrams and bad FINGERPRINTs.
    func testErrorRepliesAndSilentDrops() throws {
        let gateway = try GatewayProcess()
        let client = try UDPClient(bindTo: "127.0.0.1")

        // Unknown comprehension-required attribute (0x0777), with and without FINGERPRINT.
        for fingerprint in [false, true] {
            let request = try StunWire.request(fingerprint: fingerprint) { builder in
                try [UInt8](repeating: 0xAB, count: 4).withUnsafeBytes { try builder.append(AttributeType(rawValue: 0x0777), bytes: $0) }
            }
            try client.send(request.bytes, to: "127.0.0.1", port: gateway.port)
            let bytes = try XCTUnwrap(client.receive(timeout: 2), "no answer to a request with an unknown attribute")
            let reply = try StunReply(bytes)
            XCTAssertEqual(reply.type, .bindingError)
            XCTAssertEqual(reply.transactionID, request.transactionID)
            XCTAssertEqual(reply.errorCode, 420)
            XCTAssertEqual(reply.unknownAttributes, [0x0777])
            XCTAssertEqual(reply.fingerprint, fingerprint ? true : nil, "FINGERPRINT echoed iff sent")
            assertAmplification(request: request.bytes.count, reply: bytes.count, "420")
        }

        // An attribute whose length runs past the end of the message (length field consistent).
        var overrun: [UInt8] = [0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42]
        let transaction: [UInt8] = (0..<12).map { UInt8($0 * 7 + 3) }
        overrun += transaction + [0x80, 0x22, 0x00, 0x64, 0x61, 0x62, 0x63, 0x64]
        try client.send(overrun, to: "127.0.0.1", port: gateway.port)
        let bytes400 = try XCTUnwrap(client.receive(timeout: 2), "no answer to a malformed request")
        let reply400 = try StunReply(bytes400)
        XCTAssertEqual(reply400.type, .bindingError)
        XCTAssertEqual(reply400.errorCode, 400)
        XCTAssertEqual(Array(bytes400[8..<20]), transaction)
        assertAmplification(request: overrun.count, reply: bytes400.count, "400")

        // Silently dropped.
        let garbage = [UInt8](repeating: 0xFF, count: 40)
        let text = Array("hello, this is not a STUN message at all".utf8)
        let response = try StunWire.request(type: .bindingSuccess) { builder in
            try builder.appendXorAddress(.xorMappedAddress, client.localAddress)
        }
        let indication = try StunWire.request(type: StunMessageType(method: .binding, messageClass: .indication))
        let truncated = Array(try StunWire.request().bytes[0..<10])
        var badFingerprint = try StunWire.request(fingerprint: true).bytes
        badFingerprint[badFingerprint.count - 1] ^= 0x01
        for datagram in [garbage, text, response.bytes, indication.bytes, truncated, badFingerprint] {
            try client.send(datagram, to: "127.0.0.1", port: gateway.port)
        }
        let unexpected = client.receiveAll(quiet: 0.5, limit: 2)
        XCTAssertEqual(unexpected.count, 0, "answers to datagrams that must be dropped: \(unexpected)")

        let exit = gateway.stopCleanly()
        let counters = try XCTUnwrap(logFields(exit.log, lineContaining: "final counters"), exit.log)
        XCTAssertEqual(counters["drop_not_stun"], "2", exit.log)
        XCTAssertEqual(counters["drop_response"], "1", exit.log)
        XCTAssertEqual(counters["drop_indication"], "1", exit.log)
        XCTAssertEqual(counters["drop_truncated"], "1", exit.log)
        XCTAssertEqual(counters["drop_bad_fingerprint"], "1", exit.log)
        XCTAssertEqual(counters["stun_errors"], "3", "two 420s and one 400: \(exit.log)")
    }

    /// Per-source token bucket: a flood from one address is cut to burst + refill, another
    /// source address is still served, and no reply is larger than 2.5x its request.
    func testAntiReflectionRateLimitPerSource() throws {
        let gateway = try GatewayProcess(flags: ["--stun-rate-limit", "5", "--stun-rate-burst", "5"])

        // A source the readiness probe (from 127.0.0.1) has not used: its bucket is full.
        let flooder = try UDPClient(bindTo: "127.0.0.3")
        let requests = try (0..<50).map { _ in try StunWire.request() }
        let started = monotonicSeconds()
        for request in requests { try flooder.send(request.bytes, to: "127.0.0.1", port: gateway.port) }
        let elapsed = monotonicSeconds() - started
        let answers = flooder.receiveAll(quiet: 0.3, limit: 3)
        let ids = Set(requests.map(\.transactionID))
        for answer in answers {
            let reply = try StunReply(answer)
            XCTAssertTrue(ids.contains(reply.transactionID))
            XCTAssertEqual(reply.xorMapped, flooder.localAddress)
            assertAmplification(request: requests[0].bytes.count, reply: answer.count, "rate-limited flood")
        }
        let bound = 5 + Int((5 * elapsed).rounded(.up)) + 1
        XCTAssertLessThanOrEqual(answers.count, bound, "50 back-to-back requests in \(elapsed) s")
        XCTAssertGreaterThanOrEqual(answers.count, 1, "the burst must be answered")

        // Another source address on the loopback has its own bucket.
        let other = try UDPClient(bindTo: "127.0.0.2")
        let second = try (0..<3).map { _ in try StunWire.request() }
        for request in second { try other.send(request.bytes, to: "127.0.0.1", port: gateway.port) }
        let otherAnswers = other.receiveAll(quiet: 0.3, limit: 3)
        XCTAssertEqual(otherAnswers.count, 3, "a second source must not be limited by the first")
        for answer in otherAnswers {
            XCTAssertEqual(try StunReply(answer).xorMapped, other.localAddress)
        }

        let exit = gateway.stopCleanly()
        let counters = try XCTUnwrap(logFields(exit.log, lineContaining: "final counters"), exit.log)
        XCTAssertEqual(Int(counters["drop_rate_limited"] ?? "") ?? 0, 50 - answers.count, exit.log)
    }

    /// RFC 8489 stream framing: two requests in one write, one request split across writes
    /// (inside the header and at the header/body boundary); answers in order, to the TCP peer.
    func testTCPFramingPipelinedAndSplit() throws {
        let gateway = try GatewayProcess()
        for ip in ["127.0.0.1", "::1"] {
            let connection = try TCPClient(connectTo: ip, port: gateway.port)
            let first = try StunWire.request()
            let second = try StunWire.request(fingerprint: true)
            try connection.write(first.bytes + second.bytes)
            for request in [first, second] {
                let bytes = try XCTUnwrap(connection.readStunMessage(), "\(ip): no answer to a pipelined request")
                let reply = try StunReply(bytes)
                XCTAssertEqual(reply.type, .bindingSuccess)
                XCTAssertEqual(reply.transactionID, request.transactionID, "\(ip): answers in request order")
                XCTAssertEqual(reply.xorMapped, connection.localAddress, "\(ip): XOR-MAPPED-ADDRESS is the TCP peer")
            }
            for split in [7, StunHeader.size] {
                let request = try StunWire.request(fingerprint: true) { builder in
                    try builder.append(.software, utf8: "rtcgate end-to-end test")
                }
                try connection.write(Array(request.bytes[0..<split]))
                usleep(50_000)  // the server must read the first part alone: that is the case under test
                try connection.write(Array(request.bytes[split...]))
                let bytes = try XCTUnwrap(connection.readStunMessage(), "\(ip): no answer to a request split at \(split)")
                let reply = try StunReply(bytes)
                XCTAssertEqual(reply.transactionID, request.transactionID)
                XCTAssertEqual(reply.xorMapped, connection.localAddress)
                XCTAssertEqual(reply.fingerprint, true)
            }
        }
        gateway.stopCleanly()
    }
}
