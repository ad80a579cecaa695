import JSON

/// One rtcgate instance's view of the signaling plane, pure like the router it wraps: it sorts
/// every message from the broker by topic, holds presence through broker restarts
/// (`PresenceGate`), tracks the other instances of a cluster (`ClusterMembership`) and says
/// which outbound messages this instance publishes. The shell only moves bytes between the
/// broker and this type, and hands the messages it does not route (replicated records, the
/// broker's own admin replies) to their owners.
public final class SignalingNode {
    /// What became of a message from the broker.
    public enum Delivery: Equatable, Sendable {
        /// Routed (or held by the presence gate); outbound messages, if any, were appended.
        case routed
        /// A status larger than any status can be: dropped and counted.
        case oversizedStatus
        /// A replicated provisioning record (`{kind}/{name}`) for the cluster replicator.
        case clusterState(key: String)
        /// Another instance's presence; `changed` when the set of online instances changed.
        case clusterPresence(instance: String, online: Bool, changed: Bool)
        /// An instance's row of measured relay links, for the path model's shell.
        case clusterLinks(instance: String)
        /// Not a signaling topic: counted by the router as ignored.
        case unrouted
    }

    public let router: SignalingRouter
    public var topics: SignalingTopics { router.topics }
    /// In a cluster: who publishes to which client (nil: alone, publish everything).
    public private(set) var cluster: ClusterMembership?
    public private(set) var presence = PresenceGate()
    /// Status messages dropped for being larger than a status can be.
    public private(set) var oversizedStatuses: UInt64 = 0
    /// A status is `{"state":"online"}` or `{"state":"offline"}`: anything much larger is not one.
    public static let maxStatusBytes = 256
    private static let offlinePayload = Array(#"{"state":"offline"}"#.utf8)

    public init(router: SignalingRouter, clusterInstance: String?) {
        self.router = router
        cluster = clusterInstance.map(ClusterMembership.init(name:))
    }

    /// The MQTT subscriptions (QoS 1). Alone: the router's (`up` shared among a group). In a
    /// cluster every instance takes every client message (not shared), so all routers hold the
    /// same sessions, plus the instances' presence and the replicated records.
    public var subscriptions: [String] {
        guard cluster != nil else { return router.subscriptions }
        return [topics.upFilter(shared: false), topics.statusFilter, topics.clusterPresenceFilter, topics.clusterStateFilter,
                topics.clusterLinksFilter]
    }

    /// One message from the broker. `payload` is only read during the call.
    public func receive(topic: String, payload: UnsafeRawBufferPointer, correlationData: [UInt8]?, clock: SignalingClock,
                        into out: inout [OutboundMessage]) -> Delivery {
        switch topics.classify(topic) {
        case .clusterState(let key) where cluster != nil:
            return .clusterState(key: String(key))
        case .clusterLinks(let instance) where cluster != nil:
            return .clusterLinks(instance: String(instance))
        case .clusterPresence(let instance) where cluster != nil:
            let online = PresenceGate.isOnlineStatus(Array(payload))
            let changed = cluster?.set(String(instance), online: online) ?? false
            return .clusterPresence(instance: String(instance), online: online, changed: changed)
        case .status(let id):
            guard payload.count <= Self.maxStatusBytes else {
                oversizedStatuses &+= 1
                return .oversizedStatus
            }
            guard presence.admit(id: String(id), payload: Array(payload), nowMs: clock.monotonicMs) else { return .routed }
        case .up:
            break
        case .clusterState, .clusterPresence, .clusterLinks, .other:
            router.handle(topic: topic, payload: payload, correlationData: correlationData, clock: clock, into: &out)  // counted as ignored
            return .unrouted
        }
        router.handle(topic: topic, payload: payload, correlationData: correlationData, clock: clock, into: &out)
        return .routed
    }

    /// The periodic tick: releases held presence, treats clients silent since a reconnect as
    /// offline (returned, for the log), then runs the router's timers.
    @discardableResult
    public func tick(clock: SignalingClock, into out: inout [OutboundMessage]) -> [String] {
        for status in presence.release(nowMs: clock.monotonicMs) {
            router.handle(topic: topics.status(status.id), payload: status.payload, clock: clock, into: &out)
        }
        let online = router.policy.clientIds.filter { router.isOnline($0) }
        let stale = presence.staleClients(online: online, nowMs: clock.monotonicMs)
        for id in stale {
            router.handle(topic: topics.status(id), payload: Self.offlinePayload, clock: clock, into: &out)
        }
        router.tick(clock: clock, into: &out)
        return stale
    }

    /// When `tick` next has work (monotonic ms), nil when nothing is pending: the presence gate's
    /// held statuses and resync, then the router's timeouts, ICE pushes and return windows.
    public func nextDeadlineMs(clock: SignalingClock) -> UInt64? {
        [presence.nextDeadlineMs, router.nextDeadlineMs(clock: clock)].compactMap { $0 }.min()
    }

    /// The broker connection is (back) up: retained presence follows.
    public func brokerConnected(clock: SignalingClock) { presence.brokerConnected(nowMs: clock.monotonicMs) }

    /// The broker connection was lost: held offline statuses came from the broker going down.
    public func brokerLost() { presence.brokerLost() }

    /// Whether this instance publishes `message` (alone: always; in a cluster: when it owns the
    /// recipient).
    public func publishes(_ message: OutboundMessage) -> Bool {
        cluster?.owns(message.recipient) ?? true
    }

    /// The other instances that take this one's clients over when it leaves (empty: alone, or
    /// the last one).
    public var successors: [String] {
        guard let cluster else { return [] }
        return cluster.online.filter { $0 != cluster.name }
    }
}
