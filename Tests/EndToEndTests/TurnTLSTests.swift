import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// TURN over TLS (`turns:`) on the built `rtcgate`, with clients nobody here wrote: coturn's
/// turnutils_uclient (`-S`), aioice with Python's ssl module, and OpenSSL's s_client for
/// renegotiation; plus bad input of every kind, counted and cleaned up.
final class TurnTLSTests: XCTestCase {
    /// A gateway serving TURN over TLS on a free port with `certificates`.
    private func startGateway(_ certificates: TLSCertificates, flags: [String] = [], config: String? = nil)
        throws -> (gateway: GatewayProcess, tlsPort: UInt16, relay: ClosedRange<UInt16>) {
        let port = try freePort()
        let tlsPort = try freePort()
        let range = try freeRelayRange(avoiding: [port, tlsPort])
        let files = config == nil ? ["--cert", certificates.certificatePath, "--pkey", certificates.keyPath] : []
        let gateway = try GatewayProcess(
            config: config ?? "",
            flags: ["--user", "alice:secret", "--realm", "example.org", "--allowed-peer-ip", "127.0.0.1", "--workers", "1",
                    "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)",
                    "--tls-listening-port", "\(tlsPort)"] + files + flags,
            port: port)
        return (gateway, tlsPort, range)
    }

    private func stats(_ gateway: GatewayProcess) throws -> JSONValue {
        try XCTUnwrap(try ctl(gateway, ["stats"]).json, "ctl stats")
    }

    private func closed(_ stats: JSONValue, _ reason: String) -> Int {
        stats["tls_connections_closed_total"]?["reason=\(reason)"]?.intValue ?? -1
    }

    /// coturn's uclient relays 4 × 20 messages over TLS to its echo peer with none lost, with
    /// channels and with Send indications.
    func testUclientRelaysOverTLS() throws {
        guard let uclient = TestPaths.tool("turnutils_uclient"), let peerTool = TestPaths.tool("turnutils_peer") else {
            return XCTFail("coturn's tools are not installed (packaging/dev/setup.sh installs coturn)")
        }
        let certificates = try TLSCertificates()
        let (gateway, tlsPort, _) = try startGateway(certificates)
        let peerPort = try freePort()
        let peer = try BackgroundTool(peerTool, ["-p", "\(peerPort)", "-L", "127.0.0.1"])
        XCTAssertTrue(holds(within: 5) { (try? BoundSocket(udp: true, ip: "127.0.0.1", port: peerPort)) == nil }, peer.output)
        for options in [["-S", "-t", "-c"], ["-S", "-t", "-s"]] {
            let result = try runTool(uclient, options + ["-u", "alice", "-w", "secret", "-e", "127.0.0.1", "-r", "\(peerPort)",
                                                        "-p", "\(tlsPort)", "-n", "20", "-m", "4", "-l", "172", "127.0.0.1"], timeout: 30)
            let output = result.stdout + result.stderr
            let report = UclientReport(output)
            XCTAssertEqual(result.status, 0, output)
            XCTAssertEqual(report.sent, 80, "uclient \(options): \(output)")
            XCTAssertEqual(report.received, 80, "uclient \(options): \(output)")
            XCTAssertEqual(report.lost, 0, "uclient \(options): \(output)")
        }
        let after = try stats(gateway)
        XCTAssertGreaterThanOrEqual(after["tls_handshakes_total"]?.intValue ?? 0, 8, "\(after)")
        XCTAssertGreaterThanOrEqual(after["turn_packets_total"]?["direction=to_client"]?.intValue ?? 0, 160)
        // (uclient also tries TLS 1.0 and 1.1 first, which fail as handshake_failed: refused.)
        gateway.stopCleanly()
    }

