import BrokerHarness
import Foundation
import Glibc
import MQTT
import Reactor
import TestSupport
import XCTest

/// One signaling client as a device or app would run it: its own MQTT connection (username =
/// client id) with a retained online status and a Last Will, subscribed to its `down` topic.
final class SignalTestClient: MQTTClientDelegate {
    let id: String
    let mqtt: MQTTClient
    /// Every JSON object received on `down/{id}`, in order.
    private(set) var inbox: [[String: Any]] = []
    /// Correlation Data of each received message (same order as `inbox`).
    private(set) var correlations: [[UInt8]?] = []
    private(set) var receiveTimes: [UInt64] = []

    init(id: String, password: String, brokerPort: UInt16, loop: EventLoop, protocolChoice: MQTTProtocolChoice = .v5,
         prefix: String = "rtc/v1") throws {
        self.id = id
        var config = MQTTClientConfig(port: Int(brokerPort), clientId: id, username: id, password: password,
                                      protocolChoice: protocolChoice, keepAliveSeconds: 10,
                                      subscriptions: ["\(prefix)/down/\(id)"], reconnectMaxMs: 500)
        config.will = MQTTStatusMessage(topic: "\(prefix)/status/\(id)", payload: Array(#"{"state":"offline"}"#.utf8))
        config.onlineMessage = MQTTStatusMessage(topic: "\(prefix)/status/\(id)", payload: Array(#"{"state":"online"}"#.utf8))
        config.offlineMessage = config.will
        mqtt = try MQTTClient(config: config, loop: loop)
        mqtt.delegate = self
        mqtt.start()
    }

    /// Publishes `object` (serialised as JSON) on `up/{id}`.
    @discardableResult
    func send(_ object: [String: Any], correlation: [UInt8]? = nil, prefix: String = "rtc/v1") -> Bool {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return mqtt.publish(topic: "\(prefix)/up/\(id)", payload: Array(data), correlationData: correlation)
    }

    /// Publishes raw bytes on `up/{id}` (malformed input).
    func sendRaw(_ bytes: [UInt8], topicID: String? = nil) {
        mqtt.publish(topic: "rtc/v1/up/\(topicID ?? id)", payload: bytes)
    }

    /// Connected, its `down` subscription acknowledged and its retained online status accepted by
    /// the broker: from then on rtcgate handles that status before anything published later.
    var isReady: Bool {
        mqtt.isConnected && mqtt.counters.subscriptionsAcknowledged >= 1 && mqtt.counters.acknowledged >= 1 && mqtt.pendingAckCount == 0
    }

    /// Messages of `type` received so far.
    func received(_ type: String) -> [[String: Any]] { inbox.filter { $0["type"] as? String == type } }

    func clear() {
        inbox.removeAll()
        correlations.removeAll()
        receiveTimes.removeAll()
    }

    func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int) {}
    func mqttClientDidDisconnect(_ client: MQTTClient, reason: String) {}
    func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                    correlationData: [UInt8]?, retained: Bool) {
        let object = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any]
        inbox.append(object ?? ["unparsed": String(decoding: payload, as: UTF8.self)])
        correlations.append(correlationData)
        receiveTimes.append(MonotonicClock.now())
    }
}

/// A private mosquitto with rtcgate's shipped broker configuration, an `rtcgate run` connected to
/// it, and a loop on which test clients run.
final class SignalingRig {
    static let password = "pw-\(UUID().uuidString.prefix(8))"
    let broker: MosquittoBroker
    let gateway: GatewayProcess
    let loop: EventLoop
    let secret = "rig-secret-\(UUID().uuidString)"
    var clients: [String: SignalTestClient] = [:]

