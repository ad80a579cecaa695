import Foundation
import Glibc
import XCTest

/// The built `rtcgate` against clients written elsewhere: coturn's turnutils_stunclient,
/// Python aioice, and the project's own load generator.
final class InteropTests: XCTestCase {
    /// coturn's client gets a Binding answer over IPv4 and IPv6 and prints our address back.
    /// (turnutils_stunclient 4.6 accepts `::1`, so IPv6 is tested with it directly.)
    func testTurnutilsStunclientIPv4AndIPv6() throws {
        guard let client = TestPaths.tool("turnutils_stunclient") else {
            XCTFail("turnutils_stunclient not installed (packaging/dev/setup.sh installs coturn)")
            return
        }
        let gateway = try GatewayProcess()
        for (server, expectedIP) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1")] {
            let result = try runTool(client, ["-p", "\(gateway.port)", server], timeout: 10)
            XCTAssertEqual(result.status, 0, "turnutils_stunclient \(server): \(result.stdout) \(result.stderr)")
            let addresses = (result.stdout + result.stderr).split(separator: "\n").compactMap { line -> String? in
                guard let range = line.range(of: "UDP reflexive addr: ") else { return nil }
                return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
            }
            XCTAssertFalse(addresses.isEmpty, "no reflexive address in: \(result.stdout)")
            for address in addresses {
                // "127.0.0.1:34831" or "::1:45878": the port follows the last colon.
                guard let colon = address.lastIndex(of: ":") else { XCTFail("unparsable \(address)"); continue }
                XCTAssertEqual(String(address[..<colon]), expectedIP, "reflexive address \(address)")
                let port = Int(address[address.index(after: colon)...])
                XCTAssertNotNil(port, "reflexive address \(address)")
                XCTAssertTrue((1...65535).contains(port ?? 0), "reflexive port in \(address)")
                XCTAssertNotEqual(port, Int(gateway.port), "the client's port, not the server's")
            }
        }
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertGreaterThanOrEqual(Int(counters["stun_success"] ?? "") ?? 0, 2, exit.log)
    }

    /// aioice's STUN code (Tests/Clients/stun_client.py) over UDP v4/v6, TCP v4/v6, with and
    /// without FINGERPRINT, and as an RFC 3489 client.
    func testAioiceClient() throws {
        let python = TestPaths.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            XCTFail("no Python at \(python) (set RTCGATE_PYTHON or run packaging/dev/setup.sh)")
            return
        }
        let gateway = try GatewayProcess()
        let script = TestPaths.repoRoot + "/Tests/Clients/stun_client.py"
        let result = try runTool(python, [script, "--port", "\(gateway.port)"], timeout: 30)
        XCTAssertEqual(result.status, 0, "stun_client.py: \(result.stdout) \(result.stderr)")
        guard let line = result.stdout.split(separator: "\n").last,
              let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let cases = json["cases"] as? [String: [String: Any]] else {
            XCTFail("no JSON from stun_client.py: \(result.stdout) \(result.stderr)")
            return
        }
        XCTAssertEqual(json["ok"] as? Bool, true, "\(json["errors"] ?? "")")
        let expected = ["udp4", "udp4_fp", "udp6", "udp6_fp", "tcp4", "tcp4_fp", "tcp6", "rfc3489_udp4"]
        XCTAssertEqual(Set(cases.keys), Set(expected))
        for name in expected {
            guard let result = cases[name] else { continue }
            XCTAssertEqual(result["ok"] as? Bool, true, "\(name): \(result)")
            XCTAssertEqual(result["mapped"] as? String, result["client"] as? String, "\(name): mapped address")
            XCTAssertEqual(result["fingerprint"] as? Bool, name.hasSuffix("_fp"), "\(name): FINGERPRINT echo")
            let mapped = result["mapped"] as? String ?? ""
            XCTAssertTrue(mapped.hasPrefix(name.contains("6") ? "[::1]:" : "127.0.0.1:"), "\(name): \(mapped)")
            if let request = result["request_size"] as? Int, let reply = result["reply_size"] as? Int {
                XCTAssertLessThanOrEqual(reply * 10, request * 25, "\(name): amplification")
            }
        }
        gateway.stopCleanly()
    }

    /// rtcgate-bench against the real binary, rate limit off: thousands of valid answers.
    func testBenchAgainstBinary() throws {
        let gateway = try GatewayProcess(flags: ["--stun-rate-limit", "0"])
        let result = try runTool(TestPaths.bench, [
            "stun", "--server", "127.0.0.1:\(gateway.port)", "--duration", "2", "--warmup", "0.5",
            "--sockets", "4", "--window", "32", "--json", "--server-pid", "\(gateway.pid)",
        ], timeout: 15)
        XCTAssertEqual(result.status, 0, "rtcgate-bench: \(result.stdout) \(result.stderr)")
        guard let line = result.stdout.split(separator: "\n").last,
              let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            XCTFail("no JSON from rtcgate-bench: \(result.stdout) \(result.stderr)")
            return
        }
        let requests = json["requests"] as? Int ?? 0
        XCTAssertGreaterThan(requests, 1000, "\(line)")
        XCTAssertEqual((json["invalid"] as? [String: Any])?["total"] as? Int, 0, "\(line)")
        XCTAssertEqual(json["ok"] as? Bool, true, "\(line)")
        XCTAssertNotNil(json["server_cpu_cores"] as? Double, "server sampled via --server-pid: \(line)")
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertGreaterThanOrEqual(Int(counters["stun_success"] ?? "") ?? 0, requests, exit.log)
        XCTAssertNil(counters["drop_rate_limited"], "rate limit was off: \(exit.log)")
    }

    /// rtcgate-bench turn against the real binary, both modes, plain and GSO generator: every
    /// reply valid, nothing lost, and rtcgate's relay sending segmented runs (UDP GSO).
    func testTurnBenchAgainstBinary() throws {
        let range = try freeRelayRange(avoiding: [])
        let gateway = try GatewayProcess(flags: ["--realm", "example.org", "--user", "alice:secret",
                                                 "--allowed-peer-ip", "127.0.0.1",
                                                 "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)"])
        for (mode, generator) in [("channel", ["--generator-gso"]), ("send", [])] {
            let result = try runTool(TestPaths.bench, [
                "turn", "--server", "127.0.0.1:\(gateway.port)", "--realm", "example.org", "--user", "alice", "--password", "secret",
                "--mode", mode, "--allocations", "4", "--duration", "2", "--warmup", "0.5", "--json",
                "--server-pid", "\(gateway.pid)",
            ] + generator, timeout: 30)
            XCTAssertEqual(result.status, 0, "rtcgate-bench turn \(mode): \(result.stdout) \(result.stderr)")
            guard let line = result.stdout.split(separator: "\n").last,
                  let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                XCTFail("no JSON from rtcgate-bench: \(result.stdout) \(result.stderr)")
                continue
            }
            XCTAssertGreaterThan(json["round_trips"] as? Int ?? 0, 1000, "\(mode): \(line)")
            XCTAssertEqual(json["lost"] as? Int, 0, "\(mode): \(line)")
            XCTAssertEqual((json["invalid"] as? [String: Any])?["total"] as? Int, 0, "\(mode): \(line)")
            XCTAssertGreaterThan(json["server_anon_kb_end"] as? Int ?? 0, 0, "\(mode): anonymous RSS sampled: \(line)")
        }
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        let runs = Int(counters["udp_gso_runs"] ?? "") ?? 0
        let datagrams = Int(counters["udp_gso_datagrams"] ?? "") ?? 0
        XCTAssertGreaterThan(runs, 1000, "the relay sends runs with UDP GSO: \(exit.log)")
        XCTAssertGreaterThan(datagrams, 2 * runs, "several datagrams per run: \(exit.log)")
    }
}
