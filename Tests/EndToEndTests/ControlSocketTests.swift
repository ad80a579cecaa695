import Foundation
import Glibc
import JSON
import STUN
import TestSupport
import XCTest

/// `rtcgate ctl` and the control socket against the real daemon.
final class ControlSocketTests: XCTestCase {
    func testStatusStatsConfigAndLogLevel() throws {
        let gateway = try GatewayProcess(flags: ["--user", "alice:secret"])
        let status = try ctl(gateway, ["status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertEqual(status.json?["version"]?.stringValue, "0.1.0")
        XCTAssertEqual(status.json?["pid"]?.intValue, Int(gateway.pid))
        let stats = try ctl(gateway, ["stats"])
        XCTAssertGreaterThanOrEqual(stats.json?["stun_requests_total"]?.intValue ?? -1, 0, "\(String(describing: stats.json))")
        XCTAssertNotNil(stats.json?["stun_dropped_total"]?["reason=rate_limited"])
        let resident = stats.json?["resident_memory_bytes"]?.intValue ?? 0, privateBytes = stats.json?["private_memory_bytes"]?.intValue ?? 0
        XCTAssertGreaterThan(privateBytes, 0, "private memory reported")
        XCTAssertLessThan(privateBytes, resident, "code pages are resident but not private")
        let prometheus = try runTool(TestPaths.rtcgate, ["ctl", "--socket", gateway.controlSocket, "stats", "--prometheus"])
        XCTAssertTrue(prometheus.stdout.contains("# TYPE rtcgate_turn_allocations gauge"), prometheus.stdout)
        XCTAssertEqual(try ctl(gateway, ["log-level", "debug"]).status, 0)
        XCTAssertEqual(try ctl(gateway, ["config"]).json?["logLevel"]?.stringValue, "debug")
        XCTAssertEqual(try ctl(gateway, ["log-level", "loud"]).status, 1, "refused: not a level")
        let config = try ctl(gateway, ["config"]).json
        XCTAssertEqual(config?["turn"]?["configUsers"]?.intValue, 1)
        XCTAssertFalse(config?.jsonText.contains("secret") == true && config?.jsonText.contains("alice:secret") == true, "no secrets")
        gateway.stopCleanly()
    }

    func testAllocationListKillAndDrain() throws {
        let gateway = try GatewayProcess(flags: ["--user", "alice:secret", "--realm", "example.org"])
        let client = try TurnTestClient(port: gateway.port)
        XCTAssertTrue(try client.allocate().isSuccess)
        let listed = try ctl(gateway, ["allocation", "list"])
        let allocations = listed.json?["allocations"]?.arrayValue ?? []
        XCTAssertEqual(allocations.count, 1, "\(listed)")
        XCTAssertEqual(allocations.first?["user"]?.stringValue, "alice")
        XCTAssertEqual(allocations.first?["client"]?.stringValue, client.localAddress.description)
        XCTAssertEqual(allocations.first?["transport"]?.stringValue, "udp")
        // Drain: a second client cannot allocate (508); the first one still refreshes.
        XCTAssertEqual(try ctl(gateway, ["drain", "--grace", "5"]).status, 0)  // replies once every worker refuses
        let latecomer = try TurnTestClient(port: gateway.port)
        XCTAssertEqual(try latecomer.allocate().errorCode, 508)
        let refresh = try client.request(.refresh) { try $0.appendUInt32(.lifetime, 600) }
        XCTAssertTrue(refresh.isSuccess, "\(refresh)")
        XCTAssertEqual(try ctl(gateway, ["status"]).json?["draining"]?.boolValue, true)
        // Kill: the allocation is gone, so the client's next Refresh is a mismatch (437).
        let killed = try ctl(gateway, ["allocation", "kill", client.localAddress.description])
        XCTAssertEqual(killed.json?["killed"]?.intValue, 1, killed.stderr)
        XCTAssertEqual(try client.request(.refresh) { try $0.appendUInt32(.lifetime, 600) }.errorCode, 437)
        XCTAssertEqual(try ctl(gateway, ["allocation", "kill", client.localAddress.description]).status, 1, "not-found")
        gateway.stopCleanly()
    }

    func testPermissionDeniedForAnotherUser() throws {
        guard TestPaths.tool("setpriv") != nil || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            return XCTFail("setpriv (util-linux) is needed to run ctl as another user")
        }
        // Mode 0660, owned by root: another uid cannot even open the socket.
        let strict = try GatewayProcess()
        chmod(strict.directory.path, 0o755)
        let refused = try ctl(strict, ["status"], as: 65534)
        XCTAssertEqual(refused.status, 4, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("permission denied"), refused.stderr)
        strict.stopCleanly()
        // Mode 0666: it can connect, and SO_PEERCRED refuses it (forbidden).
        let open = try GatewayProcess(flags: ["--control-mode", "0666"])
        chmod(open.directory.path, 0o755)
        let forbidden = try ctl(open, ["status"], as: 65534)
        XCTAssertEqual(forbidden.status, 4, forbidden.stderr)
        XCTAssertTrue(forbidden.stderr.contains("permission denied"), forbidden.stderr)
        XCTAssertEqual(try ctl(open, ["status"]).status, 0, "root still may")
        open.stopCleanly()
    }

    func testDaemonDownAndBadRequests() throws {
        let gateway = try GatewayProcess()
        let down = try ctl(gateway, ["status"], socket: gateway.directory.file("nothing.sock"))
        XCTAssertEqual(down.status, 3, down.stderr)
        XCTAssertTrue(down.stderr.contains("not running"), down.stderr)
        // Raw protocol: malformed, unknown and oversized requests get clear errors.
        let socket = try UnixLineClient(path: gateway.controlSocket)
        XCTAssertEqual(try socket.exchange("{not json")["error"]?["code"]?.stringValue, "bad-request")
        XCTAssertEqual(try socket.exchange(#"{"v":1,"id":7,"cmd":"fly","args":{}}"#)["error"]?["code"]?.stringValue, "unknown-command")
        let ok = try socket.exchange(#"{"v":1,"id":"x","cmd":"status"}"#)
        XCTAssertEqual(ok["ok"]?.boolValue, true)
        XCTAssertEqual(ok["id"]?.stringValue, "x")
        XCTAssertEqual(try socket.exchange(#"{"v":1,"id":8,"cmd":"status","args":{"extra":1}}"#)["error"]?["code"]?.stringValue, "bad-request")
        let huge = try socket.exchange(#"{"v":1,"id":9,"cmd":"status","args":{"x":""# + String(repeating: "a", count: 70_000) + #""}}"#)
        XCTAssertEqual(huge["error"]?["code"]?.stringValue, "too-large")
        XCTAssertTrue(gateway.isRunning)
        gateway.stopCleanly()
    }
}

/// A raw line client of the control socket.
final class UnixLineClient {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect \(path): errno \(errno)") }
    }

    deinit { close(fd) }

    /// Sends one line and reads one response line (≤ 5 s).
    func exchange(_ line: String) throws -> JSONValue {
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicSeconds() + 5
        while !response.contains(UInt8(ascii: "\n")), monotonicSeconds() < deadline {
            guard pollReadable(fd, timeout: deadline - monotonicSeconds()) else { break }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        guard let end = response.firstIndex(of: UInt8(ascii: "\n")) else { throw HarnessError("no response line to \(line.prefix(80))") }
        return try JSONParser.parse(Array(response[..<end]))
    }
}
