import Foundation
import Glibc
import TestSupport
import XCTest

/// A relay port range for one gateway: `count` consecutive ports in 40000–60000, not
/// containing any of `avoiding`, of which at most a tenth are held by anyone right now (UDP
/// on 127.0.0.1 or ::1; rtcgate skips held ports, and other suites may be running).
func freeRelayRange(count: Int = 100, avoiding: [UInt16] = []) throws -> ClosedRange<UInt16> {
    var fewestBusy = Int.max
    for _ in 0..<200 {
        let first = UInt16(Int.random(in: 20_000..<(30_000 - count / 2)) * 2)
        let range = first...(first + UInt16(count - 1))
        guard !avoiding.contains(where: range.contains) else { continue }
        var busy = 0
        for port in range where busy <= count / 10 {
            let v4 = try? BoundSocket(udp: true, ip: "127.0.0.1", port: port)
            let v6 = v4 == nil ? nil : try? BoundSocket(udp: true, ip: "::1", port: port)
            if v6 == nil { busy += 1 }
        }
        if busy <= count / 10 { return range }
        fewestBusy = min(fewestBusy, busy)
    }
    throw HarnessError("no \(count)-port relay range in 40000–60000 with at most \(count / 10) ports held "
                       + "after 200 tries (fewest held: \(fewestBusy))")
}

/// A helper program running in the background (output to a file), killed on deinit.
final class BackgroundTool {
    let process = Process()
    let directory: TemporaryDirectory
    let outputPath: String

    init(_ executable: String, _ arguments: [String]) throws {
        directory = TemporaryDirectory()
        outputPath = directory.file("output")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        guard let output = FileHandle(forWritingAtPath: outputPath) else { throw HarnessError("cannot open \(outputPath)") }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = holds(within: 5) { !process.isRunning }
        }
        directory.remove()
    }
}

/// What turnutils_uclient reported.
struct UclientReport {
    var sent: Int?
    var received: Int?
    var lost: Int?

    /// Parses "tot_send_msgs=80, tot_recv_msgs=80" (the last such line) and
    /// "Total lost packets 0 (…)".
    init(_ text: String) {
        for line in text.split(separator: "\n") {
            if let sent = Self.number(after: "tot_send_msgs=", in: line),
               let received = Self.number(after: "tot_recv_msgs=", in: line) {
                self.sent = sent
                self.received = received
            }
            if let lost = Self.number(after: "Total lost packets ", in: line) { self.lost = lost }
        }
    }

    private static func number(after marker: String, in line: Substring) -> Int? {
        guard let range = line.range(of: marker) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
}

/// coturn's turnutils_uclient (a TURN client nobody here wrote) relaying through the built
/// `rtcgate` to coturn's turnutils_peer (a UDP echo peer) on loopback, over each allocation
/// flavour it can ask for; and a wrong password that must get nothing relayed.
final class TurnInteropTests: XCTestCase {
    static let restSecret = "northnorthnorth1"

    /// The gateway (2 workers, user alice:secret, realm example.org, loopback peers allowed,
    /// a private relay range), a turnutils_peer echo peer on both loopbacks, and uclient runs.
    private struct Rig {
        let gateway: GatewayProcess
        let peer: BackgroundTool
        let peerPort: UInt16
        let relayRange: ClosedRange<UInt16>
    }

    private func makeRig(rest: Bool = false) throws -> Rig? {
        guard TestPaths.tool("turnutils_uclient") != nil, let peerTool = TestPaths.tool("turnutils_peer") else {
            XCTFail("turnutils_uclient/turnutils_peer not installed (packaging/dev/setup.sh installs coturn)")
            return nil
        }
        let port = try freePort()
        let peerPort = try freePort()
        let range = try freeRelayRange(avoiding: [port, peerPort])
        var flags = ["--realm", "example.org", "--allowed-peer-ip", "127.0.0.1", "--allowed-peer-ip", "::1",
                     "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)", "--workers", "2"]
        flags += rest ? ["--use-auth-secret", "--static-auth-secret", Self.restSecret] : ["--user", "alice:secret"]
        let gateway = try GatewayProcess(flags: flags, port: port)
        let peer = try BackgroundTool(peerTool, ["-p", "\(peerPort)", "-L", "127.0.0.1", "-L", "::1"])
        // Ready once it holds its UDP port on both loopbacks.
        let bound = holds(within: 5) {
            (try? BoundSocket(udp: true, ip: "127.0.0.1", port: peerPort)) == nil
                && (try? BoundSocket(udp: true, ip: "::1", port: peerPort)) == nil
        }
        guard bound else { throw HarnessError("turnutils_peer did not bind port \(peerPort): \(peer.output)") }
        return Rig(gateway: gateway, peer: peer, peerPort: peerPort, relayRange: range)
    }