    /// aioice (Python's ssl, verifying the chain against the test CA and the IP in the URL)
    /// relays over TLS with an RSA certificate; `ctl allocation list` names the transport.
    func testAioiceOverTLSWithAnRSACertificate() throws {
        let certificates = try TLSCertificates(rsa: true)
        let (gateway, tlsPort, _) = try startGateway(certificates)
        let result = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/turn_client.py", "--port", "\(gateway.port)",
                                                    "--username", "alice", "--password", "secret", "--transports", "tls",
                                                    "--tls-port", "\(tlsPort)", "--ca", certificates.caPath], timeout: 60)
        let report = try? JSONParser.parse(Array(result.stdout.utf8))
        XCTAssertEqual(report?["ok"]?.boolValue, true, result.stdout + result.stderr)
        XCTAssertEqual(report?["cases"]?["tls"]?["received"]?.intValue, 20, result.stdout)
        let status = try XCTUnwrap(try ctl(gateway, ["status"]).json)
        XCTAssertEqual(status["planes"]?["tls"]?["keyType"]?.stringValue, "RSA 2048", "\(status)")
        XCTAssertEqual(status["planes"]?["tls"]?["subject"]?.stringValue, "CN=rtcgate test", "\(status)")
        gateway.stopCleanly()
    }

    /// Plaintext STUN, garbage, a truncated record, a client that never finishes its handshake,
    /// a renegotiation request and a client that goes silent after its handshake: each is
    /// closed and counted under its reason, and afterwards no connection, descriptor or pool
    /// slot is left over.
    func testBadInputIsClosedAndCountedAndNothingLeaks() throws {
        let certificates = try TLSCertificates()
        let (gateway, tlsPort, _) = try startGateway(certificates, flags: ["--tls-handshake-timeout", "1", "--tcp-idle-timeout", "2"])
        let descriptorsBefore = try openDescriptors(gateway.pid)
        let poolBefore = try stats(gateway)["pool_slots_in_use"]?.intValue

        // A STUN Binding request in the clear, then random bytes, then a record header that
        // promises more than ever comes: refused handshakes.
        for payload in [try StunWire.request().bytes, (0..<3000).map { _ in UInt8.random(in: 0...255) },
                        [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]] {
            let client = try TCPClient(connectTo: "127.0.0.1", port: tlsPort)
            try client.write(payload)
            shutdown(client.fd, Int32(SHUT_WR))
            XCTAssertNil(client.read(exactly: 1_000_000, timeout: 3), "closed by the server")
        }
        // Connected, says nothing: closed after the handshake timeout (1 s; swept every second).
        let silent = try TCPClient(connectTo: "127.0.0.1", port: tlsPort)
        XCTAssertNil(silent.read(exactly: 1, timeout: 4), "closed while the handshake never started")

        // TLS 1.2 renegotiation asked for by s_client's "R" command.
        let openssl = TestPaths.tool("openssl") ?? "/usr/bin/openssl"
        let renegotiation = try runTool("/bin/sh", ["-c", "(sleep 1; echo R; sleep 3) | \(openssl) s_client -tls1_2 -connect 127.0.0.1:\(tlsPort) -CAfile \(certificates.caPath)"], timeout: 10)
        XCTAssertTrue(renegotiation.stdout.contains("Verify return code: 0 (ok)"), renegotiation.stdout + renegotiation.stderr)
        // A full handshake, then silence: closed as idle (tcp-idle-timeout 2).
        // (s_client keeps its end until its input ends; the server's close shows as `idle`.)
        _ = try runTool("/bin/sh", ["-c", "sleep 5 | \(openssl) s_client -connect 127.0.0.1:\(tlsPort) -CAfile \(certificates.caPath)"], timeout: 10)

        var after = try stats(gateway)
        XCTAssertTrue(holds(within: 3) {
            after = (try? stats(gateway)) ?? after
            return after["tls_connections_open"]?.intValue == 0
        }, "\(after)")
        XCTAssertGreaterThanOrEqual(closed(after, "handshake_failed"), 3, "\(after)")
        XCTAssertEqual(closed(after, "handshake_timeout"), 1, "\(after)")
        XCTAssertEqual(closed(after, "renegotiation"), 1, "\(after)")
        XCTAssertEqual(closed(after, "idle"), 1, "\(after)")
        XCTAssertEqual(after["tls_handshakes_total"]?.intValue, 2, "\(after)")
        XCTAssertEqual(after["pool_slots_in_use"]?.intValue, poolBefore)
        XCTAssertEqual(try openDescriptors(gateway.pid), descriptorsBefore, "every descriptor was closed")
        gateway.stopCleanly()
    }

    /// Handshake budgets refuse at accept, before any cryptography; a full table refuses too.
    func testHandshakeBudgetsAndAFullTableRefuseAndCount() throws {
        let certificates = try TLSCertificates()
        let (gateway, tlsPort, _) = try startGateway(certificates, flags: ["--tls-handshake-rate-per-source", "1",
                                                                           "--tls-max-connections", "3"])
        // Burst 2 per source: of 8 connections at once from 127.0.0.1, the first 2 get a
        // record, the rest are closed at accept; the third record stays free.
        var held: [TCPClient] = []
        for _ in 0..<8 { held.append(try TCPClient(connectTo: "127.0.0.1", port: tlsPort)) }
        var after = try stats(gateway)
        XCTAssertTrue(holds(within: 3) {
            after = (try? stats(gateway)) ?? after
            return after["tls_connections_refused_total"]?["reason=handshake_rate"]?.intValue == 6
        }, "\(after)")
        XCTAssertEqual(after["tls_connections_open"]?.intValue, 2, "\(after)")
        held.removeAll()
        // Other sources (127.0.0.2 and .3 have budgets of their own) fill the 3 records with
        // silent connections; a fourth evicts the oldest unfinished handshake instead of
        // being refused.
        XCTAssertTrue(holds(within: 3) { (try? stats(gateway))?["tls_connections_open"]?.intValue == 0 })
        var fromOthers: [Int32] = []
        defer { for fd in fromOthers { close(fd) } }
        for source in ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"] { fromOthers.append(try connectTCP(from: source, to: tlsPort)) }
        XCTAssertTrue(holds(within: 3) {
            after = (try? stats(gateway)) ?? after
            return closed(after, "handshake_evicted") == 1
        }, "\(after)")
        XCTAssertEqual(after["tls_connections_open"]?.intValue, 3, "\(after)")
        XCTAssertEqual(after["tls_connections_refused_total"]?["reason=table_full"]?.intValue, 0, "\(after)")
        gateway.stopCleanly()

        // A table full of finished handshakes refuses the next connection and counts it.
        let (full, fullPort, _) = try startGateway(certificates, flags: ["--tls-max-connections", "2"])
        let openssl = TestPaths.tool("openssl") ?? "/usr/bin/openssl"
        let clients = try (0..<2).map { _ in
            try BackgroundTool("/bin/sh", ["-c", "sleep 6 | \(openssl) s_client -connect 127.0.0.1:\(fullPort) -CAfile \(certificates.caPath)"])
        }
        var fullStats = try stats(full)
        XCTAssertTrue(holds(within: 5) {
            fullStats = (try? stats(full)) ?? fullStats
            return fullStats["tls_handshakes_total"]?.intValue == 2
        }, "\(fullStats)")
        let extra = try TCPClient(connectTo: "127.0.0.1", port: fullPort)
        XCTAssertNil(extra.read(exactly: 1, timeout: 2), "closed at once")
        fullStats = try stats(full)
        XCTAssertEqual(fullStats["tls_connections_refused_total"]?["reason=table_full"]?.intValue, 1, "\(fullStats)")
        withExtendedLifetime(clients) {}
        full.stopCleanly()
    }

    /// `ctl status` and Prometheus show the certificate; within 14 days of expiry, a warning.
    func testStatusAndMetricsShowTheCertificateAndWarnBeforeExpiry() throws {
        let certificates = try TLSCertificates(days: 5)
        let (gateway, _, _) = try startGateway(certificates)
        let tls = try XCTUnwrap(try ctl(gateway, ["status"]).json?["planes"]?["tls"])
        XCTAssertEqual(tls["keyType"]?.stringValue, "ECDSA P-256")
        XCTAssertTrue(tls["warning"]?.stringValue?.hasPrefix("certificate expires in") == true, "\(tls)")
        XCTAssertTrue((4...5).contains(tls["expiresInDays"]?.intValue ?? 0), "\(tls)")
        XCTAssertTrue(gateway.waitForLog("the TLS certificate expires in"), gateway.log)
        let expiry = try stats(gateway)["tls_certificate_expiry_seconds"]?.intValue ?? 0
        XCTAssertTrue((4 * 86_400...5 * 86_400).contains(expiry), "\(expiry)")
        gateway.stopCleanly()
    }

    /// Connected to the gateway's TLS port from `source` (a loopback address of its own).
    private func connectTCP(from source: String, to port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var local = sockaddr_in(), remote = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, connected == 0 else {
            close(fd)
            throw HarnessError("connect from \(source): errno \(errno)")
        }
        return fd
    }
}

/// The number of open descriptors of process `pid`.
func openDescriptors(_ pid: Int32) throws -> Int {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
}
