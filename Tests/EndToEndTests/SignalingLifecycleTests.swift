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
