import Glibc
import Reactor
import XCTest

/// UDP generic segmentation: runs of same-size datagrams to one destination leave as one
/// message and must arrive as the separate datagrams they were, in order, whatever the mix.
final class SegmentationTests: XCTestCase {
    /// One datagram to send: destination index and bytes.
    private struct Outgoing {
        let to: Int
        let bytes: [UInt8]
    }

    private func datagram(_ tag: UInt8, _ sequence: Int, length: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: tag, count: length)
        bytes[0] = UInt8(sequence & 0xFF)
        return bytes
    }

    /// Sends `outgoing` in one batch from `sender` and returns what each receiver got.
    private func exchange(_ outgoing: [Outgoing], from sender: UDPSocket, to receivers: [UDPSocket],
                          batch: DatagramBatch) throws -> [[[UInt8]]] {
        precondition(outgoing.count <= batch.capacity)
        var storage = outgoing.map(\.bytes)
        let sent = storage.withUnsafeMutableBufferPointer { buffers -> (sent: Int, failed: Int) in
            for i in buffers.indices {
                buffers[i].withUnsafeMutableBytes { batch.setBuffer(i, start: $0.baseAddress!, length: $0.count) }
                batch.setAddress(i, receivers[outgoing[i].to].localAddress)
            }
            return sender.send(batch, count: outgoing.count)
        }
        XCTAssertEqual(sent.sent, outgoing.count)
        XCTAssertEqual(sent.failed, 0)
        var got = [[[UInt8]]](repeating: [], count: receivers.count)
        let expected = receivers.indices.map { r in outgoing.filter { $0.to == r }.count }
        let receive = DatagramBatch(capacity: 64)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 2048, alignment: 16)
        defer { buffer.deallocate() }
        for i in 0..<64 { receive.setBuffer(i, UnsafeMutableRawBufferPointer(rebasing: buffer[(i * 2048)..<((i + 1) * 2048)])) }
        let deadline = MonotonicClock.now() + 2_000_000_000
        for (r, receiver) in receivers.enumerated() {
            while got[r].count < expected[r] && MonotonicClock.now() < deadline {
                let n = try receiver.receive(into: receive, count: 64)
                if n == 0 { usleep(1000); continue }
                for i in 0..<n { got[r].append(Array(receive.received(at: i))) }
            }
        }
        storage.removeAll()
        return got
    }

    func testRunsArriveAsSeparateDatagramsInOrder() throws {
        for ip in ["127.0.0.1", "::1"] {
            let sender = try UDPSocket(bindTo: SocketAddress(ip: ip, port: 0)!, segmentation: true)
            XCTAssertTrue(sender.segmentation, "Linux ≥ 4.18 has UDP_SEGMENT")
            let receivers = try (0..<2).map { _ in try UDPSocket(bindTo: SocketAddress(ip: ip, port: 0)!) }
            // Runs: 5 × 100 to A then a shorter 60 (ends the run), 3 × 100 to B, 2 × 200 to A,
            // 1 × 100 to B, then a longer one to B (starts a new run), then 4 × 172 to A.
            var outgoing: [Outgoing] = []
            var sequence = 0
            func add(_ to: Int, _ length: Int) {
                outgoing.append(Outgoing(to: to, bytes: datagram(to == 0 ? 0xA0 : 0xB0, sequence, length: length)))
                sequence += 1
            }
            for _ in 0..<5 { add(0, 100) }
            add(0, 60)
            for _ in 0..<3 { add(1, 100) }
            for _ in 0..<2 { add(0, 200) }
            add(1, 100)
            add(1, 300)
            for _ in 0..<4 { add(0, 172) }
            let batch = DatagramBatch(capacity: 32)
            let got = try exchange(outgoing, from: sender, to: receivers, batch: batch)
            for r in 0..<2 {
                XCTAssertEqual(got[r], outgoing.filter { $0.to == r }.map(\.bytes), "\(ip) receiver \(r): every datagram, whole, in order")
            }
            // [A×6] [B×3] [A×2] [B] [B] [A×4]: four runs of several datagrams, 15 datagrams in them.
            XCTAssertEqual(batch.segmentedRuns, 4, ip)
            XCTAssertEqual(batch.segmentedDatagrams, 15, ip)
            XCTAssertEqual(batch.segmentationFallbacks, 0, ip)
        }
    }

    /// Sends `count` datagrams of `length` bytes to one receiver in one batch; they must
    /// arrive whole and in order, in `runs` segmented messages, none refused by the kernel.
    private func assertOneDestination(count: Int, length: Int, runs: Int, _ why: String) throws {
        let sender = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, segmentation: true)
        let receiver = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, bufferBytes: 1 << 20)
        let outgoing = (0..<count).map { Outgoing(to: 0, bytes: datagram(0xC0, $0, length: length)) }
        let batch = DatagramBatch(capacity: count)
        let got = try exchange(outgoing, from: sender, to: [receiver], batch: batch)
        XCTAssertEqual(got[0], outgoing.map(\.bytes))
        XCTAssertEqual(batch.segmentedRuns, UInt64(runs), why)
        XCTAssertEqual(batch.segmentedDatagrams, UInt64(count))
        XCTAssertEqual(batch.segmentationFallbacks, 0, "no run the kernel had to refuse")
    }

    func testLongRunsSplitAtTheSegmentLimit() throws {
        try assertOneDestination(count: 100, length: 40, runs: 2, "62 segments of 40 bytes at most per message")
    }

    func testRunsStayUnderTheByteLimit() throws {
        try assertOneDestination(count: 60, length: 1400, runs: 2, "46 × 1400 bytes fit in one message, 47 do not")
    }

    func testDestinationErrorsAreNotRefusals() throws {
        // An IPv6-only socket cannot reach an IPv4-mapped address: ENETUNREACH, decided locally
        // (nothing is sent). That is the destination's error, not a refused run: counted as
        // failed, not resent one by one, and segmentation stays on.
        let sender = try UDPSocket(bindTo: SocketAddress(ip: "::1", port: 0)!, segmentation: true)
        let unreachable = SocketAddress(ip: "::ffff:127.0.0.1", port: 9)!
        let batch = DatagramBatch(capacity: 8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * 100, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0x42)
        for _ in 0..<20 {
            for i in 0..<6 {
                batch.setBuffer(i, start: buffer.baseAddress! + i * 100, length: 100)
                batch.setAddress(i, unreachable)
            }
            let result = sender.send(batch, count: 6)
            XCTAssertEqual(result.sent, 0)
            XCTAssertEqual(result.failed, 6)
        }
        XCTAssertEqual(batch.segmentationFallbacks, 0)
        XCTAssertTrue(sender.segmentation)
    }

    func testRefusedRunFallsBackToOneDatagramPerMessage() throws {
        // SO_NO_CHECK (no UDP checksum) is incompatible with segmentation: the kernel refuses
        // the run with EINVAL, and each of its datagrams must still go out on its own.
        let sender = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, segmentation: true)
        var one: Int32 = 1
        XCTAssertEqual(setsockopt(sender.fd, SOL_SOCKET, SO_NO_CHECK, &one, socklen_t(MemoryLayout<Int32>.size)), 0)
        let receiver = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        let outgoing = (0..<6).map { Outgoing(to: 0, bytes: datagram(0xD0, $0, length: 120)) }
        let batch = DatagramBatch(capacity: 8)
        let got = try exchange(outgoing, from: sender, to: [receiver], batch: batch)
        XCTAssertEqual(got[0], outgoing.map(\.bytes))
        XCTAssertEqual(batch.segmentationFallbacks, 1)
        XCTAssertEqual(batch.segmentedRuns, 0)
        XCTAssertTrue(sender.segmentation, "one EINVAL concerns that run only")
        // A socket whose runs keep being refused stops trying (16 refusals), and still delivers.
        var delivered = 1
        for _ in 0..<20 where try exchange(outgoing, from: sender, to: [receiver], batch: batch)[0] == outgoing.map(\.bytes) {
            delivered += 1
        }
        XCTAssertEqual(delivered, 21)
        XCTAssertFalse(sender.segmentation, "segmentation off after repeated refusals")
        XCTAssertEqual(batch.segmentationFallbacks, 16)
    }

    func testSegmentationIsOptIn() throws {
        let plain = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        XCTAssertFalse(plain.segmentation)
        let receiver = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        let outgoing = (0..<4).map { Outgoing(to: 0, bytes: datagram(0xE0, $0, length: 80)) }
        let batch = DatagramBatch(capacity: 4)
        let got = try exchange(outgoing, from: plain, to: [receiver], batch: batch)
        XCTAssertEqual(got[0], outgoing.map(\.bytes))
        XCTAssertEqual(batch.segmentedRuns, 0)
    }
}
