import Foundation
import Glibc
import XCTest

/// Session timeouts and live re-provisioning, end to end.
final class SignalingLifecycleTests: XCTestCase {
    func testUnansweredOfferEndsWithTimeoutToBothSides() throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"],
                                   extraConfig: "signal-offer-timeout = 1\n")
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        let sent = monotonicSeconds()
        viewer.send(["v": 1, "type": "OFFER", "sid": "t1", "to": "cam-1", "body": ["sdp": sampleSDP()]])
        XCTAssertNotNil(rig.expect("OFFER", at: cam))
        for client in [cam, viewer] {
            let end = try XCTUnwrap(rig.expect("END", at: client, timeout: 3))
            XCTAssertEqual(end["from"] as? String, "_gw")
            XCTAssertEqual(end["sid"] as? String, "t1")
            XCTAssertEqual((end["body"] as? [String: Any])?["reason"] as? String, "timeout")
        }
        let elapsed = monotonicSeconds() - sent
        XCTAssertTrue((0.9...2.0).contains(elapsed), "END after the 1 s offer timeout: \(elapsed) s")
        rig.gateway.stopCleanly()
    }

    func testSighupProvisionsAndRevokesClientsLive() throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"],
                                   brokerUsers: ["viewer-2"])
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        let newcomer = try rig.connect("viewer-2")
        newcomer.send(["v": 1, "type": "OFFER", "sid": "n1", "to": "cam-1", "mid": "a", "body": ["sdp": sampleSDP()]])
        XCTAssertEqual(rig.expect("STATUS", at: newcomer)?["error"] as? String, "forbidden", "not provisioned yet")
        viewer.send(["v": 1, "type": "OFFER", "sid": "v1", "to": "cam-1", "body": ["sdp": sampleSDP()]])
        XCTAssertNotNil(rig.expect("OFFER", at: cam))
        // Re-provision: viewer-2 joins the group, viewer-1 moves out of it.
        var config = try String(contentsOfFile: rig.gateway.configPath, encoding: .utf8)
        config = config.replacingOccurrences(of: "signal-client = viewer-1 role=viewer groups=home",
                                             with: "signal-client = viewer-1 role=viewer groups=elsewhere")
        config += "signal-client = viewer-2 role=viewer groups=home\n"
        try rig.gateway.rewriteConfig(config)
        rig.gateway.send(signal: SIGHUP)
        XCTAssertTrue(rig.gateway.waitForLog("reloaded"), rig.gateway.log)
        // The revoked pair's session ends with END policy on both sides.
        let end = rig.expect("END", at: viewer)
        XCTAssertEqual((end?["body"] as? [String: Any])?["reason"] as? String, "policy")
        XCTAssertNotNil(rig.expect("END", at: cam))
        // viewer-2 was online before it was provisioned: its retained presence is replayed, so it
        // can be called at once (not refused as peer-offline).
        cam.send(["v": 1, "type": "OFFER", "sid": "n2", "to": "viewer-2", "mid": "b", "body": ["sdp": sampleSDP()]])
        let accepted = rig.expect("STATUS", at: cam)
        XCTAssertEqual(accepted?["code"] as? Int, 200, "\(cam.inbox)")
        XCTAssertNotNil(rig.expect("OFFER", at: newcomer))
        rig.gateway.stopCleanly()
    }
}

/// The credential refresh: a client in a live session gets a fresh ICE_CONFIG before its TURN
/// credentials expire (ice-ttl 60 s: pushed at 48 s), and the new credentials work on the relay.
final class SignalingIceRefreshTests: XCTestCase {
    func testFreshIceConfigIsPushedBeforeExpiry() throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"],
                                   extraConfig: "ice-ttl = 60\n")
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        viewer.send(["v": 1, "type": "ICE_CONFIG_REQUEST", "mid": "ice", "body": [:] as [String: Any]])
        let first = try XCTUnwrap(rig.expect("ICE_CONFIG", at: viewer))
        viewer.send(["v": 1, "type": "OFFER", "sid": "long", "to": "cam-1", "body": ["sdp": sampleSDP()]])
        XCTAssertNotNil(rig.expect("OFFER", at: cam))
        cam.send(["v": 1, "type": "ANSWER", "sid": "long", "to": "viewer-1", "body": ["sdp": sampleSDP()]])
        XCTAssertNotNil(rig.expect("ANSWER", at: viewer))
        let pushed = try XCTUnwrap(rig.expect("ICE_CONFIG", at: viewer, count: 2, timeout: 58), "no ICE_CONFIG pushed before expiry")
        XCTAssertNil(pushed["mid"], "a push carries no mid")
        func turnServer(_ config: [String: Any]) -> [String: Any]? {
            ((config["body"] as? [String: Any])?["iceServers"] as? [[String: Any]])?.first { $0["username"] != nil }
        }
        let old = try XCTUnwrap(turnServer(first)?["username"] as? String)
        let new = try XCTUnwrap(turnServer(pushed))
        let newUsername = try XCTUnwrap(new["username"] as? String)
        XCTAssertGreaterThan(UInt64(newUsername.split(separator: ":")[0]) ?? 0, UInt64(old.split(separator: ":")[0]) ?? 0)
        let expiresIn = Int(newUsername.split(separator: ":")[0])! - Int(time(nil))
        XCTAssertTrue((50...61).contains(expiresIn), "fresh credentials for another ttl: \(expiresIn) s")
        let client = try TurnTestClient(port: rig.gateway.port, username: newUsername, password: new["credential"] as! String)
        client.realm = "rtcgate.local"
        XCTAssertTrue(try client.allocate().isSuccess)
        rig.gateway.stopCleanly()
    }
}
