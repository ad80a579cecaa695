import Glibc
import JSON
import Reactor
import TestSupport
import XCTest

@testable import Control

final class ControlServerTests: XCTestCase {
    var directory: TemporaryDirectory!
    var loop: EventLoop!
    var handler: StubHandler!
    private var path: String { directory.path + "/run/control.sock" }

    override func setUpWithError() throws {
        directory = TemporaryDirectory()
        loop = try EventLoop(maxRegistrations: 64, timerCapacity: 64)
        handler = StubHandler()
    }

    override func tearDown() {
        directory.remove()
    }

    private func start(_ configure: (inout ControlServerConfiguration) -> Void = { _ in }) throws -> ControlServer {
        var configuration = ControlServerConfiguration(path: path)
        configure(&configuration)
        return try ControlServer(configuration: configuration, loop: loop, handler: handler)
    }

    func testRequestResponseAndPipelining() throws {
        let server = try start()
        defer { server.shutdown() }
        let client = RawClient(path: path)
        client.write(#"{"v":1,"id":1,"cmd":"echo","args":{"a":[1,2]}}"# + "\n")
        XCTAssertEqual(client.readLine(loop), #"{"v":1,"id":1,"ok":true,"result":{"a":[1,2]}}"# + "\n")
        // Four requests in one write, one of them malformed: four answers, in order.
        client.write(#"{"v":1,"id":"a","cmd":"echo"}"# + "\n" + #"{"v":1,"id":"b","cmd":"fail"}"# + "\n"
                     + "not json\n" + #"{"v":1,"id":"d","cmd":"nope"}"# + "\n")
        XCTAssertEqual(client.response(loop), .ok("a", .object([])))
        XCTAssertEqual(client.response(loop), .error("b", .notFound, "nothing here"))
        let bad = client.response(loop)
        XCTAssertEqual(bad?.id, .null)
        guard case .error(.badRequest, let message)? = bad?.outcome else { return XCTFail("\(String(describing: bad))") }
        XCTAssertTrue(message.contains("malformed JSON"), message)
        XCTAssertEqual(client.response(loop), .error("d", .unknownCommand, "no command nope"))
        // A request split across writes.
        client.write(#"{"v":1,"id":5,"#)
        runLoop(loop, for: 0.05)  // the server reads the first half on its own
        client.write(#""cmd":"echo"}"# + "\n")
        XCTAssertEqual(client.response(loop), .ok(5, .object([])))
        XCTAssertEqual(server.counters.requests, 5)
        XCTAssertEqual(server.counters.errors, 3)
        XCTAssertEqual(server.counters.accepted, 1)
        XCTAssertEqual(handler.peers.first?.uid, geteuid())
        XCTAssertEqual(handler.peers.first?.pid, getpid())
    }

    func testAsynchronousRepliesAndRepliesToClosedClients() throws {
        let server = try start()
        defer { server.shutdown() }
        let client = RawClient(path: path)
        client.write(#"{"v":1,"id":1,"cmd":"later"}"# + "\n" + #"{"v":1,"id":2,"cmd":"echo"}"# + "\n")
        XCTAssertEqual(client.response(loop), .ok(2, .object([])))
        XCTAssertEqual(handler.held.count, 1)
        // The handler's id is replaced by the request's.
        handler.held[0](.ok("wrong", "done"))
        XCTAssertEqual(client.response(loop), .ok(1, "done"))
        handler.held[0](.ok(1, "twice"))
        XCTAssertEqual(server.counters.droppedReplies, 1)

        // A reply to a closed connection, after its record was reused by a new client.
        var gone: RawClient? = RawClient(path: path)
        gone!.write(#"{"v":1,"id":3,"cmd":"later"}"# + "\n")
        waitUntil(loop) { handler.held.count == 2 }
        gone = nil
        waitUntil(loop) { server.openConnections == 1 }
        let next = RawClient(path: path)
        next.write(#"{"v":1,"id":4,"cmd":"echo"}"# + "\n")
        XCTAssertEqual(next.response(loop), .ok(4, .object([])))
        handler.held[1](.ok(3, "late"))
        XCTAssertEqual(server.counters.droppedReplies, 2)
        next.write(#"{"v":1,"id":5,"cmd":"echo"}"# + "\n")
        XCTAssertEqual(next.response(loop), .ok(5, .object([])), "the late reply must not reach the new client")
        // After shutdown, replies are dropped too.
        next.write(#"{"v":1,"id":6,"cmd":"later"}"# + "\n")
        waitUntil(loop) { handler.held.count == 3 }
        server.shutdown()
        handler.held[2](.ok(6, "after"))
        XCTAssertEqual(server.counters.droppedReplies, 3)
    }

    func testTooLargeLine() throws {
        let server = try start { $0.maxLineBytes = 1024 }
        defer { server.shutdown() }
        let client = RawClient(path: path)
        let head = #"{"v":1,"id":1,"cmd":"echo","args":{"s":""#
        let exact = head + String(repeating: "y", count: 1024 - head.utf8.count - 4) + #""}}"# + "\n"
        XCTAssertEqual(exact.utf8.count, 1024)
        client.write(exact)
        XCTAssertEqual(client.response(loop)?.isOk, true, "a line of exactly the limit is accepted")
        client.write(#"{"v":1,"id":2,"cmd":"echo"}"# + "\n" + String(repeating: "z", count: 3000))
        XCTAssertEqual(client.response(loop), .ok(2, .object([])))
        XCTAssertEqual(client.response(loop), .error(.null, .tooLarge, "request line longer than 1024 bytes"))
        XCTAssertTrue(client.waitForClose(loop))
        XCTAssertEqual(server.counters.closedTooLarge, 1)
        // A long line that does end in a newline within one read is refused too.
        let second = RawClient(path: path)
        second.write(String(repeating: " ", count: 1100) + "\n")
        XCTAssertEqual(second.response(loop)?.outcome, .error(.tooLarge, "request line longer than 1024 bytes"))
        XCTAssertEqual(server.counters.closedTooLarge, 2)
    }

    func testBusyBeyondMaxClients() throws {
        let server = try start { $0.maxClients = 2 }
        defer { server.shutdown() }
        let a = RawClient(path: path)
        let b = RawClient(path: path)
        waitUntil(loop) { server.openConnections == 2 }
        let c = RawClient(path: path)
        guard case .error(.busy, let message)? = c.response(loop)?.outcome else { return XCTFail() }
        XCTAssertTrue(message.contains("at most 2"), message)
        XCTAssertTrue(c.waitForClose(loop))
        XCTAssertEqual(server.counters.refusedBusy, 1)
        a.write(#"{"v":1,"id":1,"cmd":"echo"}"# + "\n")
        XCTAssertEqual(a.response(loop), .ok(1, .object([])))
        _ = b
    }

    func testForbiddenPeers() throws {
        var policy = ControlAccessPolicy()
        policy.trustsRootAndSelf = false
        let server = try start { $0.access = policy }
        let client = RawClient(path: path)
        guard case .error(.forbidden, let message)? = client.response(loop)?.outcome else { return XCTFail() }
        XCTAssertTrue(message.contains("uid \(geteuid())"), message)
        XCTAssertTrue(client.waitForClose(loop))
        XCTAssertEqual(server.counters.refusedForbidden, 1)
        XCTAssertEqual(server.counters.accepted, 0)
        server.shutdown()

        // The test's uid listed explicitly, or its group configured: allowed.
        for allowed in [ControlAccessPolicy(allowedUids: [geteuid()]), ControlAccessPolicy(groupId: getegid())] {
            var policy = allowed
            policy.trustsRootAndSelf = false
            let server = try start { $0.access = policy }
            let client = RawClient(path: path)
            client.write(#"{"v":1,"id":1,"cmd":"echo"}"# + "\n")
            XCTAssertEqual(client.response(loop), .ok(1, .object([])))
            server.shutdown()
        }
        XCTAssertTrue(ControlAccessPolicy().allows(ControlPeer(pid: 1, uid: 0, gid: 0)))
        XCTAssertFalse(ControlAccessPolicy(groupId: 5).allows(ControlPeer(pid: 1, uid: 4242, gid: 4242)))
        XCTAssertTrue(ControlAccessPolicy(groupId: 5).allows(ControlPeer(pid: 1, uid: 4242, gid: 4242, groups: [7, 5])))
    }

    func testSocketFileModeGroupAndShutdown() throws {
        let server = try start { $0.access = ControlAccessPolicy(groupId: 4321) }
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o7777, 0o660)
        XCTAssertEqual(info.st_gid, 4321)
        XCTAssertEqual(stat(directory.path + "/run", &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o750)
        server.shutdown()
        XCTAssertNotEqual(lstat(path, &info), 0, "shutdown removes the socket file")
        server.shutdown()

        let custom = try start { $0.mode = 0o600 }
        XCTAssertEqual(lstat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o600)
        custom.shutdown()
    }

    func testStaleLiveAndForeignPaths() throws {
        // A socket file nobody listens on (a crashed daemon's) is replaced.
        try FileManagerShim.makeDirectory(directory.path + "/run")
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertEqual(SocketAddress(unixPath: path)!.withSockAddr { bind(stale, $0, $1) }, 0)
        close(stale)
        let server = try start()
        let client = RawClient(path: path)
        client.write(#"{"v":1,"id":1,"cmd":"echo"}"# + "\n")
        XCTAssertEqual(client.response(loop), .ok(1, .object([])))

        // A live one is refused, and left working.
        XCTAssertThrowsError(try start()) { error in
            XCTAssertEqual(error as? ControlServerError, .alreadyRunning(path: path))
            XCTAssertEqual("\(error)", "another rtcgate is running on \(path)")
        }
        client.write(#"{"v":1,"id":2,"cmd":"echo"}"# + "\n")
        XCTAssertEqual(client.response(loop), .ok(2, .object([])))
        server.shutdown()

        // Anything else is left alone.
        XCTAssertTrue(FileManagerShim.write("precious", to: path))
        XCTAssertThrowsError(try start()) { error in
            XCTAssertEqual(error as? ControlServerError, .notASocket(path: path))
            XCTAssertTrue("\(error)".contains("is not a socket"))
        }
        XCTAssertEqual(FileManagerShim.read(path), "precious")
        XCTAssertThrowsError(try ControlServer(configuration: ControlServerConfiguration(path: "/tmp/" + String(repeating: "p", count: 120)),
                                               loop: loop, handler: handler))
    }

    func testResponseBeyondTheSendLimit() throws {
        let server = try start { $0.sendLimitBytes = 64 * 1024 }
        defer { server.shutdown() }
        let client = RawClient(path: path)
        client.write(#"{"v":1,"id":1,"cmd":"big","args":{"n":100000}}"# + "\n")
        guard case .error(.internal, let message)? = client.response(loop)?.outcome else { return XCTFail() }
        XCTAssertTrue(message.contains("exceeds"), message)
        client.write(#"{"v":1,"id":2,"cmd":"big","args":{"n":30000}}"# + "\n")
        XCTAssertEqual(client.response(loop)?.isOk, true)
    }
}

/// Small file helpers for the tests.
enum FileManagerShim {
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir") }
    }

    static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == text.utf8.count
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

extension ControlServerTests {
    func testHalfClosedClientStillGetsItsAnswers() throws {
        let server = try ControlServer(configuration: ControlServerConfiguration(path: directory.path + "/h.sock"), loop: loop, handler: handler)
        defer { server.shutdown() }
        let client = RawClient(path: directory.path + "/h.sock")
        // Two requests, the last without its newline, then end of input (like `printf … | nc -N -U`).
        client.write(#"{"v":1,"id":1,"cmd":"later"}"# + "\n" + #"{"v":1,"id":2,"cmd":"echo"}"#)
        shutdown(client.fd, Int32(SHUT_WR))
        XCTAssertEqual(client.response(loop), .ok(2, .object([])))
        runLoop(loop, for: 0.1)  // time for a wrong close to show
        XCTAssertEqual(server.openConnections, 1, "held open while a reply is pending")
        handler.held[0](.ok(1, "late"))
        XCTAssertEqual(client.response(loop), .ok(1, "late"))
        XCTAssertTrue(client.waitForClose(loop))
        XCTAssertEqual(server.openConnections, 0)
        XCTAssertEqual(server.counters.droppedReplies, 0)
    }

    func testIdleClientsAreClosedUnlessARequestIsPending() throws {
        var configuration = ControlServerConfiguration(path: directory.path + "/i.sock")
        configuration.idleTimeoutSeconds = 1
        let server = try ControlServer(configuration: configuration, loop: loop, handler: handler)
        defer { server.shutdown() }
        let idle = RawClient(path: directory.path + "/i.sock")
        let waiting = RawClient(path: directory.path + "/i.sock")
        waiting.write(#"{"v":1,"id":1,"cmd":"later"}"# + "\n")
        waitUntil(loop, timeout: 3) { server.counters.closedIdle == 1 }
        XCTAssertTrue(idle.waitForClose(loop))
        XCTAssertEqual(server.counters.closedIdle, 1)
        XCTAssertEqual(server.openConnections, 1)
        handler.held[0](.ok(1, "done"))
        XCTAssertEqual(waiting.response(loop), .ok(1, "done"))
    }
}
