import BrokerAdmin
import Glibc
import JSON
import Logging
import MQTT
import Reactor
import Signaling
import TURN

/// Mints the TURN credentials of `ICE_CONFIG` with the relay's own REST secrets, so what the
/// router hands out is exactly what the TURN relay accepts. A class: secrets change live
/// (`secret.add`, `secret.rotate`), and the router keeps this one minter.
final class RestCredentialMinter: IceCredentialMinter {
    private(set) var credentials: RestCredentials

    init(secrets: [String]) { credentials = RestCredentials(secrets: secrets) }

    /// Mints with the newest of `secrets` from now on (none: ICE_CONFIG lists STUN only).
    func replace(secrets: [String]) { credentials = RestCredentials(secrets: secrets) }

    func mint(clientId: String, unixNow: UInt64, ttl: UInt64) -> (username: String, credential: String)? {
        credentials.mint(clientId: clientId, now: unixNow, ttl: ttl).map { ($0.username, $0.password) }
    }
}

/// The signaling plane's shell: the MQTT client and the pure router on the main loop. Messages
/// from the broker go through the router; what it returns is published; a timer drives the
/// router's timeouts and ICE_CONFIG refreshes.
final class SignalingService: MQTTClientDelegate, TimerHandler {
    let router: SignalingRouter
    let client: MQTTClient
    let minter: RestCredentialMinter
    /// Devices' broker logins (nil unless `broker-dynsec`).
    private(set) var brokerAdmin: DynsecProvisioner?
    private let loop: EventLoop
    private let logger = Logger(label: "rtcgate.signaling")
    private var outbox: [OutboundMessage] = []
    private var presence = PresenceGate()
    /// In a cluster: who publishes to which client (nil: alone, publish everything).
    private(set) var cluster: ClusterMembership?
    private let clusterPrefix: String
    private let downPrefix: String
    private let gatewayStatusTopic: String
    private let clusterStatePrefix: String
    /// In a cluster: replicated provisioning records (`{p}/_cluster/state/…`) go here.
    var onClusterState: ((String, UnsafeRawBufferPointer) -> Void)?
    /// Called after every (re)connect to the broker.
    var onConnected: (() -> Void)?
    private let statusPrefix: String
    private let offlinePayload = Array(#"{"state":"offline"}"#.utf8)
    private var disconnectLogged = false
    private var stopped = false
    private static let tickNanos: UInt64 = 200_000_000
    private static let maxStatusBytes = 256
    /// Status messages dropped for being larger than a status can be.
    private(set) var oversizedStatuses: UInt64 = 0

    init(settings: SignalingSettings, loop: EventLoop) throws {
        self.loop = loop
        minter = settings.minter
        router = SignalingRouter(config: settings.router, policy: settings.policy, iceServers: settings.iceServers,
                                 minter: settings.minter)
        statusPrefix = settings.router.topicPrefix + "/status/"
        clusterPrefix = settings.router.topicPrefix + "/_cluster/"
        clusterStatePrefix = settings.router.topicPrefix + "/_cluster/state/"
        downPrefix = settings.router.topicPrefix + "/down/"
        gatewayStatusTopic = settings.router.topicPrefix + "/status/_gw"
        cluster = settings.clusterInstance.map(ClusterMembership.init(name:))
        var mqtt = settings.mqtt
        var subscriptions = router.subscriptions
        if cluster != nil {
            // Every instance takes every client message (not a shared subscription), so all
            // routers hold the same sessions; the cluster's presence topic says who is up.
            subscriptions = subscriptions.map { $0.hasPrefix("$share/") ? String($0.split(separator: "/", maxSplits: 2)[2]) : $0 }
            subscriptions.append(clusterPrefix + "+")
            subscriptions.append(clusterStatePrefix + "#")
        }
        mqtt.subscriptions = subscriptions + (settings.brokerDynsec ? [DynsecCommands.responseTopic] : [])
        client = try MQTTClient(config: mqtt, loop: loop)
        client.delegate = self
        if settings.brokerDynsec {
            brokerAdmin = DynsecProvisioner(client: client, loop: loop, topicPrefix: settings.router.topicPrefix)
        }
        outbox.reserveCapacity(16)
    }

    func start() {
        client.start()
        loop.timers.schedule(at: MonotonicClock.now() + Self.tickNanos, handler: self)
    }

    /// Tells clients with live sessions to go away (GO_AWAY, END shutdown), publishes the
    /// gateway's offline status and disconnects cleanly.
    func shutdown(graceSeconds: Int) {
        guard !stopped else { return }
        stopped = true
        if client.isConnected {
            if let cluster, cluster.online.count > 1 {
                // The others take this instance's clients over: no GO_AWAY or END from here.
                logger.notice("cluster: leaving; \(cluster.online.filter { $0 != cluster.name }.joined(separator: ",")) take over")
            } else {
                router.shutdown(graceSec: graceSeconds, clock: clock(), into: &outbox)
                flushOutbox()
                if cluster != nil {
                    client.publish(topic: gatewayStatusTopic, payload: Array(#"{"state":"offline"}"#.utf8), retain: true, expirySeconds: 0)
                }
            }
        }
        client.stop()
    }

    /// Applies a new set of provisioned clients; sessions no longer allowed end with `END policy`.
    /// The presence subscription is renewed so the broker replays the retained status of clients
    /// that were connected before they were provisioned.
    func updatePolicy(_ policy: SignalingPolicy) {
        router.updatePolicy(policy, into: &outbox)
        flushOutbox()
        for filter in router.subscriptions where filter.hasSuffix("/status/+") {
            client.resubscribe(filter)
        }
    }

    private func clock() -> SignalingClock {
        SignalingClock(monotonicMs: MonotonicClock.now() / 1_000_000, unixSeconds: UInt64(max(0, time(nil))))
    }

    private func flushOutbox() {
        for message in outbox {
            if let cluster, message.topic.hasPrefix(downPrefix), !cluster.owns(String(message.topic.dropFirst(downPrefix.count))) {
                continue  // another instance of the cluster publishes this one
            }
            client.publish(topic: message.topic, payload: message.payload, correlationData: message.correlationData)
        }
        outbox.removeAll(keepingCapacity: true)
    }

    /// `drain`: GO_AWAY to clients with sessions, no new sessions. Returns how many were told.
    func drain(graceSeconds: Int) -> Int {
        router.drain(graceSec: graceSeconds, into: &outbox)
        let told = outbox.count
        flushOutbox()
        return told
    }

    /// Live sessions for `session.list`.
    func sessions() -> [JSONValue] {
        router.sessionInfos(clock: clock()).map { info in
            ["sid": .string(info.sid), "a": .string(info.a), "b": .string(info.b), "state": .string(info.state),
             "offerer": .string(info.offerer), "ageSeconds": .number(JSONNumber(info.ageMs / 1_000)),
             "idleSeconds": .number(JSONNumber(info.idleMs / 1_000))]
        }
    }

    /// `session.end`: END to both parties; false when there is no such session.
    func endSession(sid: String, a: String, b: String, reason: EndReason) -> Bool {
        let ended = router.endSession(sid: sid, between: a, and: b, reason: reason, into: &outbox)
        flushOutbox()
        return ended
    }

    /// Counters for the periodic summary line.
    func summary() -> Logger.Metadata {
        let counters = router.counters
        let mqtt = client.counters
        var metadata: Logger.Metadata = [
            "mqtt_connected": "\(client.isConnected)",
            "mqtt_connects": "\(mqtt.connects)",
            "mqtt_in": "\(mqtt.messagesIn)",
            "mqtt_published": "\(mqtt.published)",
            "mqtt_acked": "\(mqtt.acknowledged)",
            "mqtt_publish_drops": "\(mqtt.publishDrops)",
            "signal_in": "\(counters.messagesIn)",
            "signal_forwarded": "\(counters.forwarded)",
            "signal_replies": "\(counters.replies)",
            "signal_gateway_messages": "\(counters.gatewayMessages)",
            "sessions_live": "\(counters.sessionsLive)",
            "sessions_started": "\(counters.sessionsStarted)",
            "presence_online": "\(counters.presenceOnline)",
            "presence_offline": "\(counters.presenceOffline)",
        ]
        for code in SignalingErrorCode.allCases where counters.refusals[code] > 0 {
            metadata["signal_refused_\(code.rawValue)"] = "\(counters.refusals[code])"
        }
        if presence.discardedOnBrokerLoss > 0 {
            metadata["presence_discarded_on_broker_loss"] = "\(presence.discardedOnBrokerLoss)"
        }
        return metadata
    }

    // MARK: MQTTClientDelegate

    func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int) {
        disconnectLogged = false
        if cluster != nil {
            client.publish(topic: gatewayStatusTopic, payload: Array(#"{"state":"online"}"#.utf8), retain: true, expirySeconds: 0)
        }
        onConnected?()
        presence.brokerConnected(nowMs: clock().monotonicMs)
        logger.notice("signaling connected to the broker", metadata: [
            "broker": "\(client.config.host):\(client.config.port)",
            "mqtt": "\(protocolVersion == 5 ? "5" : "3.1.1")",
            "subscriptions": "\(router.subscriptions.joined(separator: ","))",
        ])
    }

    func mqttClientDidDisconnect(_ client: MQTTClient, reason: String) {
        presence.brokerLost()
        // The first failure is a warning; the retries that follow stay quiet until it comes back.
        if !disconnectLogged {
            logger.warning("signaling: broker unreachable, retrying (back-off up to \(client.config.reconnectMaxMs) ms)",
                           metadata: ["broker": "\(client.config.host):\(client.config.port)", "reason": "\(reason)"])
            disconnectLogged = true
        } else {
            logger.debug("signaling: broker still unreachable", metadata: ["reason": "\(reason)"])
        }
    }

    func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                    correlationData: [UInt8]?, retained: Bool) {
        if cluster != nil, topic.hasPrefix(clusterStatePrefix) {
            onClusterState?(topic, payload)
            return
        }
        if cluster != nil, topic.hasPrefix(clusterPrefix) {
            let instance = String(topic.dropFirst(clusterPrefix.count))
            let online = PresenceGate.isOnlineStatus(Array(payload))
            if cluster?.set(instance, online: online) == true {
                logger.notice("cluster: instance \(instance) is \(online ? "online" : "offline")", metadata: [
                    "online": "\(cluster?.online.joined(separator: ",") ?? "")",
                ])
            }
            return
        }
        if let brokerAdmin, topic == DynsecCommands.responseTopic {
            brokerAdmin.handleResponse(payload: payload)
            return
        }
        let now = clock()
        if topic.hasPrefix(statusPrefix) {
            // A status is `{"state":"online"}` or `{"state":"offline"}`: anything much larger is
            // not one, and is neither held nor passed on (counted by the router as malformed).
            guard payload.count <= Self.maxStatusBytes else {
                oversizedStatuses &+= 1
                return
            }
            let id = String(topic.dropFirst(statusPrefix.count))
            guard presence.admit(id: id, payload: Array(payload), nowMs: now.monotonicMs) else { return }
        }
        router.handle(topic: topic, payload: payload, correlationData: correlationData, clock: now, into: &outbox)
        flushOutbox()
    }

    // MARK: TimerHandler

    func timerFired(context: UInt64, now: UInt64) {
        guard !stopped else { return }
        let current = clock()
        for status in presence.release(nowMs: current.monotonicMs) {
            router.handle(topic: statusPrefix + status.id, payload: status.payload, clock: current, into: &outbox)
        }
        let online = router.policy.clientIds.filter { router.isOnline($0) }
        for id in presence.staleClients(online: online, nowMs: current.monotonicMs) {
            logger.info("signaling: no presence from \(id) since the broker came back; treating it as offline")
            router.handle(topic: statusPrefix + id, payload: offlinePayload, clock: current, into: &outbox)
        }
        router.tick(clock: current, into: &outbox)
        flushOutbox()
        loop.timers.schedule(at: now + Self.tickNanos, handler: self)
    }
}
