import Glibc
import Reactor
import TestSupport
import XCTest

/// Collects frames and closes of stream connections.
private final class FrameCollector: StreamConnectionDelegate {
    var frames: [[UInt8]] = []
    var closes: [StreamCloseReason] = []
    var echo = false
    var loop: EventLoop?

    func stream(_ connection: StreamConnection, didReceive frame: UnsafeRawBufferPointer) {
        frames.append(Array(frame))
        if echo, let loop { connection.send(frame, loop: loop) }
    }

    func streamDidClose(_ connection: StreamConnection, reason: StreamCloseReason) { closes.append(reason) }
}

private func connectedStream(to address: SocketAddress) -> Int32 {
    let fd = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
    precondition(address.withSockAddr { connect(fd, $0, $1) } == 0, "connect: \(errno)")
    return fd
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    XCTAssertEqual(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bytes.count)
}

/// A STUN Binding request header with `length` bytes of zeroed attributes.
private func stunFrame(length: Int, marker: UInt8) -> [UInt8] {
    var bytes: [UInt8] = [0x00, 0x01, UInt8(length >> 8), UInt8(length & 0xFF), 0x21, 0x12, 0xA4, 0x42]
    bytes += [UInt8](repeating: marker, count: 12) + [UInt8](repeating: 0, count: length)
    return bytes
}

final class SocketTests: XCTestCase {
    func testUDPBatchRoundTripIPv4AndIPv6() throws {
        for ip in ["127.0.0.1", "::1"] {
            let server = try UDPSocket(bindTo: SocketAddress(ip: ip, port: 0)!, reusePort: true)
            let client = try UDPSocket(bindTo: SocketAddress(ip: ip, port: 0)!)
            XCTAssertNotEqual(server.localAddress.port, 0)
            let batch = DatagramBatch(capacity: 8)
            let pool = BufferPool(capacity: 8, slotSize: 2048)
            for i in 0..<8 { batch.setBuffer(i, pool.payload(of: pool.acquire()!)) }
            for n in 0..<5 {
                let payload = [UInt8](repeating: UInt8(n), count: 100 + n)
                XCTAssertTrue(payload.withUnsafeBytes { client.send($0, to: server.localAddress) })
            }
            waitUntil("nothing arrived") { isReadable(server.fd) }  // loopback queues all five before send returns
            let received = try server.receive(into: batch, count: 8)
            XCTAssertEqual(received, 5, "recvmmsg takes all waiting datagrams in one call")
            for i in 0..<received {
                XCTAssertEqual(batch.length(at: i), 100 + i)
                XCTAssertEqual(Array(batch.received(at: i)), [UInt8](repeating: UInt8(i), count: 100 + i))
                let source = SocketAddress(storage: batch.address(at: i).pointee, length: batch.addressLength(at: i))
                XCTAssertEqual(source.description, client.localAddress.description)
            }
            // Echo them back in one sendmmsg.
            for i in 0..<received {
                batch.setBuffer(i, start: UnsafeMutableRawPointer(mutating: batch.received(at: i).baseAddress!), length: batch.length(at: i))
                batch.setAddress(i, client.localAddress)
            }
            XCTAssertEqual(server.send(batch, count: received).sent, 5)
            XCTAssertEqual(try server.receive(into: batch, count: 8), 0, "an empty socket returns 0, not an error")
        }
    }

    func testTruncatedDatagramIsFlagged() throws {
        let server = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        let client = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        let batch = DatagramBatch(capacity: 1)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        batch.setBuffer(0, buffer)
        XCTAssertTrue([UInt8](repeating: 7, count: 200).withUnsafeBytes { client.send($0, to: server.localAddress) })
        waitUntil("nothing arrived") { isReadable(server.fd) }
        XCTAssertEqual(try server.receive(into: batch, count: 1), 1)
        XCTAssertTrue(batch.wasTruncated(at: 0))
    }

    func testStunFramingOverTCP() throws {
        let loop = try EventLoop()
        let collector = FrameCollector()
        let listener = try StreamListener(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, loop: loop, maxConnections: 2,
                                          receiveBytes: 1024, sendBytes: 1024, idleTimeoutSeconds: 0,
                                          framer: { StunStreamFramer().decide($0) })
        listener.delegate = collector
        let fd = connectedStream(to: listener.localAddress)
        defer { close(fd) }
        let first = stunFrame(length: 8, marker: 1)
        let second = stunFrame(length: 0, marker: 2)
        let channelData: [UInt8] = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]  // padded to 4 over streams
        let stream = first + second + channelData
        writeAll(fd, Array(stream[0..<7]))  // a frame split across writes
        waitUntil(loop) { listener.openConnections == 1 }
        writeAll(fd, Array(stream[7...]))
        waitUntil(loop) { collector.frames.count == 3 }
        XCTAssertEqual(collector.frames, [first, second, channelData])