    private func uclient(_ rig: Rig, _ options: [String], password: String = "secret", timeout: Double = 20) throws -> ToolResult {
        let tool = try XCTUnwrap(TestPaths.tool("turnutils_uclient"))
        let credentials = options.contains("-W") ? ["-u", "alice"] : ["-u", "alice", "-w", password]
        let peerIP = options.contains("-x") ? [] : ["-e", "127.0.0.1"]
        return try runTool(tool, options + credentials + peerIP + [
            "-r", "\(rig.peerPort)", "-p", "\(rig.gateway.port)", "-n", "20", "-m", "4", "-l", "172", "127.0.0.1",
        ], timeout: timeout)
    }

    /// Runs uclient with `options` and asserts all 80 messages (4 clients × 20) came back.
    private func assertRelaysEverything(_ options: [String], rest: Bool = false,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        guard let rig = try makeRig(rest: rest) else { return }
        let result = try uclient(rig, options)
        let what = "turnutils_uclient \(options.joined(separator: " "))"
        let output = result.stdout + result.stderr
        let report = UclientReport(output)
        XCTAssertEqual(result.status, 0, "\(what) exit status; output:\n\(output)", file: file, line: line)
        XCTAssertFalse(result.signaled, "\(what) died of a signal", file: file, line: line)
        XCTAssertEqual(report.sent, 80, "\(what) sent; output:\n\(output)", file: file, line: line)
        XCTAssertEqual(report.received, report.sent, "\(what) received; output:\n\(output)", file: file, line: line)
        XCTAssertEqual(report.lost, 0, "\(what) lost packets; output:\n\(output)", file: file, line: line)
        let exit = rig.gateway.stopCleanly(file: file, line: line)
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        // Every echo went client → peer and peer → client through the relay.
        for key in ["turn_to_peer", "turn_to_client"] {
            XCTAssertGreaterThanOrEqual(Int(counters[key] ?? "") ?? 0, 80, "\(what): \(key) in\n\(exit.log)", file: file, line: line)
        }
        XCTAssertEqual(counters["turn_relay_send_failures"], "0", "\(what): \(exit.log)", file: file, line: line)
        XCTAssertFalse(exit.log.contains("Program crashed"), exit.log, file: file, line: line)
    }

    /// Default uclient: RTP/RTCP pairs, i.e. EVEN-PORT (R bit) Allocates followed by Allocates
    /// with the RESERVATION-TOKEN, data over channels.
    func testEvenPortReservationPairs() throws { try assertRelaysEverything([]) }

    /// Send and Data indications instead of channels (`-s`).
    func testSendAndDataIndications() throws { try assertRelaysEverything(["-s"]) }

    /// Dual-stack allocations (`-Z`: ADDITIONAL-ADDRESS-FAMILY IPv6), IPv4 peer.
    func testDualStackAllocation() throws { try assertRelaysEverything(["-Z"]) }

    /// TCP between client and server (`-t`), UDP relay.
    func testTCPClientTransport() throws { try assertRelaysEverything(["-c", "-t"]) }

    /// An IPv6 relayed address (`-x`, REQUESTED-ADDRESS-FAMILY IPv6) to the peer on ::1.
    func testIPv6Relay() throws { try assertRelaysEverything(["-c", "-x", "-e", "::1"]) }

    /// TURN REST credentials minted by uclient itself from the shared secret (`-W`).
    func testRestCredentials() throws { try assertRelaysEverything(["-c", "-W", Self.restSecret], rest: true) }

    /// A wrong password: uclient fails (non-zero exit or a 401 in its output) and the gateway
    /// relayed nothing and holds no allocation.
    func testWrongPasswordRelaysNothing() throws {
        guard let rig = try makeRig() else { return }
        let result = try uclient(rig, ["-c"], password: "not-the-secret")
        let output = result.stdout + result.stderr
        XCTAssertTrue(result.status != 0 || output.contains("401"), "uclient with a wrong password succeeded:\n\(output)")
        let report = UclientReport(output)
        XCTAssertEqual(report.received ?? 0, 0, "messages came back without valid credentials:\n\(output)")
        let exit = rig.gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertNotNil(counters["udp_in"], "no final counters in\n\(exit.log)")
        for key in ["turn_to_peer", "turn_to_client", "turn_allocations"] {
            XCTAssertEqual(counters[key], "0", "\(key) in\n\(exit.log)")
        }
    }
}
