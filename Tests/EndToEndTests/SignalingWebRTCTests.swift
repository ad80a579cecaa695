import Foundation
import Glibc
import TestSupport
import XCTest

/// The acceptance test of the signaling plane: two real WebRTC peers (aiortc + paho-mqtt,
/// `Tests/Clients/webrtc_peer.py`, written from docs/signaling.md only) get ICE_CONFIG, signal
/// through mosquitto and rtcgate, and open a data channel over rtcgate's TURN relay with the
/// relay-only policy, exchanging messages both ways.
final class SignalingWebRTCTests: XCTestCase {
    private func runCall(mqtt: String, videoFrames: Int = 0) throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home relay-only",
                                             "viewer-1": "role=viewer groups=home"])
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let common = ["--broker", "127.0.0.1:\(rig.broker.port)", "--password", SignalingRig.password, "--messages", "5",
                      "--timeout", "45", "--mqtt", mqtt] + (videoFrames > 0 ? ["--video-frames", "\(videoFrames)"] : [])
        let answerer = try WebRTCPeerRun(common + ["--id", "cam-1", "--peer", "viewer-1", "--role", "answerer"],
                                     directory: directory, name: "answerer")
        // The offerer may only start once rtcgate has seen the answerer online.
        try waitUntil("the answerer never came online at rtcgate", timeout: 30) {
            try ctl(rig.gateway, ["stats"]).json?["signaling_presence_changes_total"]?["state=online"]?.intValue ?? 0 >= 1
        }
        let offerer = try WebRTCPeerRun(common + ["--id", "viewer-1", "--peer", "cam-1", "--role", "offerer"],
                                    directory: directory, name: "offerer")
        let finished = holds(within: 60) { !offerer.process.isRunning && !answerer.process.isRunning }
        for run in [offerer, answerer] where run.process.isRunning { kill(run.process.processIdentifier, SIGKILL) }
        let offered = (json: offerer.result, text: offerer.text)
        let answered = (json: answerer.result, text: answerer.text)
        XCTAssertTrue(finished, "peers still running after 60 s\noffer \(offered.text)\nanswer \(answered.text)")
        for (role, outcome) in [("offerer", offered), ("answerer", answered)] {
            let json = try XCTUnwrap(outcome.json, "\(role) printed no result\n\(outcome.text)\nrtcgate:\n\(rig.gateway.log.suffix(3000))")
            XCTAssertEqual(json["ok"] as? Bool, true, "\(role): \(outcome.text)\nrtcgate:\n\(rig.gateway.log.suffix(3000))")
            XCTAssertEqual(json["sent"] as? Int, 5)
            XCTAssertEqual(json["received"] as? Int, 5)
            XCTAssertEqual(json["localCandidateType"] as? String, "relay", role)
            // Relay-only on cam-1: neither side learns anything but relay candidates.
            let remote = json["remoteCandidateTypes"] as? [String] ?? []
            XCTAssertFalse(remote.isEmpty, role)
            XCTAssertTrue(remote.allSatisfy { $0 == "relay" }, "\(role) saw \(remote)")
            if role == "offerer" { XCTAssertGreaterThanOrEqual(json["videoFrames"] as? Int ?? 0, videoFrames, "decoded frames") }
        }
        let exit = rig.gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertGreaterThan(Int(counters["turn_to_peer"] ?? "0") ?? 0, 0, "media went through the relay: \(counters)")
    }

    func testTwoAiortcPeersOpenADataChannelOverTheRelayMQTT5() throws {
        try runCall(mqtt: "5")
    }

    func testTwoAiortcPeersOpenADataChannelOverTheRelayMQTT311() throws {
        try runCall(mqtt: "3")
    }

    /// The camera (answerer) sends its test-pattern video (Tests/Clients/test_pattern.py); the
    /// viewer decodes 30 frames of it through the relay.
    func testCameraVideoReachesTheViewerOverTheRelay() throws {
        try runCall(mqtt: "5", videoFrames: 30)
    }
}
