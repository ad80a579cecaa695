/// Every MQTT topic of the signaling protocol, built from one prefix `{p}` (docs/signaling.md):
/// `{p}/up/{id}` (client → rtcgate), `{p}/down/{id}` (rtcgate → client), `{p}/status/{id}`
/// (retained presence and Wills), and the cluster's own `{p}/_cluster/{instance}` (presence of
/// rtcgate instances), `{p}/_cluster/state/{kind}/{name}` (replicated provisioning records),
/// `{p}/_cluster/links/{instance}` (each relay's measured links, docs/paths.md) and
/// `{p}/status/_gw` (the gateway's retained status). The one place these strings are built.
public struct SignalingTopics: Sendable, Equatable {
    /// What a received topic is.
    public enum Kind: Equatable, Sendable {
        /// `{p}/up/{id}`: a client's message (the id is not yet validated).
        case up(Substring)
        /// `{p}/status/{id}`: a client's presence.
        case status(Substring)
        /// `{p}/_cluster/state/{key}`: a replicated provisioning record.
        case clusterState(key: Substring)
        /// `{p}/_cluster/{instance}`: another rtcgate instance's presence.
        case clusterPresence(instance: Substring)
        /// `{p}/_cluster/links/{instance}`: an instance's row of measured relay links.
        case clusterLinks(instance: Substring)
        /// Anything else.
        case other
    }

    public let prefix: String
    private let upPrefix: String
    private let downPrefix: String
    private let statusPrefix: String
    private let clusterPrefix: String
    private let clusterStatePrefix: String
    private let clusterLinksPrefix: String

    public init(prefix: String) {
        self.prefix = prefix
        upPrefix = prefix + "/up/"
        downPrefix = prefix + "/down/"
        statusPrefix = prefix + "/status/"
        clusterPrefix = prefix + "/_cluster/"
        clusterStatePrefix = prefix + "/_cluster/state/"
        clusterLinksPrefix = prefix + "/_cluster/links/"
    }

    /// Where rtcgate publishes to `clientId`.
    public func down(_ clientId: String) -> String { downPrefix + clientId }
    /// Where `clientId` publishes its presence.
    public func status(_ clientId: String) -> String { statusPrefix + clientId }
    /// Where a clustered instance publishes its presence.
    public func clusterPresence(_ instance: String) -> String { clusterPrefix + instance }
    /// Where a replicated provisioning record lives (`key` is `{kind}/{name}`).
    public func clusterState(_ key: String) -> String { clusterStatePrefix + key }
    /// The gateway's own retained status (online/offline), published in a cluster.
    public var gatewayStatus: String { statusPrefix + ClientID.gateway }

    /// Subscription for clients' messages: shared among the instances of a plain group, or not
    /// shared in a cluster (every instance routes every message).
    public func upFilter(shared: Bool) -> String { (shared ? "$share/rtcgate/" : "") + upPrefix + "+" }
    /// Subscription for clients' presence (never shared, so retained presence is delivered).
    public var statusFilter: String { statusPrefix + "+" }
    /// Subscription for the cluster's instance presence.
    public var clusterPresenceFilter: String { clusterPrefix + "+" }
    /// Where an instance publishes its row of relay links.
    public func clusterLinks(_ instance: String) -> String { clusterLinksPrefix + instance }
    /// Subscription for the relays' rows of links.
    public var clusterLinksFilter: String { clusterLinksPrefix + "+" }
    /// Subscription for the replicated provisioning records.
    public var clusterStateFilter: String { clusterStatePrefix + "#" }

    /// Classifies a received topic (`_cluster/state/` and `_cluster/links/` before `_cluster/`, which they extend).
    public func classify(_ topic: String) -> Kind {
        if topic.hasPrefix(upPrefix) { return .up(topic.dropFirst(upPrefix.count)) }
        if topic.hasPrefix(statusPrefix) { return .status(topic.dropFirst(statusPrefix.count)) }
        if topic.hasPrefix(clusterStatePrefix) { return .clusterState(key: topic.dropFirst(clusterStatePrefix.count)) }
        if topic.hasPrefix(clusterLinksPrefix) { return .clusterLinks(instance: topic.dropFirst(clusterLinksPrefix.count)) }
        if topic.hasPrefix(clusterPrefix) { return .clusterPresence(instance: topic.dropFirst(clusterPrefix.count)) }
        return .other
    }
}
