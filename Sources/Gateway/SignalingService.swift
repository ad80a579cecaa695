import BrokerAdmin
import Glibc
import JSON
import Logging
import MQTT
import Paths
import Reactor
import Signaling
import TURN

/// Mints the TURN credentials of `ICE_CONFIG` with the relay's own REST secrets, so what the
/// router hands out is exactly what the TURN relay accepts. A class: secrets change live
/// (`secret.add`, `secret.rotate`), and the router keeps this one minter.
package final class RestCredentialMinter: IceCredentialMinter {
    package private(set) var credentials: RestCredentials

    package init(secrets: [String]) { credentials = RestCredentials(secrets: secrets) }

    /// Mints with the newest of `secrets` from now on (none: ICE_CONFIG lists STUN only).
    package func replace(secrets: [String]) { credentials = RestCredentials(secrets: secrets) }

    package func mint(clientId: String, unixNow: UInt64, ttl: UInt64) -> (username: String, credential: String)? {
        credentials.mint(clientId: clientId, now: unixNow, ttl: ttl).map { ($0.username, $0.password) }
    }

    /// External relays' REST secrets, by relay name (`path-external-relay … secret=`).
    package var externalSecrets: [String: RestCredentials] = [:]

    package func mint(clientId: String, unixNow: UInt64, ttl: UInt64, externalRelay: String) -> (username: String, credential: String)? {
        externalSecrets[externalRelay]?.mint(clientId: clientId, now: unixNow, ttl: ttl).map { ($0.username, $0.password) }
    }
}

