import BrokerHarness
import Glibc
@testable import MQTT
import Reactor
import TestSupport
import XCTest

/// Collects what a client's delegate is told.
final class Recorder: MQTTClientDelegate {
    struct Message: Equatable {
        var topic: String
        var payload: String
        var correlation: [UInt8]?
        var retained: Bool
    }

    var messages: [Message] = []
    var connects: [Int] = []
    var disconnects: [String] = []

    func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int) { connects.append(protocolVersion) }
    func mqttClientDidDisconnect(_ client: MQTTClient, reason: String) { disconnects.append(reason) }
    func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                    correlationData: [UInt8]?, retained: Bool) {
        messages.append(Message(topic: topic, payload: String(decoding: payload, as: UTF8.self),
                                correlation: correlationData, retained: retained))
    }
}

final class MQTTClientTests: XCTestCase {
    private var loop: EventLoop!

    override func setUpWithError() throws {
        loop = try EventLoop(maxRegistrations: 64, timerCapacity: 256, tickNanos: 5_000_000)
    }

    private func client(_ id: String, broker: MosquittoBroker, protocolChoice: MQTTProtocolChoice = .auto,
                        subscriptions: [String] = [], configure: (inout MQTTClientConfig) -> Void = { _ in })
        throws -> (MQTTClient, Recorder) {
        var config = MQTTClientConfig(port: Int(broker.port), clientId: id, protocolChoice: protocolChoice,
                                      subscriptions: subscriptions)
        configure(&config)
        let client = try MQTTClient(config: config, loop: loop)
        let recorder = Recorder()
        client.delegate = recorder
        client.start()
        waitUntil(loop, "\(id) did not connect; broker log:\n\(broker.log)") { client.isConnected }
        waitUntil(loop, "\(id): subscriptions not acknowledged") {
            client.counters.subscriptionsAcknowledged >= UInt64(subscriptions.count)
        }
        return (client, recorder)
    }

    func testRoundTripOverMQTT5CarriesCorrelationDataAndExpiry() throws {
        let broker = try MosquittoBroker(.open)
        let (receiver, inbox) = try client("receiver", broker: broker, subscriptions: ["t/#"])
        XCTAssertEqual(inbox.connects, [5])
        // Nagle is off on the broker connection (it would hold small replies back by tens of ms).
        var noDelay: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        XCTAssertEqual(getsockopt(receiver.socketDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, &length), 0)
        XCTAssertEqual(noDelay, 1)
        let (sender, _) = try client("sender", broker: broker)
        XCTAssertTrue(sender.publish(topic: "t/x", payload: Array("hello".utf8), correlationData: [1, 2, 3]))
        waitUntil(loop, timeout: 5) { !inbox.messages.isEmpty }
        XCTAssertEqual(inbox.messages.first, .init(topic: "t/x", payload: "hello", correlation: [1, 2, 3], retained: false))
        waitUntil(loop, timeout: 5) { sender.pendingAckCount == 0 && sender.counters.acknowledged == 1 }
        withExtendedLifetime(receiver) {}
    }

    func testMQTT311WorksWithoutProperties() throws {
        let broker = try MosquittoBroker(.open)
        let (receiver, inbox) = try client("r311", broker: broker, protocolChoice: .v311, subscriptions: ["t/+"])
        XCTAssertEqual(inbox.connects, [4])
        XCTAssertTrue(receiver.publish(topic: "t/self", payload: Array("{}".utf8), correlationData: [9]))
        waitUntil(loop, timeout: 5) { !inbox.messages.isEmpty }
        XCTAssertEqual(inbox.messages.first?.payload, "{}")
        XCTAssertNil(inbox.messages.first?.correlation, "3.1.1 has no Correlation Data")
    }

