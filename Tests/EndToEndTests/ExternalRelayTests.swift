import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// A TURN server outside the cluster as a relay of the path model (`path-external-relay`): coturn
/// with its own REST secret. Two clients at its site get it, with credentials from its secret,
/// and their aiortc call is relayed by coturn, which accepted them.
final class ExternalRelayTests: XCTestCase {
    func testClientsAtAnExternalRelaysSiteCallThroughIt() throws {
        let coturnPort = try freePort()
        let secret = "cloud-secret-0123456789"
        let coturn = try BackgroundTool("/usr/bin/turnserver", [
            "-n", "--listening-ip=127.0.0.1", "--listening-port=\(coturnPort)", "--relay-ip=127.0.0.1",
            "--min-port=61000", "--max-port=61099", "--use-auth-secret", "--static-auth-secret=\(secret)", "--realm=cloud",
            "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "--simple-log",
            "--pidfile=" + NSTemporaryDirectory() + "coturn-\(coturnPort).pid"])
        defer { kill(coturn.process.processIdentifier, SIGTERM) }
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=lab site=cloudsite relay-only",
                                             "viewer-1": "role=viewer groups=lab site=cloudsite relay-only"],
                                   extraConfig: """
                                       site = gateway
                                       path-external-relay = cloud stun:127.0.0.1:\(coturnPort) turn:127.0.0.1:\(coturnPort)?transport=udp secret=\(secret) site=cloudsite
                                       """)
        XCTAssertTrue(holds(within: 10) {
            (try? ctl(rig.gateway, ["links"]))?.json?["links"]?.arrayValue?.isEmpty == false
        }, "rtcgate probes coturn: \(rig.gateway.log.suffix(2000))")
        let path = try ctl(rig.gateway, ["path", "cam-1", "viewer-1"]).json
        XCTAssertEqual(path?["relays"]?.arrayValue?.compactMap(\.stringValue), ["cloud"], "both at the cloud relay's site")

        let peer = TestPaths.repoRoot + "/Tests/Clients/webrtc_peer.py"
        let common = ["--broker", "127.0.0.1:\(rig.broker.port)", "--password", SignalingRig.password, "--path", "--timeout", "40"]
        let camera = try BackgroundTool(TestPaths.python, [peer, "--id", "cam-1", "--peer", "viewer-1", "--role", "answerer"] + common)
        sleep(1)
        let viewer = try runTool(TestPaths.python, [peer, "--id", "viewer-1", "--peer", "cam-1", "--role", "offerer"] + common, timeout: 60)
        XCTAssertTrue(holds(within: 20) { !camera.process.isRunning })
        let report = try? JSONParser.parse(Array((viewer.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertEqual(report?["ok"]?.boolValue, true, viewer.stdout + viewer.stderr + camera.output + "\ncoturn:\n" + coturn.output.suffix(2000))
        XCTAssertEqual(report?["path"]?["relays"]?.arrayValue?.compactMap(\.stringValue), ["cloud"])
        XCTAssertEqual(report?["iceServers"]?.arrayValue?.first?.stringValue, "stun:127.0.0.1:\(coturnPort)", "the external relay first")
        let port = Int(report?["localCandidate"]?.stringValue?.split(separator: ":").last ?? "") ?? 0
        XCTAssertTrue((61000...61099).contains(port), "relayed by coturn (its port range), which took the credentials: \(port)")
        XCTAssertTrue(coturn.output.contains("success"), "coturn logged the authenticated allocation")
        rig.gateway.stopCleanly()
    }
}
