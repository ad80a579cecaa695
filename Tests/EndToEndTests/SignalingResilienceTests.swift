import Foundation
import Glibc
import MQTT
import Reactor
import TestSupport
import XCTest

/// The signaling plane when things go wrong: the broker restarts, a client vanishes, a client
/// floods, the gateway shuts down.
final class SignalingResilienceTests: XCTestCase {
    private let pair = ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"]

    /// Sets up an answered session s1 between viewer-1 and cam-1.
    private func establish(_ rig: SignalingRig, cam: SignalTestClient, viewer: SignalTestClient, sid: String = "s1") {
        viewer.send(["v": 1, "type": "OFFER", "sid": sid, "to": cam.id, "body": ["sdp": sampleSDP()]])
        _ = rig.expect("OFFER", at: cam, count: cam.received("OFFER").count + 1)
        cam.send(["v": 1, "type": "ANSWER", "sid": sid, "to": viewer.id, "body": ["sdp": sampleSDP()]])
        _ = rig.expect("ANSWER", at: viewer, count: viewer.received("ANSWER").count + 1)
    }

    private func candidates(_ seq: Int) -> [String: Any] {
        ["candidates": [["candidate": "candidate:1 1 udp 2130706431 10.0.0.\(seq % 250) 4000 typ host", "sdpMid": "0",
                         "sdpMLineIndex": 0]]]
    }

    func testBrokerRestartMidSessionKeepsTheSession() throws {
        let rig = try SignalingRig(clients: pair)
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        establish(rig, cam: cam, viewer: viewer)
        rig.broker.stop()
        waitUntil(rig.loop, timeout: 5) { !cam.mqtt.isConnected && !viewer.mqtt.isConnected }
        XCTAssertTrue(rig.gateway.waitForLog("signaling: broker unreachable", timeout: 5), "rtcgate noticed the broker leave")
        // The media plane does not notice: STUN is answered while the broker is away.
        try rig.gateway.waitUntilServing(timeout: 1)
        try rig.broker.start()
        let back = MonotonicClock.now()
        XCTAssertTrue(rig.gateway.waitForLog("signaling connected", count: 2, timeout: 5), "rtcgate reconnected:\n\(rig.gateway.log)")
        waitUntil(rig.loop, timeout: 5) { cam.mqtt.isConnected && viewer.mqtt.isConnected }
        // Clients that stayed signal again on the same session, within seconds of the broker's return.
        var delivered = false
        for seq in 0..<40 where !delivered {
            viewer.send(["v": 1, "type": "CANDIDATES", "sid": "s1", "to": "cam-1", "seq": seq, "body": candidates(seq)])
            delivered = holds(within: 0.25, loop: rig.loop) { !cam.received("CANDIDATES").isEmpty }
        }
        XCTAssertTrue(delivered, "no CANDIDATES through after the restart; viewer inbox \(viewer.inbox)\n\(rig.gateway.log.suffix(2000))")
        XCTAssertLessThan(Double(MonotonicClock.now() - back) / 1e9, 8)
        XCTAssertTrue(viewer.received("STATUS").allSatisfy { $0["error"] as? String != "not-found" }, "the session survived: \(viewer.inbox)")
        rig.gateway.stopCleanly()
    }

    func testClientVanishingEndsItsSessionsWithinASecond() throws {
        let rig = try SignalingRig(clients: pair)
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        establish(rig, cam: cam, viewer: viewer)
        // Cut cam-1's TCP connection with no DISCONNECT: the broker publishes its Last Will.
        let cut = MonotonicClock.now()
        Glibc.shutdown(cam.mqtt.socketDescriptor, Int32(SHUT_RDWR))
        let peerStatus = try XCTUnwrap(rig.expect("PEER_STATUS", at: viewer, timeout: 3))
        let end = try XCTUnwrap(rig.expect("END", at: viewer, timeout: 3))
        let elapsed = Double((viewer.receiveTimes.last ?? cut) - cut) / 1e9
        XCTAssertLessThan(elapsed, 1.0, "peer told within 1 s")
        XCTAssertEqual((peerStatus["body"] as? [String: Any])?["peer"] as? String, "cam-1")
        XCTAssertEqual((peerStatus["body"] as? [String: Any])?["state"] as? String, "offline")
        XCTAssertEqual(end["from"] as? String, "_gw")
        XCTAssertEqual(end["sid"] as? String, "s1")
        XCTAssertEqual((end["body"] as? [String: Any])?["reason"] as? String, "peer-offline")
        // cam-1's client reconnects by itself: the viewer hears it is back.
        let online = rig.expect("PEER_STATUS", at: viewer, count: 2, timeout: 5)
        XCTAssertEqual((online?["body"] as? [String: Any])?["state"] as? String, "online")
        rig.gateway.stopCleanly()
    }