    func testReconnectsAndResubscribesAfterBrokerRestart() throws {
        let broker = try MosquittoBroker(.open)
        let (receiver, inbox) = try client("survivor", broker: broker, subscriptions: ["a/#"])
        broker.stop()
        waitUntil(loop, timeout: 5) { !receiver.isConnected }
        XCTAssertFalse(receiver.publish(topic: "a/lost", payload: [1]), "no broker: the publish is refused")
        XCTAssertEqual(receiver.counters.publishDrops, 1)
        let attempts = receiver.counters.connectAttempts
        waitUntil(loop, "no retries while the broker is away") { receiver.counters.connectAttempts >= attempts + 2 }
        try broker.start()
        let returned = MonotonicClock.now()
        waitUntil(loop, "no reconnect; disconnects: \(inbox.disconnects)", timeout: 5) { receiver.isConnected }
        let seconds = Double(MonotonicClock.now() - returned) / 1e9
        XCTAssertLessThan(seconds, 3, "back-off is capped at 2 s (+ jitter) after the broker returns")
        XCTAssertEqual(receiver.counters.connects, 2)
        let (sender, _) = try client("sender2", broker: broker)
        waitUntil(loop, "not resubscribed") { receiver.counters.subscriptionsAcknowledged >= 2 }
        sender.publish(topic: "a/b", payload: Array("back".utf8))
        waitUntil(loop, "resubscribed after reconnect", timeout: 5) { inbox.messages.contains { $0.topic == "a/b" } }
    }

