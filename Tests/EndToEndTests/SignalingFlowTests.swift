import Foundation
import Glibc
import MQTT
import Reactor
import STUN
import TestSupport
import XCTest

/// The signaling plane end to end: real mosquitto with the shipped ACL, the real rtcgate binary,
/// clients on their own MQTT connections.
final class SignalingFlowTests: XCTestCase {
    private let pair = ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"]

    func testOfferAnswerCandidatesAndEndFlowWithReplies() throws {
        let rig = try SignalingRig(clients: pair)
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        XCTAssertTrue(viewer.send(["v": 1, "type": "OFFER", "sid": "s1", "to": "cam-1", "mid": "m1", "seq": 1,
                                   "from": "cam-1", "body": ["sdp": sampleSDP()]], correlation: [7, 7]))
        let status = try XCTUnwrap(rig.expect("STATUS", at: viewer))
        XCTAssertEqual(status["mid"] as? String, "m1")
        XCTAssertEqual(status["code"] as? Int, 200)
        XCTAssertNil(status["error"])
        XCTAssertEqual(viewer.correlations.last ?? nil, [7, 7], "Correlation Data echoed on the reply")
        let offer = try XCTUnwrap(rig.expect("OFFER", at: cam))
        XCTAssertEqual(offer["from"] as? String, "viewer-1", "a forged from is overwritten by the topic's identity")
        XCTAssertNil(offer["to"])
        XCTAssertNil(offer["mid"], "mid is not forwarded")
        XCTAssertEqual(offer["seq"] as? Int, 1)
        XCTAssertEqual((offer["body"] as? [String: Any])?["sdp"] as? String, sampleSDP(), "SDP forwarded unchanged")

        cam.send(["v": 1, "type": "ANSWER", "sid": "s1", "to": "viewer-1", "body": ["sdp": sampleSDP(port: 50002)]])
        let answer = try XCTUnwrap(rig.expect("ANSWER", at: viewer))
        XCTAssertEqual(answer["from"] as? String, "cam-1")
        let candidate = ["candidate": "candidate:9 1 udp 2130706431 10.0.0.5 40000 typ host", "sdpMid": "0", "sdpMLineIndex": 0] as [String: Any]
        for seq in 0..<5 {
            viewer.send(["v": 1, "type": "CANDIDATES", "sid": "s1", "to": "cam-1", "seq": seq, "body": ["candidates": [candidate]]])
        }
        XCTAssertNotNil(rig.expect("CANDIDATES", at: cam, count: 5))
        XCTAssertEqual(cam.received("CANDIDATES").map { $0["seq"] as? Int }, [0, 1, 2, 3, 4], "order kept")
        viewer.send(["v": 1, "type": "END", "sid": "s1", "to": "cam-1", "body": ["reason": "hangup"]])
        let end = try XCTUnwrap(rig.expect("END", at: cam))
        XCTAssertEqual((end["body"] as? [String: Any])?["reason"] as? String, "hangup")
        // The session is gone: candidates on it are refused with not-found.
        viewer.send(["v": 1, "type": "CANDIDATES", "sid": "s1", "to": "cam-1", "mid": "late", "body": ["candidates": [candidate]]])
        let late = try XCTUnwrap(rig.expect("STATUS", at: viewer, count: 2))
        XCTAssertEqual(late["error"] as? String, "not-found")
        XCTAssertEqual(late["code"] as? Int, 404)
        rig.gateway.stopCleanly()
    }

    func testIceConfigCredentialsAreAcceptedByTheTurnRelay() throws {
        let rig = try SignalingRig(clients: pair)
        let viewer = try rig.connect("viewer-1")
        viewer.send(["v": 1, "type": "ICE_CONFIG_REQUEST", "mid": "ice", "body": [:] as [String: Any]])
        let config = try XCTUnwrap(rig.expect("ICE_CONFIG", at: viewer))
        XCTAssertEqual(config["mid"] as? String, "ice")
        let body = try XCTUnwrap(config["body"] as? [String: Any])
        let servers = try XCTUnwrap(body["iceServers"] as? [[String: Any]])
        let turn = try XCTUnwrap(servers.first { ($0["urls"] as? [String])?.contains { $0.hasPrefix("turn:") } == true })
        let urls = try XCTUnwrap(turn["urls"] as? [String])
        XCTAssertTrue(urls.contains("turn:127.0.0.1:\(rig.gateway.port)?transport=udp"), "\(urls)")
        let username = try XCTUnwrap(turn["username"] as? String)
        let credential = try XCTUnwrap(turn["credential"] as? String)
        XCTAssertTrue(username.hasSuffix(":viewer-1"), username)
        let expiry = try XCTUnwrap(UInt64(username.split(separator: ":")[0]))
        let now = UInt64(time(nil))
        XCTAssertTrue((now + 3500...now + 3700).contains(expiry), "expiry = now + ttl (3600 s): \(expiry - now)")
        XCTAssertEqual(body["ttl"] as? Int, 3600)
        // The relay accepts exactly these credentials.
        let client = try TurnTestClient(port: rig.gateway.port, username: username, password: credential)
        client.realm = "rtcgate.local"
        let allocation = try client.allocate()
        XCTAssertTrue(allocation.isSuccess, "Allocate with ICE_CONFIG credentials: \(allocation)")
        let wrong = try TurnTestClient(port: rig.gateway.port, username: username, password: credential + "x")
        wrong.realm = "rtcgate.local"
        XCTAssertEqual(try wrong.allocate().errorCode, 401)
        rig.gateway.stopCleanly()
    }

