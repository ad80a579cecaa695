import Glibc
import Reactor
import XCTest

/// Socket buffers as asked (forced past the system maximum where the process may) and the
/// kernel's own count of datagrams dropped for a full receive buffer (SO_RXQ_OVFL).
final class KernelDropTests: XCTestCase {
    private func rmemMax() -> Int {
        guard let file = fopen("/proc/sys/net/core/rmem_max", "r") else { return 0 }
        defer { fclose(file) }
        var value = 0
        return withVaList([withUnsafeMutablePointer(to: &value) { $0 }]) { vfscanf(file, "%ld", $0) } == 1 ? value : 0
    }

    func testBufferIsForcedWhenPermittedAndReportedAsTheKernelHasIt() throws {
        let asked = 4 << 20
        let socket = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, bufferBytes: asked)
        if geteuid() == 0 {
            XCTAssertFalse(socket.bufferCapped, "root may force the size (SO_RCVBUFFORCE)")
            XCTAssertEqual(socket.receiveBufferBytes, 2 * asked, "the kernel doubles the request for its bookkeeping")
            XCTAssertEqual(socket.sendBufferBytes, 2 * asked)
        } else {
            XCTAssertEqual(socket.bufferCapped, asked > rmemMax())
        }
        let plain = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        XCTAssertFalse(plain.bufferCapped, "nothing asked, nothing capped")
        XCTAssertGreaterThan(plain.receiveBufferBytes, 0)
    }

    /// Overflow a small receive buffer: every datagram sent is either received or counted as a
    /// kernel drop, exactly.
    func testDropsFromAFullReceiveBufferAreCountedExactly() throws {
        let receiver = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, bufferBytes: 4096)
        let sender = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        let payload = [UInt8](repeating: 0xAB, count: 1000)
        let sent = 300
        for _ in 0..<sent { XCTAssertTrue(payload.withUnsafeBytes { sender.send($0, to: receiver.localAddress) }) }
        let batch = DatagramBatch(capacity: 32)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 2048, alignment: 16)
        defer { buffer.deallocate() }
        for i in 0..<32 { batch.setBuffer(i, UnsafeMutableRawBufferPointer(rebasing: buffer[(i * 2048)..<((i + 1) * 2048)])) }
        var received = 0
        while true {
            let n = try receiver.receive(into: batch, count: 32)
            if n == 0 { break }
            received += n
        }
        XCTAssertLessThan(received, sent, "a 4 KiB buffer cannot hold 300 KB")
        // The kernel stamps its drop count on the datagrams queued after the drops: the next one
        // brings it. The batch is usable for sending (no receive control data left in it).
        for round in 0..<2 {
            batch.setBuffer(0, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<10]))
            batch.setAddress(0, receiver.localAddress)
            XCTAssertEqual(sender.send(batch, count: 1).sent, 1)
            XCTAssertEqual(try receiver.receive(into: batch, count: 32), 1)
            XCTAssertEqual(receiver.kernelDrops, UInt64(sent - received), round == 0 ? "every drop counted" : "no new drops")
        }
    }
}