/// The signaling plane's shell: the MQTT client and the pure `SignalingNode` on the main loop.
/// Messages from the broker go to the node; what it returns is published (by this instance, in
/// a cluster, only for the clients it owns); a timer drives the router's timeouts and
/// ICE_CONFIG refreshes.
package final class SignalingService: MQTTClientDelegate, TimerHandler {
    package let node: SignalingNode
    package var router: SignalingRouter { node.router }
    package let client: MQTTClient
    package let minter: RestCredentialMinter
    /// Devices' broker logins (nil unless `broker-dynsec`).
    package private(set) var brokerAdmin: DynsecProvisioner?
    private let loop: EventLoop
    private let logger = Logger(label: "rtcgate.signaling")
    private var outbox: [OutboundMessage] = []
    /// The path model's shell: relays, their probes and rows (docs/paths.md).
    package let paths: ClusterPaths
    /// In a cluster: replicated provisioning records (`{p}/_cluster/state/{key}`) go here.
    package var onClusterState: ((_ key: String, _ payload: UnsafeRawBufferPointer) -> Void)?
    /// Called after every (re)connect to the broker.
    package var onConnected: (() -> Void)?
    private var disconnectLogged = false
    private var stopped = false
    /// The timer for the node's next due work (timeouts, held presence, ICE pushes), armed only
    /// when something is due: an idle gateway does not wake for signaling.
    private var tickTimer: TimerID?
    private var tickDeadline: UInt64 = .max
    /// When `armTick` last scanned the deadlines.
    private var lastScanNanos: UInt64 = 0
    /// The soonest a tick may follow another (bounds the rate whatever the deadlines say).
    private static let minimumTickGapNanos: UInt64 = 100_000_000

    package init(settings: SignalingSettings, loop: EventLoop) throws {
        self.loop = loop
        minter = settings.minter
        let router = SignalingRouter(config: settings.router, policy: settings.policy, iceServers: settings.iceServers,
                                     minter: settings.minter)
        node = SignalingNode(router: router, clusterInstance: settings.clusterInstance)
        paths = ClusterPaths(selfEntry: settings.relay, options: settings.paths, clientCapacity: settings.router.maxClients,
                             topicPrefix: settings.router.topicPrefix, probeFrom: settings.probeFrom,
                             clustered: settings.clusterInstance != nil, loop: loop)
        router.relayPaths = paths.relayPaths
        for external in settings.paths.externalRelays {
            minter.externalSecrets[external.entry.name] = RestCredentials(secrets: [external.secret])
        }
        var mqtt = settings.mqtt
        mqtt.subscriptions = node.subscriptions + (settings.brokerDynsec ? [DynsecCommands.responseTopic] : [])
        client = try MQTTClient(config: mqtt, loop: loop)
        client.delegate = self
        paths.publish = { [unowned client] topic, payload in client.publish(topic: topic, payload: payload, retain: true, expirySeconds: 0) }
        if settings.brokerDynsec {
            brokerAdmin = DynsecProvisioner(client: client, loop: loop, topicPrefix: settings.router.topicPrefix)
        }
        outbox.reserveCapacity(16)
    }

    /// Status messages dropped for being larger than a status can be.
    package var oversizedStatuses: UInt64 { node.oversizedStatuses }

    package func start() {
        client.start()
    }

    /// Tells clients with live sessions to go away (GO_AWAY, END shutdown), publishes the
    /// gateway's offline status and disconnects cleanly.
    package func shutdown(graceSeconds: Int) {
        guard !stopped else { return }
        stopped = true
        if client.isConnected {
            let successors = node.successors
            if !successors.isEmpty {
                // The others take this instance's clients over: no GO_AWAY or END from here.
                logger.notice("cluster: leaving; \(successors.joined(separator: ",")) take over")
            } else {
                router.shutdown(graceSec: graceSeconds, clock: clock(), into: &outbox)
                flushOutbox()
                if node.cluster != nil { publishGatewayStatus(online: false) }
            }
        }
        client.stop()
        paths.stop()
    }

    /// Leaves the broker for a handover without a word to anyone (no offline status, no GO_AWAY):
    /// the successor connects with the same client id (docs/handover.md).
    package func suspendForHandover() {
        client.stop(flushMillis: 200, publishOffline: false)
    }

    /// The handover failed: connect again and serve on.
    package func resumeAfterHandover() {
        client.restart()
    }

    /// One line per relay path chosen for an ICE_CONFIG (a warning when degraded).
    private func logPaths() {
        for path in router.takePathEvents() {
            let metadata: Logger.Metadata = ["from": "\(path.from)", "to": "\(path.to)", "relays": "\(path.relays.joined(separator: ">"))",
                                             "cost_ms": "\(path.costMicros / 1_000)", "bottleneck": "\(path.bottleneck)"]
            if path.degraded {
                logger.warning("paths: no relay path meets path-min-quality; using the best one (degraded)", metadata: metadata)
            } else {
                logger.info("paths: relay path chosen", metadata: metadata)
            }
        }
    }

    /// Applies a new set of provisioned clients; sessions no longer allowed end with `END policy`.
    /// The presence subscription is renewed so the broker replays the retained status of clients
    /// that were connected before they were provisioned.
    package func updatePolicy(_ policy: SignalingPolicy) {
        router.updatePolicy(policy, into: &outbox)
        flushOutbox()
        client.resubscribe(node.topics.statusFilter)
    }

    private func clock() -> SignalingClock {
        SignalingClock(monotonicMs: MonotonicClock.now() / 1_000_000, unixSeconds: UInt64(max(0, time(nil))))
    }

    private func flushOutbox() {
        for message in outbox where node.publishes(message) {
            client.publish(topic: message.topic, payload: message.payload, correlationData: message.correlationData)
        }
        outbox.removeAll(keepingCapacity: true)
        armTickThrottled()
    }

    /// Finding the next deadline scans every session (O(sessions)); at thousands of messages a
    /// second that scan per message cost most of a core. So it runs at most every 100 ms: a
    /// message within 100 ms of the last scan only makes sure a tick (which scans again) comes
    /// within 100 ms of it. Deadlines are seconds apart; at rest nothing changes (no messages,
    /// no scans, no wake-ups).
    private func armTickThrottled() {
        let now = MonotonicClock.now()
        guard tickTimer != nil, now < lastScanNanos + Self.minimumTickGapNanos else {
            lastScanNanos = now
            armTick()
            return
        }
        let latest = lastScanNanos + Self.minimumTickGapNanos
        guard tickDeadline > latest, !stopped else { return }
        if let tickTimer { loop.timers.cancel(tickTimer) }
        tickTimer = loop.timers.schedule(at: latest, handler: self)
        tickDeadline = tickTimer == nil ? .max : latest
    }

    /// Arms the tick timer for the node's next deadline, if that is sooner than the armed one.
    private func armTick() {
        guard !stopped, let dueMs = node.nextDeadlineMs(clock: clock()) else { return }
        let target = max(dueMs * 1_000_000, MonotonicClock.now() + Self.minimumTickGapNanos)
        guard tickTimer == nil || target < tickDeadline else { return }
        if let tickTimer { loop.timers.cancel(tickTimer) }
        tickTimer = loop.timers.schedule(at: target, handler: self)
        tickDeadline = tickTimer == nil ? .max : target
    }

    private func publishGatewayStatus(online: Bool) {
        let payload = online ? #"{"state":"online"}"# : #"{"state":"offline"}"#
        client.publish(topic: node.topics.gatewayStatus, payload: Array(payload.utf8), retain: true, expirySeconds: 0)
    }

    /// `drain`: GO_AWAY to clients with sessions, no new sessions. Returns how many were told.
    package func drain(graceSeconds: Int) -> Int {
        router.drain(graceSec: graceSeconds, into: &outbox)
        let told = outbox.count
        flushOutbox()
        return told
    }

    /// Live sessions for `session.list`.
    package func sessions() -> [JSONValue] {
        router.sessionInfos(clock: clock()).map { info in
            ["sid": .string(info.sid), "a": .string(info.a), "b": .string(info.b), "state": .string(info.state),
             "offerer": .string(info.offerer), "ageSeconds": .number(JSONNumber(info.ageMs / 1_000)),
             "idleSeconds": .number(JSONNumber(info.idleMs / 1_000))]
        }
    }

    /// `session.end`: END to both parties; false when there is no such session.
    package func endSession(sid: String, a: String, b: String, reason: EndReason) -> Bool {
        let ended = router.endSession(sid: sid, between: a, and: b, reason: reason, into: &outbox)
        flushOutbox()
        return ended
    }

    /// Counters for the periodic summary line.
    package func summary() -> Logger.Metadata {
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
        if node.presence.discardedOnBrokerLoss > 0 {
            metadata["presence_discarded_on_broker_loss"] = "\(node.presence.discardedOnBrokerLoss)"
        }
        return metadata
    }

    // MARK: MQTTClientDelegate

    package func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int) {
        disconnectLogged = false
        if node.cluster != nil { publishGatewayStatus(online: true) }
        onConnected?()
        node.brokerConnected(clock: clock())
        armTick()
        logger.notice("signaling connected to the broker", metadata: [
            "broker": "\(client.config.host):\(client.config.port)",
            "mqtt": "\(protocolVersion == 5 ? "5" : "3.1.1")",
            "subscriptions": "\(node.subscriptions.joined(separator: ","))",
        ])
    }

    package func mqttClientDidDisconnect(_ client: MQTTClient, reason: String) {
        node.brokerLost()
        // The first failure is a warning; the retries that follow stay quiet until it comes back.
        if !disconnectLogged {
            logger.warning("signaling: broker unreachable, retrying (back-off up to \(client.config.reconnectMaxMs) ms)",
                           metadata: ["broker": "\(client.config.host):\(client.config.port)", "reason": "\(reason)"])
            disconnectLogged = true
        } else {
            logger.debug("signaling: broker still unreachable", metadata: ["reason": "\(reason)"])
        }
    }

    package func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                            correlationData: [UInt8]?, retained: Bool) {
        if let brokerAdmin, topic == DynsecCommands.responseTopic {
            brokerAdmin.handleResponse(payload: payload)
            return
        }
        switch node.receive(topic: topic, payload: payload, correlationData: correlationData, clock: clock(), into: &outbox) {
        case .clusterState(let key):
            onClusterState?(key, payload)
        case .clusterPresence(let instance, let online, let changed):
            if changed {
                logger.notice("cluster: instance \(instance) is \(online ? "online" : "offline")", metadata: [
                    "online": "\(node.cluster?.online.joined(separator: ",") ?? "")",
                ])
            }
            paths.presence(of: instance, online: online, payload: payload)
        case .clusterLinks(let instance):
            paths.row(from: instance, payload: payload)
        case .routed, .oversizedStatus, .unrouted:
            break
        }
        logPaths()
        flushOutbox()
    }

    // MARK: TimerHandler

    package func timerFired(context: UInt64, now: UInt64) {
        tickTimer = nil
        tickDeadline = .max
        guard !stopped else { return }
        for id in node.tick(clock: clock(), into: &outbox) {
            logger.info("signaling: no presence from \(id) since the broker came back; treating it as offline")
        }
        lastScanNanos = 0  // a tick always re-arms for the next deadline
        flushOutbox()
    }
}