    func testFloodFromOneClientDoesNotSlowTheOthers() throws {
        let rig = try SignalingRig(clients: pair.merging(["flood-1": "role=viewer groups=home", "cam-9": "role=device groups=home"]) { a, _ in a })
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        let flooder = try rig.connect("flood-1")
        let target = try rig.connect("cam-9")
        establish(rig, cam: cam, viewer: viewer)
        establish(rig, cam: target, viewer: flooder, sid: "f1")
        // The flooder sends 1,000 CANDIDATES as fast as its connection takes them, while the
        // well-behaved viewer sends 20 spaced 50 ms apart.
        var sentAt: [Int: UInt64] = [:]
        var floodSent = 0
        var next = 0
        let start = MonotonicClock.now()
        while next < 20 || floodSent < 1_000 {
            for _ in 0..<50 where floodSent < 1_000 {
                if flooder.send(["v": 1, "type": "CANDIDATES", "sid": "f1", "to": "cam-9", "body": candidates(floodSent)]) { floodSent += 1 }
            }
            if next < 20, MonotonicClock.now() >= start + UInt64(next) * 50_000_000 {
                viewer.send(["v": 1, "type": "CANDIDATES", "sid": "s1", "to": "cam-1", "seq": next, "body": candidates(next)])
                sentAt[next] = MonotonicClock.now()
                next += 1
            }
            rig.loop.runOnce(maxWaitNanos: 1_000_000)
            if MonotonicClock.now() - start > 20_000_000_000 { break }
        }
        waitUntil(rig.loop, "the viewer's messages all arrive", timeout: 10) { cam.received("CANDIDATES").count == 20 }
        let latencies = cam.inbox.enumerated().compactMap { index, message -> Double? in
            guard message["type"] as? String == "CANDIDATES", let seq = message["seq"] as? Int, let sent = sentAt[seq] else { return nil }
            return Double(cam.receiveTimes[index] - sent) / 1e6
        }.sorted()
        XCTAssertEqual(latencies.count, 20)
        XCTAssertLessThan(latencies[latencies.count / 2], 100, "median latency of the others under the flood (ms): \(latencies)")
        // The flooder is held to its bucket (burst 40, 20/s) and told so.
        waitUntil(rig.loop, "every flood message is either forwarded or refused", timeout: 10) {
            flooder.received("STATUS").count + target.received("CANDIDATES").count >= floodSent
        }
        let forwarded = target.received("CANDIDATES").count
        XCTAssertLessThan(forwarded, 200, "rate limit: 40 burst + 20/s")
        let limited = flooder.received("STATUS").filter { $0["error"] as? String == "rate-limited" }
        XCTAssertGreaterThan(limited.count, 700)
        XCTAssertEqual(limited.first?["code"] as? Int, 429)
        XCTAssertNotNil(limited.first?["retryAfterMs"] as? Int)
        rig.gateway.stopCleanly()
    }

    func testShutdownSendsGoAwayAndEndsSessions() throws {
        let rig = try SignalingRig(clients: pair)
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        establish(rig, cam: cam, viewer: viewer)
        rig.gateway.send(signal: SIGTERM)
        for client in [cam, viewer] {
            XCTAssertNotNil(rig.expect("GO_AWAY", at: client))
            let end = rig.expect("END", at: client)
            XCTAssertEqual((end?["body"] as? [String: Any])?["reason"] as? String, "shutdown")
        }
        let exit = rig.gateway.stop()
        XCTAssertEqual(exit.status, 0, exit.log)
        XCTAssertEqual(cam.received("END").count, 1, "log:\n\(exit.log)")
        XCTAssertFalse(exit.killed)
    }
}