    func testRefusalsCarryTheirErrors() throws {
        let rig = try SignalingRig(clients: pair.merging(["stranger": "role=viewer groups=other", "cam-2": "role=device groups=home"]) { a, _ in a },
                                   brokerUsers: ["unknown-1"])
        let viewer = try rig.connect("viewer-1")
        let stranger = try rig.connect("stranger")
        let unknown = try rig.connect("unknown-1")
        func status(_ client: SignalTestClient, _ message: [String: Any]) -> [String: Any]? {
            let before = client.received("STATUS").count
            client.send(message)
            return rig.expect("STATUS", at: client, count: before + 1)
        }
        let sdp = ["sdp": sampleSDP()]
        XCTAssertEqual(status(viewer, ["v": 1, "type": "OFFER", "sid": "a", "to": "nobody", "mid": "1", "body": sdp])?["error"] as? String, "not-found")
        XCTAssertEqual(status(stranger, ["v": 1, "type": "OFFER", "sid": "a", "to": "cam-1", "mid": "2", "body": sdp])?["error"] as? String, "forbidden")
        XCTAssertEqual(status(unknown, ["v": 1, "type": "OFFER", "sid": "a", "to": "cam-1", "mid": "3", "body": sdp])?["code"] as? Int, 403)
        XCTAssertEqual(status(viewer, ["v": 1, "type": "OFFER", "sid": "a", "to": "cam-2", "mid": "4", "body": sdp])?["error"] as? String,
                       "peer-offline", "provisioned but never connected")
        XCTAssertEqual(status(viewer, ["v": 1, "type": "OFFER", "sid": "a", "to": "_gw", "mid": "5", "body": sdp])?["error"] as? String, "forbidden")
        let wrongVersion = status(viewer, ["v": 2, "type": "OFFER", "sid": "a", "to": "cam-1", "mid": "6", "body": sdp])
        XCTAssertEqual(wrongVersion?["error"] as? String, "bad-request")
        XCTAssertEqual(status(viewer, ["v": 1, "type": "DANCE", "mid": "7", "body": [:] as [String: Any]])?["error"] as? String, "bad-request")
        // Unreadable payloads: a STATUS without mid.
        viewer.sendRaw(Array("{not json".utf8))
        let garbage = try XCTUnwrap(rig.expect("STATUS", at: viewer, count: 6))
        XCTAssertEqual(garbage["error"] as? String, "bad-request")
        XCTAssertNil(garbage["mid"])
        viewer.sendRaw(Array(repeating: UInt8(ascii: " "), count: 66_000))
        let large = try XCTUnwrap(rig.expect("STATUS", at: viewer, count: 7))
        XCTAssertEqual(large["error"] as? String, "too-large")
        XCTAssertEqual(large["code"] as? Int, 413)
        // Publishing on someone else's up topic never reaches rtcgate (broker ACL): no reply at all.
        viewer.sendRaw(Array(#"{"v":1,"type":"ICE_CONFIG_REQUEST","mid":"x","body":{}}"#.utf8), topicID: "stranger")
        runLoop(rig.loop, for: 0.5)  // time for a reply the ACL should have prevented: none may come
        XCTAssertEqual(viewer.inbox.count, 7)
        XCTAssertTrue(stranger.received("ICE_CONFIG").isEmpty)
        XCTAssertTrue(rig.gateway.isRunning)
        rig.gateway.stopCleanly()
    }

    func testMQTT311ClientsSignalToo() throws {
        let rig = try SignalingRig(clients: pair)
        let cam = try rig.connect("cam-1", protocolChoice: .v311)
        let viewer = try rig.connect("viewer-1", protocolChoice: .v311)
        viewer.send(["v": 1, "type": "OFFER", "sid": "s", "to": "cam-1", "mid": 5, "body": ["sdp": sampleSDP()]])
        XCTAssertEqual(rig.expect("STATUS", at: viewer)?["mid"] as? Int, 5, "numeric mid echoed as sent")
        XCTAssertNotNil(rig.expect("OFFER", at: cam))
        rig.gateway.stopCleanly()
    }
}
