import JSON
import Paths
/// The signaling router: the pure core of rtcgate's signaling plane.
///
/// Inputs (received MQTT messages, ticks, policy updates) come in with an injected clock;
/// actions (messages to publish) go out into an array. No I/O, no clocks, no threads: the
/// router is confined to the caller's event loop and is deliberately not `Sendable`.
public final class SignalingRouter {
    public let config: SignalingConfig
    public private(set) var policy: SignalingPolicy
    public let iceServers: IceServerURLs
    let minter: any IceCredentialMinter

    var sessions = SessionTable()
    var clients: ClientTable
    /// Peers to tell `PEER_STATUS online` if the key's client returns before the deadline.
    var returnWindows: [String: (deadlineMs: UInt64, peers: [String])] = [:]
    var isShuttingDown = false
    var stats = SignalingCounters()
    /// Clients that asked for the directory: pushed updates while online (at most one entry per
    /// provisioned client).
    var directoryWatchers: Set<String> = []

    /// The protocol's topics under `config.topicPrefix`.
    public let topics: SignalingTopics
    /// Relays and their links, for ICE_CONFIG's choice of relay and LINK_REPORT (nil: this
    /// gateway hands out its own relay only, and LINK_REPORT is accepted and ignored).
    public var relayPaths: RelayPaths?
    /// Paths chosen since the shell last took them (for its log), at most 64.
    var pathEvents: [CallPath] = []

    public init(config: SignalingConfig = SignalingConfig(), policy: SignalingPolicy, iceServers: IceServerURLs, minter: any IceCredentialMinter) {
        self.config = config
        self.policy = policy
        self.iceServers = iceServers
        self.minter = minter
        self.clients = ClientTable(capacity: config.maxClients)
        topics = SignalingTopics(prefix: config.topicPrefix)
    }

    /// Counters, with `sessionsLive` filled in.
    public var counters: SignalingCounters {
        var c = stats
        c.sessionsLive = sessions.count
        return c
    }

    public var liveSessionCount: Int { sessions.count }

    /// Whether `id`'s last presence was online.
    public func isOnline(_ id: String) -> Bool { clients.isOnline(id) }

    /// The MQTT subscriptions the shell must hold (QoS 1). `status/+` is not shared so that
    /// retained presence is delivered.
    public var subscriptions: [String] {
        [topics.upFilter(shared: true), topics.statusFilter]
    }

    /// Handles one received message (`{p}/up/{id}` or `{p}/status/{id}`; other topics are
    /// ignored and counted). `payload` is only read during the call.
    public func handle(topic: String, payload: UnsafeRawBufferPointer, correlationData: [UInt8]?, clock: SignalingClock, into out: inout [OutboundMessage]) {
        switch topics.classify(topic) {
        case .up(let id) where ClientID.isValidSyntax(id):
            handleUp(sender: String(id), payload: payload, correlation: correlationData, clock: clock, into: &out)
        case .status(let id) where ClientID.isValidSyntax(id):
            handleStatus(id: String(id), payload: payload, clock: clock, into: &out)
        default:
            stats.ignoredTopics += 1
        }
    }

    /// Convenience overload over an array.
    public func handle(topic: String, payload: [UInt8], correlationData: [UInt8]? = nil, clock: SignalingClock, into out: inout [OutboundMessage]) {
        payload.withUnsafeBytes { handle(topic: topic, payload: $0, correlationData: correlationData, clock: clock, into: &out) }
    }

    /// Live re-provisioning. Sessions whose pair is no longer allowed end with `END policy` to
    /// both parties; state of clients no longer provisioned is dropped.
    ///
    /// Presence of newly provisioned clients is unknown until their next status message: the
    /// shell should re-subscribe `{p}/status/+` after an update to receive retained presence again.
    public func updatePolicy(_ policy: SignalingPolicy, into out: inout [OutboundMessage]) {
        self.policy = policy
        for session in sessions.filter({ !policy.mayTalk($0.key.low, $0.key.high) }) {
            end(session, reason: .policy, notify: [session.key.low, session.key.high], into: &out)
        }
        clients.removeAll { policy.record($0) == nil }
        returnWindows = returnWindows.filter { policy.record($0.key) != nil }
        pushDirectory(changed: nil, into: &out)
    }

    // MARK: - Output helpers

    func send(_ value: JSONValue, to id: String, correlation: [UInt8]? = nil, into out: inout [OutboundMessage]) {
        out.append(OutboundMessage(recipient: id, topic: topics.down(id), payload: value.serialized(), correlationData: correlation))
    }

    func reply(_ value: JSONValue, to id: String, correlation: [UInt8]?, into out: inout [OutboundMessage]) {
        stats.replies += 1
        send(value, to: id, correlation: correlation, into: &out)
    }

    func notify(_ value: JSONValue, to id: String, into out: inout [OutboundMessage]) {
        stats.gatewayMessages += 1
        send(value, to: id, into: &out)
    }

    /// Removes `session`, counts it, and sends a gateway END to each of `notify`.
    func end(_ session: Session, reason: EndReason, notify recipients: [String], into out: inout [OutboundMessage]) {
        sessions.remove(session.key)
        stats.sessionsEnded[reason] += 1
        for id in recipients {
            notify(GatewayMessages.end(sid: session.key.sid, reason: reason, peer: session.key.other(than: id)), to: id, into: &out)
        }
    }

    /// Makes sure `id` has client state; false if the table is full. Entries of clients with a
    /// live session or a pending return window are never evicted.
    func ensureClient(_ id: String, nowMs: UInt64) -> Bool {
        clients.ensure(id, config: config, nowMs: nowMs) {
            var pinned = Set(returnWindows.keys)
            for key in sessions.sessions.keys {
                pinned.insert(key.low)
                pinned.insert(key.high)
            }
            return pinned
        }
    }
}
