import Foundation
import XCTest

/// DIRECTORY end to end: real mosquitto with the shipped ACL, the real rtcgate, a device
/// provisioned over the control socket with a label, a viewer's directory and its pushes.
final class DirectoryFlowTests: XCTestCase {
    private func devices(_ message: [String: Any]?) -> [[String: Any]] {
        (message?["body"] as? [String: Any])?["devices"] as? [[String: Any]] ?? []
    }

    func testViewerSeesLabelledDevicesAndTheirChanges() throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home",
                                             "outsider": "role=viewer groups=elsewhere"], brokerUsers: ["cam-2"])
        XCTAssertEqual(try ctl(rig.gateway, ["device", "add", "cam-2", "--group", "home", "--label", "Back yard"]).status, 0)
        let viewer = try rig.connect("viewer-1")
        XCTAssertTrue(viewer.send(["v": 1, "type": "DIRECTORY_REQUEST", "mid": "d1", "body": [:] as [String: Any]]))
        let first = rig.expect("DIRECTORY", at: viewer)
        XCTAssertEqual(first?["mid"] as? String, "d1")
        XCTAssertEqual(devices(first).map { $0["id"] as? String }, ["cam-1", "cam-2"])
        XCTAssertEqual(devices(first).map { $0["online"] as? Bool }, [false, false])
        XCTAssertEqual(devices(first).last?["label"] as? String, "Back yard")

        // The device comes online: pushed, without a mid.
        try rig.connect("cam-2")
        let online = rig.expect("DIRECTORY", at: viewer, count: 2)
        XCTAssertNil(online?["mid"])
        XCTAssertEqual(devices(online).last?["online"] as? Bool, true)
        // Relabelled over the control socket (`set` is `update`): pushed.
        XCTAssertEqual(try ctl(rig.gateway, ["device", "set", "cam-2", "--label", "Garden"]).status, 0)
        let relabelled = rig.expect("DIRECTORY", at: viewer, count: 3)
        XCTAssertEqual(devices(relabelled).last?["label"] as? String, "Garden")
        XCTAssertEqual(try ctl(rig.gateway, ["device", "set", "cam-2", "--label", String(repeating: "x", count: 65)]).status, 1,
                       "a label over 64 bytes is refused")

        // Another group's viewer sees none of them; a forged DIRECTORY from a client is refused.
        let outsider = try rig.connect("outsider")
        outsider.send(["v": 1, "type": "DIRECTORY_REQUEST", "mid": "o1", "body": [:] as [String: Any]])
        XCTAssertEqual(devices(rig.expect("DIRECTORY", at: outsider)).count, 0)
        outsider.send(["v": 1, "type": "DIRECTORY", "mid": "o2", "body": ["devices": [] as [Any]]])
        XCTAssertEqual(rig.expect("STATUS", at: outsider)?["error"] as? String, "bad-request")
        rig.gateway.stopCleanly()
    }
}
