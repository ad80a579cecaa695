import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// The shipped broker configurations for browsers on a real mosquitto: the dev broker's plain
/// `ws` listener and a gateway's `wss` listener (`packaging/mosquitto/rtcgate-websockets.conf`
/// in front of `rtcgate.conf`), each serving `packaging/web` from its port, bound to the
/// address given (never a wildcard: mosquitto 2.0.11 does that without `socket_domain`), and
/// under the same logins and ACL as MQTT over TCP (checked with paho-mqtt over WebSockets).
final class BrokerWebSocketTests: XCTestCase {
    private let devicePassword = "cam-password-1", gatewayPassword = "gateway-password-1"

    /// A password file with rtcgate and cam-1, readable by the broker's user.
    private func passwords(in directory: TemporaryDirectory) throws -> String {
        let path = directory.file("passwd")
        let tool = TestPaths.tool("mosquitto_passwd") ?? "/usr/bin/mosquitto_passwd"
        for (index, (user, password)) in [("rtcgate", gatewayPassword), ("cam-1", devicePassword)].enumerated() {
            let result = try runTool(tool, (index == 0 ? ["-c"] : []) + ["-b", path, user, password], timeout: 10)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        chmod(path, 0o644)
        chmod(directory.path, 0o755)  // mosquitto started as root reads its files as its own user
        return path
    }

    /// Starts mosquitto on `config`; waits (bounded) until it listens on `port`.
    private func startBroker(_ config: String, in directory: TemporaryDirectory, port: UInt16) throws -> BackgroundTool {
        let path = try directory.write("mosquitto.conf", config)
        let broker = try BackgroundTool(TestPaths.tool("mosquitto") ?? "/usr/sbin/mosquitto", ["-c", path])
        guard holds(within: 5, { (try? listeningSockets().contains { $0.hasSuffix(":\(port)") }) == true }) else {
            throw HarnessError("mosquitto did not listen on \(port):\n\(broker.output)")
        }
        return broker
    }

    /// Local addresses of listening TCP sockets (`ss -ltnH`), e.g. "127.0.0.1:9001", "*:9001".
    private func listeningSockets() throws -> [String] {
        let result = try runTool(TestPaths.tool("ss") ?? "/usr/bin/ss", ["-ltnH"], timeout: 5)
        return result.stdout.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 4 ? String(fields[3]) : nil
        }
    }

    private func assertBoundToLoopbackOnly(_ port: UInt16, file: StaticString = #filePath, line: UInt = #line) throws {
        let bound = try listeningSockets().filter { $0.hasSuffix(":\(port)") }
        XCTAssertEqual(bound, ["127.0.0.1:\(port)"], "the websockets listener is on the address given, not a wildcard",
                       file: file, line: line)
    }

    private func check(wsPort: UInt16, tcpPort: UInt16, ca: String?) throws -> JSONValue? {
        let result = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/ws_broker_check.py",
                                                    "--ws-port", "\(wsPort)", "--tcp-port", "\(tcpPort)", "--device", "cam-1",
                                                    "--device-password", devicePassword, "--gateway-password", gatewayPassword]
                                 + (ca.map { ["--ca", $0] } ?? []), timeout: 60)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        return try? JSONParser.parse(Array(result.stdout.utf8))
    }

    /// `packaging/mosquitto/rtcgate-dev.conf`, line for line, with its ports and relative paths
    /// pointed at the test's own.
    func testDevBrokerServesWebSocketsOnLoopback() throws {
        let directory = TemporaryDirectory(prefix: "rtcgate-ws-dev")
        defer { directory.remove() }
        let tcpPort = try freePort(), wsPort = try freePort()
        let shipped = try String(contentsOfFile: TestPaths.repoRoot + "/packaging/mosquitto/rtcgate-dev.conf", encoding: .utf8)
        let config = shipped
            .replacingOccurrences(of: "listener 1883 127.0.0.1", with: "listener \(tcpPort) 127.0.0.1")
            .replacingOccurrences(of: "listener 9001 127.0.0.1", with: "listener \(wsPort) 127.0.0.1")
            .replacingOccurrences(of: "password_file .build/run/mosquitto.passwd", with: "password_file \(try passwords(in: directory))")
            .replacingOccurrences(of: "acl_file packaging/", with: "acl_file \(TestPaths.repoRoot)/packaging/")
            .replacingOccurrences(of: "http_dir packaging/web", with: "http_dir \(TestPaths.repoRoot)/packaging/web")
        XCTAssertNotEqual(config, shipped)
        let broker = try startBroker(config, in: directory, port: wsPort)
        try assertBoundToLoopbackOnly(wsPort)
        let report = try check(wsPort: wsPort, tcpPort: tcpPort, ca: nil)
        XCTAssertEqual(report?["http_status"]?.intValue, 200, broker.output)
        XCTAssertEqual(report?["wrong_password_refused"]?.boolValue, true)
    }

    /// The gateway snippet: wss with certificate files, the viewer folder, then the shipped
    /// rtcgate.conf (logins, ACL) as a conf.d file would follow it.
    func testGatewayBrokerServesSecureWebSocketsOnTheGivenAddress() throws {
        let directory = TemporaryDirectory(prefix: "rtcgate-ws-gw")
        defer { directory.remove() }
        let certificates = try TLSCertificates()
        chmod(certificates.keyPath, 0o644)  // mosquitto started as root reads it as its own user
        chmod(certificates.directory.path, 0o755)
        let tcpPort = try freePort(), wsPort = try freePort()
        let packaging = TestPaths.repoRoot + "/packaging/mosquitto"
        let listeners = try String(contentsOfFile: packaging + "/rtcgate-websockets.conf", encoding: .utf8)
            .replacingOccurrences(of: "listener 1883 127.0.0.1", with: "listener \(tcpPort) 127.0.0.1")
            .replacingOccurrences(of: "listener 8443 192.0.2.1", with: "listener \(wsPort) 127.0.0.1")
            .replacingOccurrences(of: "/etc/rtcgate/tls/fullchain.pem", with: certificates.certificatePath)
            .replacingOccurrences(of: "/etc/rtcgate/tls/privkey.pem", with: certificates.keyPath)
            .replacingOccurrences(of: "/usr/share/rtcgate/web", with: TestPaths.repoRoot + "/packaging/web")
        let passwordFile = try passwords(in: directory)
        _ = try directory.write("rtcgate.acl", try String(contentsOfFile: packaging + "/rtcgate.acl", encoding: .utf8))
        let rules = try String(contentsOfFile: packaging + "/rtcgate.conf", encoding: .utf8)
            .replacingOccurrences(of: "/etc/mosquitto/rtcgate.passwd", with: passwordFile)
            .replacingOccurrences(of: "/etc/mosquitto/", with: directory.path + "/")
        let broker = try startBroker(listeners + "\n" + rules + "\npersistence false\n", in: directory, port: wsPort)
        try assertBoundToLoopbackOnly(wsPort)
        let report = try check(wsPort: wsPort, tcpPort: tcpPort, ca: certificates.caPath)
        XCTAssertEqual(report?["http_status"]?.intValue, 200, broker.output)
        XCTAssertEqual(report?["down"]?.boolValue, true)
        XCTAssertEqual(report?["up"]?.boolValue, true)
    }
}
