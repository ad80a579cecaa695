import Foundation
import Glibc
import XCTest

/// Python aioice's TURN client (Tests/Clients/turn_client.py) against the built `rtcgate`:
/// allocations over UDP and over TCP, datagrams through the relay to a UDP echo peer on
/// 127.0.0.1 and back, then the allocations deleted.
final class TurnAioiceTests: XCTestCase {
    private func runClient(port: UInt16, password: String, transports: String = "udp,tcp",
                           count: Int = 20) throws -> (ToolResult, [String: Any]?) {
        let script = TestPaths.repoRoot + "/Tests/Clients/turn_client.py"
        let result = try runTool(TestPaths.python, [
            script, "--port", "\(port)", "--username", "alice", "--password", password,
            "--transports", transports, "--count", "\(count)", "--size", "160",
        ], timeout: 40)
        let json = result.stdout.split(separator: "\n").last.flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (result, json)
    }

    private func requirePython() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: TestPaths.python) else {
            XCTFail("no Python at \(TestPaths.python) (set RTCGATE_PYTHON or run packaging/dev/setup.sh)")
            return false
        }
        return true
    }

    /// Relayed address on 127.0.0.1 inside the configured range, mapped address = the client,
    /// 20 echoes of 20 back per transport with the peer seeing only the relayed address.
    func testRelayOverUDPAndTCP() throws {
        guard requirePython() else { return }
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        let gateway = try GatewayProcess(flags: [
            "--user", "alice:secret", "--realm", "example.org", "--allowed-peer-ip", "127.0.0.1",
            "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)", "--workers", "2",
        ], port: port)
        let (result, parsed) = try runClient(port: gateway.port, password: "secret")
        XCTAssertEqual(result.status, 0, "turn_client.py: \(result.stdout) \(result.stderr)")
        guard let json = parsed, let cases = json["cases"] as? [String: [String: Any]] else {
            XCTFail("no JSON from turn_client.py: \(result.stdout) \(result.stderr)")
            return
        }
        XCTAssertEqual(json["ok"] as? Bool, true, "\(json["errors"] ?? "")")
        XCTAssertEqual(Set(cases.keys), ["udp", "tcp"])
        var relayedPorts: [Int] = []
        for name in ["udp", "tcp"] {
            guard let report = cases[name] else { continue }
            XCTAssertEqual(report["ok"] as? Bool, true, "\(name): \(report)")
            XCTAssertEqual(report["sent"] as? Int, 20, "\(name): \(report)")
            XCTAssertEqual(report["received"] as? Int, 20, "\(name): \(report)")
            XCTAssertEqual(report["peer_received"] as? Int, 20, "\(name): \(report)")
            XCTAssertEqual(report["mismatched"] as? Int, 0, "\(name): \(report)")
            XCTAssertEqual(report["deleted"] as? Bool, true, "\(name): allocation deleted: \(report)")
            let relayed = report["relayed"] as? String ?? ""
            XCTAssertTrue(relayed.hasPrefix("127.0.0.1:"), "\(name): relayed \(relayed)")
            let relayedPort = Int(relayed.split(separator: ":").last ?? "") ?? 0
            XCTAssertTrue(range.contains(UInt16(clamping: relayedPort)), "\(name): relayed port \(relayedPort) outside \(range)")
            relayedPorts.append(relayedPort)
            XCTAssertEqual(report["peer_sources"] as? [String], [relayed], "\(name): the peer sees the relayed address")
            XCTAssertTrue((report["mapped"] as? String ?? "").hasPrefix("127.0.0.1:"), "\(name): \(report)")
            let rtt = report["rtt_ms"] as? [String: Double] ?? [:]
            XCTAssertNotNil(rtt["avg"], "\(name): \(report)")
            XCTAssertLessThan(rtt["max"] ?? .infinity, 1000, "\(name): round trips over loopback: \(report)")
        }
        XCTAssertEqual(Set(relayedPorts).count, relayedPorts.count, "distinct relayed addresses: \(relayedPorts)")
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        for key in ["turn_to_peer", "turn_to_client"] {
            XCTAssertEqual(Int(counters[key] ?? ""), 40, "20 each way per transport: \(key) in\n\(exit.log)")
        }
        XCTAssertEqual(counters["turn_allocations"], "0", "both allocations were deleted (Refresh lifetime 0):\n\(exit.log)")
    }

    /// The wrong password: aioice's allocation fails (401 after the retry) and it exits non-zero.
    func testWrongPasswordFails() throws {
        guard requirePython() else { return }
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        let gateway = try GatewayProcess(flags: [
            "--user", "alice:secret", "--realm", "example.org", "--allowed-peer-ip", "127.0.0.1",
            "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)", "--workers", "2",
        ], port: port)
        let (result, parsed) = try runClient(port: gateway.port, password: "wrong", transports: "udp", count: 3)
        XCTAssertNotEqual(result.status, 0, "turn_client.py with a wrong password: \(result.stdout) \(result.stderr)")
        let json = try XCTUnwrap(parsed, "no JSON from turn_client.py: \(result.stdout) \(result.stderr)")
        XCTAssertEqual(json["ok"] as? Bool, false)
        let error = ((json["cases"] as? [String: [String: Any]])?["udp"]?["error"] as? String) ?? ""
        XCTAssertTrue(error.contains("401"), "expected a 401 failure, got: \(error)")
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        for key in ["turn_to_peer", "turn_to_client", "turn_allocations"] {
            XCTAssertEqual(counters[key], "0", "\(key) in\n\(exit.log)")
        }
    }
}
