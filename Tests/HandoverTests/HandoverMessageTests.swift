import Glibc
import Handover
import Reactor
import XCTest

/// The handover's messages (docs/handover.md): large payloads in pieces, the offer and the
/// snapshot with their sockets, refusals that leave no descriptor open, and sockets claimed in
/// the order they were offered.
final class HandoverMessageTests: XCTestCase {
    private func openDescriptorCount() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }

    private func eventfds(_ count: Int) -> [Int32] { (0..<count).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) } }

    /// Hands a value to another thread in a test (it is not touched here meanwhile).
    private struct Handed<Value>: @unchecked Sendable { let value: Value }

    func testALargeMessageCrossesInPiecesWithItsDescriptors() throws {
        let (a, b) = try DescriptorChannel.pair()
        let old = HandoverLink(channel: a), new = HandoverLink(channel: b)
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<250_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let fds = eventfds(300)
        defer { fds.forEach { close($0) } }
        // 250 kB is several pieces: sent from another thread so the socket buffer never blocks us.
        let handed = Handed(value: (old, payload, fds))
        let sender = Thread { try? handed.value.0.send(.snapshot, handed.value.1, descriptors: handed.value.2) }
        sender.start()
        try new.channel.setReceiveTimeout(seconds: 5)
        let message = try new.receive()
        defer { message.descriptors.forEach { close($0) } }
        XCTAssertEqual(message.step, .snapshot)
        XCTAssertEqual(message.payload, payload)
        XCTAssertEqual(message.descriptors.count, 300)
        XCTAssertTrue(message.descriptors.allSatisfy { fcntl($0, F_GETFD) >= 0 })
    }

    func testOfferAndSnapshotRoundTrip() throws {
        let (a, b) = try DescriptorChannel.pair()
        let old = HandoverLink(channel: a), new = HandoverLink(channel: b)
        let fds = eventfds(3)
        defer { fds.forEach { close($0) } }
        let entries = [InheritedSockets.Entry(kind: .udpListener, key: "127.0.0.1:3478", fd: fds[0]),
                       InheritedSockets.Entry(kind: .udpListener, key: "127.0.0.1:3478", fd: fds[1]),
                       InheritedSockets.Entry(kind: .lockFile, key: "/var/lib/rtcgate/lock", fd: fds[2])]
        try HandoverOffer(pid: 42, version: "1.2.3", workers: 2, nonceSecret: Array(repeating: 9, count: 32), sockets: entries).send(on: old)
        let offer = try HandoverOffer.read(try new.receive())
        defer { offer.sockets.forEach { close($0.fd) } }
        XCTAssertEqual(offer.pid, 42)
        XCTAssertEqual(offer.version, "1.2.3")
        XCTAssertEqual(offer.workers, 2)
        XCTAssertEqual(offer.nonceSecret, Array(repeating: 9, count: 32))
        XCTAssertEqual(offer.sockets.map(\.key), entries.map(\.key))
        XCTAssertEqual(offer.sockets.map(\.kind), entries.map(\.kind))

        try HandoverSnapshot(pausedAt: 123_456, workers: [[1, 2, 3], []], relays: [entries[0]]).send(on: old)
        let snapshot = try HandoverSnapshot.read(try new.receive())
        defer { snapshot.relays.forEach { close($0.fd) } }
        XCTAssertEqual(snapshot.pausedAt, 123_456)
        XCTAssertEqual(snapshot.workers, [[1, 2, 3], []])
        XCTAssertEqual(snapshot.relays.map(\.key), ["127.0.0.1:3478"])
    }

    func testARefusedOfferClosesEveryDescriptorItCarried() throws {
        let (a, b) = try DescriptorChannel.pair()
        let old = HandoverLink(channel: a), new = HandoverLink(channel: b)
        let fds = eventfds(4)
        defer { fds.forEach { close($0) } }
        let before = openDescriptorCount()
        // Another format version (a newer build's offer), then a damaged one, then a lie about the count.
        var writer = SnapshotWriter()
        writer.u32(1)
        writer.string("9.9")
        try old.send(.offer, SnapshotEnvelope.seal(writer.bytes, version: SnapshotEnvelope.currentVersion + 1), descriptors: fds)
        XCTAssertThrowsError(try HandoverOffer.read(try new.receive())) { error in
            XCTAssertTrue("\(error)".contains("snapshot format"), "\(error)")
        }
        var sealed = SnapshotEnvelope.seal(writer.bytes)
        sealed[sealed.count - 1] ^= 1
        try old.send(.offer, sealed, descriptors: fds)
        XCTAssertThrowsError(try HandoverOffer.read(try new.receive()))
        let described = [InheritedSockets.Entry(kind: .relay, key: "a", fd: fds[0]), InheritedSockets.Entry(kind: .relay, key: "b", fd: fds[1])]
        try HandoverOffer(pid: 1, version: "x", workers: 1, nonceSecret: [], sockets: described).send(on: old)
        var lie = try new.receive()
        lie.descriptors.forEach { close($0) }
        lie.descriptors = []
        XCTAssertThrowsError(try HandoverOffer.read(lie)) { error in
            XCTAssertTrue("\(error)".contains("2 sockets described, 0 received"), "\(error)")
        }
        XCTAssertEqual(openDescriptorCount(), before, "no descriptor of a refused offer stays open")
    }

    func testSnapshotReaderNeverReadsPastTheEnd() {
        var writer = SnapshotWriter()
        writer.u64(7)
        writer.blob([1, 2, 3])
        for cut in 0..<writer.bytes.count {
            var reader = SnapshotReader(Array(writer.bytes[0..<cut]))
            XCTAssertThrowsError(try { _ = try reader.u64(); _ = try reader.blob() }(), "cut at \(cut)")
        }
        var huge = SnapshotWriter()
        huge.u32(UInt32.max)
        var reader = SnapshotReader(huge.bytes)
        XCTAssertThrowsError(try reader.count(minimumBytes: 10), "a count larger than the bytes left")
    }

    func testSocketsAreClaimedInTheOrderOffered() throws {
        let first = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: true)
        let address = first.localAddress
        let second = try UDPSocket(bindTo: address, reusePort: true)
        InheritedSockets.offer([.init(kind: .udpListener, key: address.description, fd: dup(first.fd)),
                                .init(kind: .udpListener, key: address.description, fd: dup(second.fd)),
                                .init(kind: .relay, key: "elsewhere", fd: open("/dev/null", O_RDONLY))])
        // A listener on that address adopts the old sockets, first offered first.
        let adopted = try UDPSocket(bindTo: address, reusePort: true)
        let adoptedToo = try UDPSocket(bindTo: address, reusePort: true)
        XCTAssertEqual(adopted.localAddress.description, address.description)
        for (mine, theirs) in [(adopted, first), (adoptedToo, second)] {
            var a = stat(), b = stat()
            fstat(mine.fd, &a)
            fstat(theirs.fd, &b)
            XCTAssertEqual(a.st_ino, b.st_ino, "the very socket the old process had")
        }
        XCTAssertEqual(InheritedSockets.closeUnclaimed().map(\.key), ["elsewhere"])
        XCTAssertTrue(InheritedSockets.unclaimed.isEmpty)
    }
}
