import Glibc
import Handover
import Reactor
import XCTest

/// Sockets handed over a Unix socket (SCM_RIGHTS), as a firmware update will hand them to the new
/// binary: the same socket arrives, with its port and the datagrams queued in it.
final class DescriptorChannelTests: XCTestCase {
    private func udpSocket() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let address = SocketAddress(ip: "127.0.0.1", port: 0)!
        guard address.withSockAddr({ bind(fd, $0, $1) }) == 0 else { throw SystemError("bind") }
        return (fd, Self.port(of: fd))
    }

    private static func port(of fd: Int32) -> UInt16 {
        var bound = sockaddr_in(), length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: bound.sin_port)
    }

    private func openDescriptorCount() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }

    func testAPassedSocketKeepsItsPortAndItsQueuedDatagrams() throws {
        let (old, new) = try DescriptorChannel.pair()
        let (fd, port) = try udpSocket()
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        let target = SocketAddress(ip: "127.0.0.1", port: port)!
        for i in 0..<3 { _ = target.withSockAddr { sendto(sender, [UInt8(i)], 1, 0, $0, $1) } }
        try old.send(Array("listeners".utf8), descriptors: [fd])
        close(fd)  // the old process lets go: the socket lives on in the new one
        let (bytes, descriptors) = try new.receive(maxDescriptors: 8)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "listeners")
        XCTAssertEqual(descriptors.count, 1)
        let received = try XCTUnwrap(descriptors.first)
        defer { close(received) }
        XCTAssertEqual(Self.port(of: received), port, "the same socket, the same port: nothing closed and reopened")
        XCTAssertEqual(fcntl(received, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "received close-on-exec")
        var buffer = [UInt8](repeating: 0, count: 8)
        var got: [UInt8] = []
        for _ in 0..<3 where recv(received, &buffer, 8, Int32(MSG_DONTWAIT)) == 1 { got.append(buffer[0]) }
        XCTAssertEqual(got, [0, 1, 2], "the datagrams queued before the handover were not lost")
    }

    func testHundredsOfDescriptorsCrossInChunks() throws {
        let (old, new) = try DescriptorChannel.pair()
        let sockets = (0..<600).map { _ in socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) }
        defer { sockets.forEach { close($0) } }
        XCTAssertFalse(sockets.contains(-1))
        try old.send([1, 2, 3], descriptors: sockets)
        let (bytes, descriptors) = try new.receive(maxDescriptors: 1_000)
        defer { descriptors.forEach { close($0) } }
        XCTAssertEqual(bytes, [1, 2, 3])
        XCTAssertEqual(descriptors.count, 600, "three messages of at most 250")
        XCTAssertEqual(Set(descriptors).count, 600)
        XCTAssertTrue(descriptors.allSatisfy { fcntl($0, F_GETFD) >= 0 })
    }

    func testMoreDescriptorsThanExpectedAreRefusedAndNoneLeak() throws {
        let (old, new) = try DescriptorChannel.pair()
        let sockets = (0..<10).map { _ in socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) }
        defer { sockets.forEach { close($0) } }
        let before = openDescriptorCount()
        try old.send([9], descriptors: sockets)
        XCTAssertThrowsError(try new.receive(maxDescriptors: 5))
        XCTAssertEqual(openDescriptorCount(), before, "the descriptors that arrived were closed")
    }

    func testTimeoutsAndAClosedPeerAreErrorsNotHangs() throws {
        let (old, new) = try DescriptorChannel.pair()
        try new.setReceiveTimeout(seconds: 0.2)
        let started = MonotonicClock.now()
        XCTAssertThrowsError(try new.receive(maxDescriptors: 1))
        XCTAssertLessThan(MonotonicClock.now() - started, 2_000_000_000)
        XCTAssertGreaterThanOrEqual(old.fd, 0)
        let reader: DescriptorChannel
        do {
            let (writer, end) = try DescriptorChannel.pair()
            reader = end
            XCTAssertGreaterThanOrEqual(writer.fd, 0)
        }  // the writer is released here: its end closes
        XCTAssertThrowsError(try reader.receive(maxDescriptors: 1)) { error in
            XCTAssertTrue("\(error)".contains("closed"), "\(error)")
        }
    }
}

/// The snapshot's framing: a successor refuses what it cannot read, whole.
final class SnapshotEnvelopeTests: XCTestCase {
    func testRoundTripAndRefusals() throws {
        let payload = Array("{\"allocations\":[]}".utf8)
        let sealed = SnapshotEnvelope.seal(payload)
        XCTAssertEqual(try SnapshotEnvelope.open(sealed), payload)
        XCTAssertThrowsError(try SnapshotEnvelope.open(SnapshotEnvelope.seal(payload, version: 2))) { error in
            XCTAssertEqual(error as? SnapshotEnvelope.Refusal, .unsupportedVersion(found: 2, supported: 1))
            XCTAssertTrue("\(error)".contains("keeps serving"))
        }
        var flipped = sealed
        flipped[flipped.count - 3] ^= 0x01
        XCTAssertThrowsError(try SnapshotEnvelope.open(flipped)) { XCTAssertEqual($0 as? SnapshotEnvelope.Refusal, .checksumMismatch) }
        for cut in 0..<sealed.count {
            XCTAssertThrowsError(try SnapshotEnvelope.open(Array(sealed.prefix(cut))), "a snapshot cut at \(cut) bytes is refused")
        }
        XCTAssertThrowsError(try SnapshotEnvelope.open(sealed + [0]))
        XCTAssertThrowsError(try SnapshotEnvelope.open(Array("GET / HTTP/1.1\r\n\r\n".utf8))) {
            XCTAssertEqual($0 as? SnapshotEnvelope.Refusal, .notASnapshot)
        }
    }

    func testChecksumIsCRC32C() {
        // The standard check value of CRC-32C: "123456789" → 0xE3069283.
        let sealed = SnapshotEnvelope.seal(Array("123456789".utf8))
        XCTAssertEqual(Array(sealed[16..<20]), [0xE3, 0x06, 0x92, 0x83])
    }
}
