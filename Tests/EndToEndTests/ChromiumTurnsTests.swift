import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// A real Chromium (Debian's, headless, through chromedriver) given only a `turns:` URL and
/// `iceTransportPolicy: "relay"` connects a data channel through the built `rtcgate`, trusting
/// the test's own CA in its NSS database (no --ignore-certificate-errors); a certificate
/// reload during the call keeps it going while new connections get the new certificate.
final class ChromiumTurnsTests: XCTestCase {
    private var script: String { TestPaths.repoRoot + "/Tests/Clients/chromium_turns.py" }

    private func requireChromium() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            throw HarnessError("chromium-driver is not installed (packaging/dev/setup.sh installs it)")
        }
    }

    /// Whether `openssl s_client` accepts the gateway's certificate when trusting only `ca`.
    private func verifies(port: UInt16, ca: String) throws -> Bool {
        let openssl = TestPaths.tool("openssl") ?? "/usr/bin/openssl"
        let result = try runTool("/bin/sh", ["-c", "echo | \(openssl) s_client -connect 127.0.0.1:\(port) -verify_ip 127.0.0.1 -CAfile \(ca)"],
                                 timeout: 10)
        return result.stdout.contains("Verify return code: 0 (ok)")
    }

    func testChromiumRelaysOverTurnsAndACertificateReloadKeepsTheCall() throws {
        try requireChromium()
        let first = try TLSCertificates(commonName: "first")
        let second = try TLSCertificates(commonName: "second")
        let files = TemporaryDirectory(prefix: "rtcgate-tls-live")
        defer { files.remove() }
        let certificate = files.file("cert.pem"), key = files.file("key.pem")
        try first.install(certificate: certificate, key: key)
        let port = try freePort(), tlsPort = try freePort()
        let range = try freeRelayRange(avoiding: [port, tlsPort])
        let gateway = try GatewayProcess(
            config: "cert = \(certificate)\npkey = \(key)\n",
            flags: ["--user", "alice:secret", "--realm", "example.org", "--allowed-peer-ip", "127.0.0.1", "--workers", "1",
                    "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)", "--tls-listening-port", "\(tlsPort)"],
            port: port)
        let url = "turns:127.0.0.1:\(tlsPort)?transport=tcp"

        // A call that stays up 10 s after connecting, a ping every 100 ms.
        let call = try BackgroundTool(TestPaths.python, [script, "--ca", first.caPath, "--url", url, "--username", "alice",
                                                         "--password", "secret", "--timeout", "30", "--hold", "10"])
        var listed: [JSONValue] = []
        XCTAssertTrue(holds(within: 30) {
            listed = (try? ctl(gateway, ["allocation", "list"]))?.json?["allocations"]?.arrayValue ?? []
            return listed.count == 2
        }, "two relayed allocations (both peers): \(call.output)\n\(gateway.log)")
        XCTAssertEqual(listed.compactMap { $0["transport"]?.stringValue }, ["tls", "tls"], "\(listed)")
        sleep(2)

        // Renewed certificate from another CA: new connections get it, the call goes on.
        try second.install(certificate: certificate, key: key)
        let reload = try ctl(gateway, ["reload"])
        XCTAssertEqual(reload.status, 0, reload.stderr)
        XCTAssertTrue(try verifies(port: tlsPort, ca: second.caPath), "new connections see the new certificate")
        XCTAssertFalse(try verifies(port: tlsPort, ca: first.caPath))
        XCTAssertEqual(try ctl(gateway, ["status"]).json?["planes"]?["tls"]?["subject"]?.stringValue, "CN=second")

        // A key that does not belong to the certificate is refused; the running one stays.
        try first.install(certificate: files.file("unused.pem"), key: key)
        let refused = try ctl(gateway, ["reload"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("does not match"), refused.stderr)
        XCTAssertTrue(try verifies(port: tlsPort, ca: second.caPath), "still serving the last good certificate")

        XCTAssertTrue(holds(within: 40) { !call.process.isRunning }, "the call ends by itself")
        let report = try? JSONParser.parse(Array((call.output.split(separator: "\n").last { $0.hasPrefix("{") } ?? "").utf8))
        XCTAssertEqual(call.process.terminationStatus, 0, call.output)
        XCTAssertEqual(report?["connected"]?.boolValue, true, call.output)
        XCTAssertEqual(report?["relayProtocol"]?.stringValue, "tls", call.output)
        XCTAssertEqual(report?["localCandidateType"]?.stringValue, "relay", call.output)
        XCTAssertEqual(report?["lost"]?.intValue, 0, "no ping lost across the reload: \(call.output)")

        // A new browser trusting only the new CA connects.
        let after = try runTool(TestPaths.python, [script, "--ca", second.caPath, "--url", url, "--username", "alice",
                                                   "--password", "secret", "--timeout", "30"], timeout: 60)
        XCTAssertEqual(after.status, 0, after.stdout + after.stderr)
        gateway.stopCleanly()
    }
}