    func testWillIsPublishedWhenTheConnectionDiesAndOfflineOnCleanStop() throws {
        let broker = try MosquittoBroker(.open)
        let (observer, seen) = try client("observer", broker: broker, subscriptions: ["status/+"])
        let will = MQTTStatusMessage(topic: "status/dev", payload: Array(#"{"state":"offline"}"#.utf8))
        let (device, _) = try client("dev", broker: broker) { config in
            config.will = will
            config.onlineMessage = MQTTStatusMessage(topic: "status/dev", payload: Array(#"{"state":"online"}"#.utf8))
            config.offlineMessage = MQTTStatusMessage(topic: "status/dev", payload: Array(#"{"state":"bye"}"#.utf8))
        }
        waitUntil(loop, timeout: 5) { seen.messages.contains { $0.payload == #"{"state":"online"}"# } }
        // Cut the TCP connection under libmosquitto: no DISCONNECT, so the broker sends the Will.
        Glibc.shutdown(mosquitto_socket_for_test(device), Int32(SHUT_RDWR))
        waitUntil(loop, "will not delivered: \(seen.messages)") { seen.messages.contains { $0.payload == #"{"state":"offline"}"# } }
        // It comes back by itself and says so again; a clean stop then says goodbye.
        waitUntil(loop, timeout: 5) { device.counters.connects == 2 && device.isConnected }
        waitUntil(loop, timeout: 5) { seen.messages.filter { $0.payload == #"{"state":"online"}"# }.count == 2 }
        device.stop()
        waitUntil(loop, timeout: 5) { seen.messages.contains { $0.payload == #"{"state":"bye"}"# } }
        runLoop(loop, for: 0.3)  // time for a wrong Will to arrive: it must not
        XCTAssertEqual(seen.messages.filter { $0.payload == #"{"state":"offline"}"# }.count, 1,
                       "a clean stop sends no Will")
        withExtendedLifetime(observer) {}
    }

    func testUnreachableBrokerIsRetriedWithBackoffWithoutBlocking() throws {
        let port = try MosquittoBroker.freeTCPPort()
        let client = try MQTTClient(config: MQTTClientConfig(port: Int(port), clientId: "lonely"), loop: loop)
        let recorder = Recorder()
        client.delegate = recorder
        client.start()
        var longestTurn: UInt64 = 0
        let deadline = MonotonicClock.now() + 1_500_000_000
        while MonotonicClock.now() < deadline {
            let before = MonotonicClock.now()
            loop.runOnce(maxWaitNanos: 10_000_000)
            longestTurn = max(longestTurn, MonotonicClock.now() - before)
        }
        XCTAssertFalse(client.isConnected)
        XCTAssertGreaterThanOrEqual(client.counters.connectAttempts, 3, "retried: \(recorder.disconnects)")
        XCTAssertLessThanOrEqual(client.counters.connectAttempts, 12, "backed off, not spinning")
        XCTAssertLessThan(longestTurn, 50_000_000, "no loop turn blocked for 50 ms")
        client.stop()
    }

    func testUnacknowledgedPublishesAreBoundedInCountAndBytes() throws {
        let broker = try MosquittoBroker(.open)
        let (sender, _) = try client("bounded", broker: broker) { config in
            config.maxPendingPublishes = 1_000
            config.maxPendingBytes = 64 * 1024
        }
        // Stop the broker process (SIGSTOP): nothing is acknowledged, so the bound must hold.
        kill(broker.pid, SIGSTOP)
        defer { kill(broker.pid, SIGCONT) }
        var accepted = 0
        for _ in 0..<100 where sender.publish(topic: "big", payload: [UInt8](repeating: 1, count: 4_000)) { accepted += 1 }
        XCTAssertEqual(accepted, 16, "64 KiB / 4,000 B")
        XCTAssertEqual(sender.counters.publishDrops, 84)
        XCTAssertLessThanOrEqual(sender.pendingBytes, 64 * 1024)
        kill(broker.pid, SIGCONT)
        waitUntil(loop, "acknowledged once the broker runs", timeout: 5) { sender.pendingAckCount == 0 && sender.pendingBytes == 0 }
        XCTAssertTrue(sender.publish(topic: "big", payload: [1]))
    }

    func testTLSToTheBrokerChecksItsCertificate() throws {
        let broker = try MosquittoBroker(.tls)
        let (receiver, inbox) = try client("tls-client", broker: broker, subscriptions: ["tls/#"]) { config in
            config.tls = MQTTTLSConfig(caFile: broker.caFile)
        }
        XCTAssertTrue(receiver.publish(topic: "tls/x", payload: Array("secret".utf8)))
        waitUntil(loop, timeout: 5) { inbox.messages.contains { $0.payload == "secret" } }
        // A client trusting another CA never connects (and keeps trying without blocking).
        let stranger = try MosquittoBroker(.tls)
        var config = MQTTClientConfig(port: Int(broker.port), clientId: "wrong-ca")
        config.tls = MQTTTLSConfig(caFile: stranger.caFile)
        let refused = try MQTTClient(config: config, loop: loop)
        refused.start()
        waitUntil(loop, "the wrong-CA client stopped retrying") { refused.counters.connectAttempts >= 2 }
        XCTAssertFalse(refused.isConnected)
        // Plain MQTT to the TLS listener does not connect either.
        let plain = try MQTTClient(config: MQTTClientConfig(port: Int(broker.port), clientId: "plain"), loop: loop)
        plain.start()
        waitUntil(loop, "the plain client stopped retrying") { plain.counters.connectAttempts >= 2 }
        XCTAssertFalse(plain.isConnected)
        XCTAssertTrue(receiver.isConnected)
    }

    func testBackoffDoublesWithJitterAndIsCapped() {
        var backoff = ReconnectBackoff(minMs: 100, maxMs: 2_000)
        let low = (0..<7).map { _ in backoff.nextDelayMs { _ in 0 } }
        XCTAssertEqual(low, [80, 160, 320, 640, 1_280, 1_600, 1_600])
        backoff.reset()
        let high = (0..<7).map { _ in backoff.nextDelayMs { bound in bound - 1 } }
        XCTAssertEqual(high, [119, 239, 479, 959, 1_918, 2_000, 2_000])
    }
}

/// The client's socket, for tests that cut the connection under it.
func mosquitto_socket_for_test(_ client: MQTTClient) -> Int32 { client.socketDescriptor }
