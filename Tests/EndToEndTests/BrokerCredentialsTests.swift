import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// Broker credentials through mosquitto's dynamic security plugin, end to end: `rtcgate ctl
/// device add --broker` creates the device's MQTT login (password shown once) and role; the
/// device connects and signals; `device remove` deletes the login and disconnects it.
final class BrokerCredentialsTests: XCTestCase {
    func testProvisionedDeviceConnectsAndSignalsRemovedOneCannot() throws {
        let rig = try SignalingRig(clients: [:], dynsec: true)
        let cam = try ctl(rig.gateway, ["device", "add", "cam-1", "--group", "home", "--broker"])
        XCTAssertEqual(cam.status, 0, cam.stderr)
        let camPassword = try XCTUnwrap(cam.json?["broker"]?["password"]?.stringValue, "\(String(describing: cam.json))")
        XCTAssertGreaterThanOrEqual(camPassword.count, 24)
        let viewer = try ctl(rig.gateway, ["device", "add", "viewer-1", "--role", "viewer", "--group", "home", "--broker"])
        let viewerPassword = try XCTUnwrap(viewer.json?["broker"]?["password"]?.stringValue, viewer.stderr)
        // The password is shown once: listings never carry it.
        let listed = try ctl(rig.gateway, ["device", "list"])
        XCTAssertFalse(listed.json?.jsonText.contains(camPassword) ?? true)
        XCTAssertEqual(listed.json?["devices"]?.arrayValue?.first?["broker"]?.boolValue, true)
        XCTAssertFalse((try String(contentsOfFile: rig.gateway.stateDirectory + "/provisioning.json", encoding: .utf8)).contains(camPassword),
                       "the store does not keep broker passwords")
        XCTAssertEqual(try ctl(rig.gateway, ["device", "add", "cam-1", "--broker"]).status, 1, "exists")

        let camClient = try rig.connect("cam-1", password: camPassword)
        let viewerClient = try rig.connect("viewer-1", password: viewerPassword)
        viewerClient.send(["v": 1, "type": "OFFER", "sid": "s", "to": "cam-1", "mid": "1", "body": ["sdp": sampleSDP()]])
        XCTAssertEqual(rig.expect("STATUS", at: viewerClient)?["code"] as? Int, 200, "\(viewerClient.inbox)")
        XCTAssertNotNil(rig.expect("OFFER", at: camClient))
        // The device is confined to its own topics: publishing on another's up topic reaches nobody.
        viewerClient.sendRaw(Array(#"{"v":1,"type":"ICE_CONFIG_REQUEST","mid":"x","body":{}}"#.utf8), topicID: "cam-1")
        runLoop(rig.loop, for: 0.5)  // time for a message the ACL should have stopped: none may arrive
        XCTAssertTrue(camClient.received("ICE_CONFIG").isEmpty)

        // Removal: login deleted, connection dropped, reconnects refused; the peer's session ends.
        let removed = try ctl(rig.gateway, ["device", "remove", "viewer-1"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        waitUntil(rig.loop, "the removed device is disconnected", timeout: 5) { !viewerClient.mqtt.isConnected }
        let end = rig.expect("END", at: camClient)
        XCTAssertEqual((end?["body"] as? [String: Any])?["reason"] as? String, "policy")
        waitUntil(rig.loop, "no reconnect attempts", timeout: 10) { viewerClient.mqtt.counters.connectAttempts >= 3 }
        XCTAssertFalse(viewerClient.mqtt.isConnected, "and cannot log in again")
        XCTAssertTrue(camClient.mqtt.isConnected)
        rig.gateway.stopCleanly()
    }

    func testBrokerLoginsNeedTheOption() throws {
        let gateway = try GatewayProcess()
        let refused = try ctl(gateway, ["device", "add", "cam-1", "--broker"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("broker-dynsec"), refused.stderr)
        gateway.stopCleanly()
    }
}
