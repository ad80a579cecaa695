import Foundation
import Glibc
import TestSupport
import XCTest

/// The acceptance test of the signaling plane: two real WebRTC peers (aiortc + paho-mqtt,
/// `Tests/Clients/webrtc_peer.py`, written from docs/signaling.md only) get ICE_CONFIG, signal
/// through mosquitto and rtcgate, and open a data channel over rtcgate's TURN relay with the
/// relay-only policy, exchanging messages both ways.
final class SignalingWebRTCTests: XCTestCase {
    private struct PeerRun {
        let process: Process
        let stdout: String
        let stderr: String
    }

    private func startPeer(_ arguments: [String], directory: TemporaryDirectory, name: String) throws -> PeerRun {
        let out = directory.file("\(name).out")
        let err = directory.file("\(name).err")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.python)
        process.arguments = [TestPaths.repoRoot + "/Tests/Clients/webrtc_peer.py"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        return PeerRun(process: process, stdout: out, stderr: err)
    }

    private func result(of run: PeerRun) -> (json: [String: Any]?, text: String) {
        let stdout = (try? String(contentsOfFile: run.stdout, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: run.stderr, encoding: .utf8)) ?? ""
        let line = stdout.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map(String.init) ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        return (json, "stdout:\n\(stdout)\nstderr:\n\(stderr.suffix(4000))")
    }

    private func runCall(mqtt: String, videoFrames: Int = 0) throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home relay-only",
                                             "viewer-1": "role=viewer groups=home"])
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let common = ["--broker", "127.0.0.1:\(rig.broker.port)", "--password", SignalingRig.password, "--messages", "5",
                      "--timeout", "45", "--mqtt", mqtt] + (videoFrames > 0 ? ["--video-frames", "\(videoFrames)"] : [])
        let answerer = try startPeer(common + ["--id", "cam-1", "--peer", "viewer-1", "--role", "answerer"],
                                     directory: directory, name: "answerer")
        // The offerer may only start once rtcgate has seen the answerer online.
        try waitUntil("the answerer never came online at rtcgate", timeout: 30) {
            try ctl(rig.gateway, ["stats"]).json?["signaling_presence_changes_total"]?["state=online"]?.intValue ?? 0 >= 1
        }
        let offerer = try startPeer(common + ["--id", "viewer-1", "--peer", "cam-1", "--role", "offerer"],
                                    directory: directory, name: "offerer")
        let finished = holds(within: 60) { !offerer.process.isRunning && !answerer.process.isRunning }
        for run in [offerer, answerer] where run.process.isRunning { kill(run.process.processIdentifier, SIGKILL) }
        let offered = result(of: offerer)
        let answered = result(of: answerer)
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