        writeAll(fd, [0xC0, 0, 0, 0])  // top bits 11: neither STUN nor ChannelData
        waitUntil(loop) { !collector.closes.isEmpty }
        XCTAssertEqual(collector.closes, [.invalidFrame])
        XCTAssertEqual(listener.openConnections, 0)
    }

    func testOversizedFrameAndFullTableAreRefused() throws {
        let loop = try EventLoop()
        let collector = FrameCollector()
        let listener = try StreamListener(bindTo: SocketAddress(ip: "::1", port: 0)!, loop: loop, maxConnections: 1,
                                          receiveBytes: 64, sendBytes: 64, idleTimeoutSeconds: 0,
                                          framer: { StunStreamFramer().decide($0) })
        listener.delegate = collector
        let a = connectedStream(to: listener.localAddress)
        defer { close(a) }
        waitUntil(loop) { listener.openConnections == 1 }
        let b = connectedStream(to: listener.localAddress)
        defer { close(b) }
        waitUntil(loop) { listener.counters.refusedFull == 1 }
        XCTAssertEqual(listener.counters.refusedFull, 1)
        var byte: UInt8 = 0
        XCTAssertEqual(read(b, &byte, 1), 0, "a refused connection is closed at once")
        writeAll(a, stunFrame(length: 200, marker: 9))  // 220 bytes cannot fit a 64-byte buffer
        waitUntil(loop) { !collector.closes.isEmpty }
        XCTAssertEqual(collector.closes, [.frameTooLarge])
    }

    func testUnixSocketLinesEchoAndIdleTimeout() throws {
        let path = "/tmp/rtcgate-test-\(getpid()).sock"
        let loop = try EventLoop()
        let collector = FrameCollector()
        collector.echo = true
        collector.loop = loop
        let listener = try StreamListener(bindTo: SocketAddress(unixPath: path)!, loop: loop, maxConnections: 4,
                                          receiveBytes: 256, sendBytes: 256, idleTimeoutSeconds: 1,
                                          framer: { LineFramer().decide($0) })
        listener.delegate = collector
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        let fd = connectedStream(to: SocketAddress(unixPath: path)!)
        defer { close(fd) }
        writeAll(fd, Array("{\"a\":1}\n{\"b\":2}\n".utf8))
        waitUntil(loop) { collector.frames.count == 2 }
        XCTAssertEqual(collector.frames.map { String(decoding: $0, as: UTF8.self) }, ["{\"a\":1}\n", "{\"b\":2}\n"])
        var reply = [UInt8](repeating: 0, count: 64)
        waitUntil("no echo") { isReadable(fd) }
        let n = read(fd, &reply, 64)
        XCTAssertEqual(String(decoding: reply[0..<max(0, n)], as: UTF8.self), "{\"a\":1}\n{\"b\":2}\n")
        // Silent for over a second: the sweep closes it.
        let deadline = MonotonicClock.now() + 3_500_000_000
        while collector.closes.isEmpty && MonotonicClock.now() < deadline { loop.runOnce(maxWaitNanos: 50_000_000) }
        XCTAssertEqual(collector.closes, [.idle])
        // A second listener on the same live path is refused rather than stealing it.
        XCTAssertThrowsError(try StreamListener(bindTo: SocketAddress(unixPath: path)!, loop: loop, maxConnections: 1,
                                                receiveBytes: 64, sendBytes: 64, idleTimeoutSeconds: 0,
                                                framer: { LineFramer().decide($0) }))
        listener.shutdown()
        withExtendedLifetime(listener) {}
    }

    func testSocketAddressParsing() {
        XCTAssertEqual(SocketAddress(parsing: "127.0.0.1:3478")?.description, "127.0.0.1:3478")
        XCTAssertEqual(SocketAddress(parsing: "[::1]:5349")?.description, "[::1]:5349")
        XCTAssertEqual(SocketAddress(parsing: "::1", defaultPort: 3478)?.description, "[::1]:3478")
        XCTAssertNil(SocketAddress(parsing: "example.org:3478"), "no name resolution")
        XCTAssertNil(SocketAddress(parsing: "127.0.0.1:99999"))
        XCTAssertNil(SocketAddress(unixPath: String(repeating: "x", count: 200)))
    }

    func testWakerStopsALoopFromAnotherThread() throws {
        let loop = try EventLoop()
        let waker = loop.waker
        let thread = try WorkerThread(name: "stopper") {
            usleep(50_000)  // the loop must be blocked in epoll_wait when the stop comes
            waker.stop()
        }
        let start = MonotonicClock.now()
        loop.run()
        thread.join()
        XCTAssertLessThan(MonotonicClock.now() - start, 900_000_000, "stop interrupts the 1 s epoll wait")
    }
}
