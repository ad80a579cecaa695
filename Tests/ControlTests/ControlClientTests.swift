import Glibc
import JSON
import Reactor
import Synchronization
import TestSupport
import XCTest

@testable import Control

/// The client blocks, so the server runs on a loop of its own thread here.
final class ControlClientTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var path: String { directory.path + "/control.sock" }

    override func setUp() { directory = TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    /// Runs a server with a `StubHandler` on a thread until `body` returns.
    private func withServer(_ configure: @escaping @Sendable (inout ControlServerConfiguration) -> Void = { _ in },
                            _ body: () throws -> Void) throws {
        let ready = Mutex<Int>(0)  // 0 starting, 1 ready, 2 failed
        let stopper = Mutex<LoopWaker?>(nil)
        let path = self.path
        let thread = Thread {
            guard let loop = try? EventLoop(maxRegistrations: 64, timerCapacity: 64) else { return ready.withLock { $0 = 2 } }
            var configuration = ControlServerConfiguration(path: path)
            configure(&configuration)
            guard let server = try? ControlServer(configuration: configuration, loop: loop, handler: StubHandler()) else {
                return ready.withLock { $0 = 2 }
            }
            stopper.withLock { $0 = loop.waker }
            ready.withLock { $0 = 1 }
            loop.run()
            server.shutdown()
        }
        thread.start()
        waitUntil("the server thread did not start") { ready.withLock { $0 } != 0 }
        XCTAssertEqual(ready.withLock { $0 }, 1)
        defer {
            stopper.withLock { $0?.stop() }
            var info = stat()
            waitUntil("the socket file outlived the server", timeout: 2) { lstat(path, &info) != 0 }
        }
        try body()
    }

    func testCallsAndRemoteErrors() throws {
        try withServer {
            let client = ControlClient(path: path)
            XCTAssertEqual(try client.call("echo", args: ["x": 1], timeout: 2), ["x": 1])
            XCTAssertEqual(try client.call("echo", timeout: 2), .object([]))
            XCTAssertThrowsError(try client.call("fail", args: [:], timeout: 2)) { error in
                XCTAssertEqual(error as? ControlClientError, .remote(code: .notFound, message: "nothing here"))
                XCTAssertEqual((error as? ControlClientError)?.exitCode, 1)
            }
            let response = try client.send(ControlRequest(id: "mine", command: "fail"), timeout: 2)
            XCTAssertEqual(response, .error("mine", .notFound, "nothing here"))
        }
    }

    func testNotRunning() {
        let client = ControlClient(path: path)
        XCTAssertThrowsError(try client.call("status", args: [:], timeout: 1)) { error in
            XCTAssertEqual(error as? ControlClientError, .notRunning(path: path))
            XCTAssertEqual("\(error)", "rtcgate is not running (no control socket at \(path))")
            XCTAssertEqual((error as? ControlClientError)?.exitCode, 3)
        }
        // A stale socket file nobody listens on: ECONNREFUSED.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertEqual(SocketAddress(unixPath: path)!.withSockAddr { bind(stale, $0, $1) }, 0)
        close(stale)
        XCTAssertThrowsError(try client.call("status", args: [:], timeout: 1)) { error in
            XCTAssertEqual(error as? ControlClientError, .notRunning(path: path))
        }
    }

    func testForbiddenIsPermissionDenied() throws {
        try withServer({ $0.access.trustsRootAndSelf = false }) {
            XCTAssertThrowsError(try ControlClient(path: path).call("status", args: [:], timeout: 2)) { error in
                guard case .permissionDenied(_, let detail)? = error as? ControlClientError else { return XCTFail("\(error)") }
                XCTAssertTrue(detail.contains("may not use the control socket"), detail)
                XCTAssertEqual((error as? ControlClientError)?.exitCode, 4)
            }
        }
    }

    func testBusyIsARemoteError() throws {
        try withServer({ $0.maxClients = 1 }) {
            let holder = RawClient(path: path)
            holder.write(#"{"v":1,"id":1,"cmd":"echo"}"# + "\n")
            XCTAssertNotNil(holder.blockingReadLine(), "the holder has its slot")
            XCTAssertThrowsError(try ControlClient(path: path).call("echo", args: [:], timeout: 2)) { error in
                guard case .remote(.busy, _)? = error as? ControlClientError else { return XCTFail("\(error)") }
            }
            _ = holder
        }
    }

    func testTimeoutWhenTheServerNeverReplies() throws {
        try withServer {
            let start = MonotonicClock.now()
            XCTAssertThrowsError(try ControlClient(path: path).call("later", args: [:], timeout: 0.3)) { error in
                XCTAssertEqual(error as? ControlClientError, .timeout(path: path, seconds: 0.3))
                XCTAssertEqual((error as? ControlClientError)?.exitCode, 5)
            }
            let elapsed = Double(MonotonicClock.now() - start) / 1e9
            XCTAssertGreaterThanOrEqual(elapsed, 0.29)
            XCTAssertLessThan(elapsed, 2)
        }
    }

    func testProtocolErrorFromAServerSpeakingNonsense() throws {
        // A bare listener that answers garbage.
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        XCTAssertEqual(SocketAddress(unixPath: path)!.withSockAddr { bind(listener, $0, $1) }, 0)
        XCTAssertEqual(listen(listener, 4), 0)
        let thread = Thread {
            let fd = accept(listener, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 256)
            _ = read(fd, &buffer, buffer.count)
            _ = Array("HTTP/1.1 400 Bad Request\n".utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        thread.start()
        XCTAssertThrowsError(try ControlClient(path: path).call("status", args: [:], timeout: 2)) { error in
            guard case .protocolError(let detail)? = error as? ControlClientError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("malformed response"), detail)
        }
    }

    func testExitCodeTable() {
        XCTAssertEqual(ControlClientError.remote(code: .exists, message: "").exitCode, ControlExitCode.remoteError)
        XCTAssertEqual(ControlClientError.notRunning(path: "").exitCode, ControlExitCode.notRunning)
        XCTAssertEqual(ControlClientError.permissionDenied(path: "", detail: "").exitCode, ControlExitCode.permissionDenied)
        XCTAssertEqual(ControlClientError.timeout(path: "", seconds: 1).exitCode, ControlExitCode.timeoutOrProtocol)
        XCTAssertEqual(ControlClientError.protocolError("").exitCode, ControlExitCode.timeoutOrProtocol)
    }
}