    /// `clients` are provisioned both in the broker's password file and as `signal-client` lines.
    /// With `dynsec`, the broker runs the dynamic security plugin (`packaging/mosquitto/dynsec`)
    /// and rtcgate manages device logins (`--broker-dynsec`); `clients` and `brokerUsers` then
    /// get no broker login (devices get theirs from `rtcgate ctl device add --broker`).
    /// `webSockets`: a folder the broker serves from a `ws` listener too (browser tests).
    init(clients: [String: String], extraConfig: String = "", flags: [String] = [], brokerUsers: [String] = [],
         dynsec: Bool = false, webSockets: String? = nil, secureWebSockets: Bool = false) throws {
        var users = ["rtcgate": Self.password]
        for id in clients.keys { users[id] = Self.password }
        for id in brokerUsers { users[id] = Self.password }
        broker = try MosquittoBroker(dynsec ? .dynsec(adminPassword: Self.password) : .rtcgate(users: users), webSockets: webSockets,
                                    secureWebSockets: secureWebSockets)
        let lines = clients.sorted { $0.key < $1.key }.map { "signal-client = \($0.key) \($0.value)" }
        let config = (lines + [
            "mqtt-host = 127.0.0.1", "mqtt-port = \(broker.port)", "mqtt-user = rtcgate", "mqtt-password = \(Self.password)",
            "use-auth-secret", "static-auth-secret = \(secret)", "allowed-peer-ip = 127.0.0.1",
        ]).joined(separator: "\n") + "\n" + extraConfig
        gateway = try GatewayProcess(config: config + (dynsec ? "broker-dynsec\n" : ""), flags: flags)
        loop = try EventLoop(maxRegistrations: 256, timerCapacity: 1024, tickNanos: 5_000_000)
        guard gateway.waitForLog("signaling connected", timeout: 10) else {
            throw HarnessError("rtcgate did not connect to the broker; log:\n\(gateway.log)\nbroker:\n\(broker.log)")
        }
    }

    /// Connects a client and waits until it is connected and rtcgate has seen it online.
    @discardableResult
    func connect(_ id: String, protocolChoice: MQTTProtocolChoice = .v5, password: String = SignalingRig.password) throws -> SignalTestClient {
        let client = try SignalTestClient(id: id, password: password, brokerPort: broker.port, loop: loop,
                                          protocolChoice: protocolChoice)
        clients[id] = client
        guard holds(within: 5, loop: loop, { client.isReady }) else { throw HarnessError("\(id) did not connect") }
        return client
    }

    /// Waits for the next message of `type` at `client` (bounded) and returns it.
    func expect(_ type: String, at client: SignalTestClient, count: Int = 1, timeout: Double = 5,
                file: StaticString = #filePath, line: UInt = #line) -> [String: Any]? {
        let arrived = holds(within: timeout, loop: loop) { client.received(type).count >= count }
        XCTAssertTrue(arrived, "\(client.id) got no \(type) (#\(count)) within \(timeout) s; inbox: \(client.inbox)\nrtcgate log:\n\(gateway.log.suffix(3000))",
                      file: file, line: line)
        return arrived ? client.received(type)[count - 1] : nil
    }
}

/// A small but realistic SDP (aiortc-style) with host, srflx and relay candidates.
func sampleSDP(port: Int = 50000) -> String {
    [
        "v=0", "o=- 3912348857 3912348857 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0",
        "a=msid-semantic:WMS *", "m=application \(port) DTLS/SCTP 5000", "c=IN IP4 192.168.1.20",
        "a=mid:0", "a=sctpmap:5000 webrtc-datachannel 65535", "a=max-message-size:65536",
        "a=candidate:1 1 udp 2130706431 192.168.1.20 \(port) typ host",
        "a=candidate:2 1 udp 1694498815 203.0.113.7 \(port) typ srflx raddr 192.168.1.20 rport \(port)",
        "a=candidate:3 1 udp 16777215 198.51.100.9 61000 typ relay raddr 203.0.113.7 rport \(port)",
        "a=end-of-candidates", "a=ice-ufrag:abcd", "a=ice-pwd:0123456789abcdef012345", "a=fingerprint:sha-256 "
            + (0..<32).map { _ in "AB" }.joined(separator: ":"), "a=setup:actpass",
    ].joined(separator: "\r\n") + "\r\n"
}
