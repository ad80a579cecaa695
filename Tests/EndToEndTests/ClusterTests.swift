import BrokerHarness
import Foundation
import Glibc
import MQTT
import Reactor
import TestSupport
import XCTest

/// Two rtcgate instances on one mosquitto (docs/scaling.md): calls are set up through either,
/// every message reaches its recipient exactly once, credentials minted by one work on the
/// other's relay, and when one instance dies the other serves everybody.
final class ClusterTests: XCTestCase {
    private let pairs = (1...4).map { ("cam-\($0)", "viewer-\($0)") }

    func testTwoInstancesShareTheClientsAndTakeOverWhenOneDies() throws {
        let password = SignalingRig.password
        var users = ["rtcgate": password, "rtcgate-b": password]
        for (cam, viewer) in pairs { users[cam] = password; users[viewer] = password }
        let broker = try MosquittoBroker(.rtcgate(users: users), gatewayUsers: ["rtcgate-b"])
        let secret = "cluster-secret-\(UUID().uuidString)"
        let clients = pairs.flatMap { ["signal-client = \($0.0) role=device groups=home", "signal-client = \($0.1) role=viewer groups=home"] }
        func instance(_ name: String, user: String) throws -> GatewayProcess {
            let config = (clients + ["mqtt-host = 127.0.0.1", "mqtt-port = \(broker.port)", "mqtt-user = \(user)",
                                     "mqtt-password = \(password)", "cluster-instance = \(name)", "use-auth-secret",
                                     "static-auth-secret = \(secret)"]).joined(separator: "\n") + "\n"
            return try GatewayProcess(config: config)  // each with its own state folder (provisioning store)
        }
        let a = try instance("a", user: "rtcgate")
        let b = try instance("b", user: "rtcgate-b")
        XCTAssertTrue(a.waitForLog("cluster: instance b is online", timeout: 10), a.log)
        XCTAssertTrue(b.waitForLog("cluster: instance a is online", timeout: 10), b.log)

        let loop = try EventLoop(maxRegistrations: 64, timerCapacity: 512, tickNanos: 5_000_000)
        var connected: [String: SignalTestClient] = [:]
        for (cam, viewer) in pairs {
            for id in [cam, viewer] { connected[id] = try SignalTestClient(id: id, password: password, brokerPort: broker.port, loop: loop) }
        }
        waitUntil(loop, "clients not ready") { connected.values.allSatisfy(\.isReady) }

        func call(_ sid: String) {
            for (cam, viewer) in pairs {
                connected[viewer]!.send(["v": 1, "type": "OFFER", "sid": sid, "to": cam, "mid": sid, "body": ["sdp": sampleSDP()]])
            }
            waitUntil(loop, "every OFFER \(sid) delivered; a: \(a.log.suffix(1500)) b: \(b.log.suffix(1500))") {
                pairs.allSatisfy { connected[$0.0]!.received("OFFER").contains { $0["sid"] as? String == sid } }
            }
            for (cam, viewer) in pairs {
                connected[cam]!.send(["v": 1, "type": "ANSWER", "sid": sid, "to": viewer, "body": ["sdp": sampleSDP()]])
            }
            waitUntil(loop) { pairs.allSatisfy { connected[$0.1]!.received("ANSWER").contains { $0["sid"] as? String == sid } } }
            runLoop(loop, for: 0.5)  // a duplicate from the other instance would arrive by now: none may
            for (cam, viewer) in pairs {
                XCTAssertEqual(connected[cam]!.received("OFFER").filter { $0["sid"] as? String == sid }.count, 1, "\(cam) got one OFFER \(sid)")
                XCTAssertEqual(connected[viewer]!.received("ANSWER").filter { $0["sid"] as? String == sid }.count, 1, "\(viewer) got one ANSWER")
                let replies = connected[viewer]!.received("STATUS").filter { $0["mid"] as? String == sid }
                XCTAssertEqual(replies.map { $0["code"] as? Int }, [200], "\(viewer): one STATUS for \(sid)")
            }
        }
        call("first")
        // Both instances published: the clients are split between them.
        func published(_ gateway: GatewayProcess) throws -> Int {
            try ctl(gateway, ["stats"]).json?["mqtt_messages_published_total"]?.intValue ?? 0
        }
        XCTAssertGreaterThan(try published(a), 4)
        XCTAssertGreaterThan(try published(b), 4)

        // A TURN credential minted by instance a works on instance b's relay (same secret).
        let viewer = connected["viewer-1"]!
        viewer.send(["v": 1, "type": "ICE_CONFIG_REQUEST", "mid": "ice", "body": [:] as [String: Any]])
        waitUntil(loop) { !viewer.received("ICE_CONFIG").isEmpty }
        let servers = (viewer.received("ICE_CONFIG").first?["body"] as? [String: Any])?["iceServers"] as? [[String: Any]] ?? []
        let turn = try XCTUnwrap(servers.first { $0["username"] != nil })
        for gateway in [a, b] {
            let client = try TurnTestClient(port: gateway.port, username: turn["username"] as! String, password: turn["credential"] as! String)
            client.realm = "rtcgate.local"
            XCTAssertTrue(try client.allocate().isSuccess, "credential accepted by the relay on port \(gateway.port)")
        }

        // Provisioning is replicated: a change made on one instance reaches the other's store.
        func devices(_ gateway: GatewayProcess) throws -> [String] {
            try ctl(gateway, ["device", "list"]).json?["devices"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertEqual(try ctl(a, ["device", "add", "doorbell-9", "--group", "home"]).status, 0)
        waitUntil("device added on a reaches b: \(b.log.suffix(1500))", timeout: 5) { (try? devices(b))?.contains("doorbell-9") == true }
        let added = try ctl(b, ["secret", "add"])
        let secretID = try XCTUnwrap(added.json?["id"]?.stringValue)
        waitUntil("secret added on b reaches a", timeout: 5) {
            (try? ctl(a, ["secret", "list"]).json?["secrets"]?.arrayValue?.contains { $0["id"]?.stringValue == secretID }) == true
        }
        XCTAssertEqual(try ctl(b, ["device", "remove", "doorbell-9"]).status, 0)
        waitUntil("removal on b reaches a", timeout: 5) { (try? devices(a))?.contains("doorbell-9") == false }
        XCTAssertTrue(a.log.contains("cluster: removed device/doorbell-9 from b"), String(a.log.suffix(2000)))

        // Instance b dies without a goodbye: its Will tells a, which then serves every client.
        b.stop(signal: SIGKILL)
        XCTAssertTrue(a.waitForLog("cluster: instance b is offline", timeout: 10), a.log)
        call("second")
        a.stopCleanly()
    }
}
