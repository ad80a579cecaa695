import JSON
/// Keeps a broker restart from looking like every client leaving at once.
///
/// When mosquitto stops, it publishes the Last Will of every connected client before it closes
/// rtcgate's own connection, so a restart would end every live session with `peer-offline`. The
/// gate therefore holds an `offline` presence for `holdMs` (well inside the one second in which a
/// peer must be told) and drops what it holds if the broker connection is lost meanwhile.
///
/// After a reconnect, retained statuses arrive again. A client that rtcgate still believes online
/// but that has published no status within `resyncMs` of the reconnect (it vanished while the
/// broker was away, and a broker without persistence forgot its Will) is reported by
/// `staleClients` so the shell can treat it as offline.
public struct PresenceGate: Sendable {
    /// A status message waiting for its release time.
    public struct Held: Sendable, Equatable {
        public var id: String
        public var payload: [UInt8]
        public var releaseAtMs: UInt64
    }

    public let holdMs: UInt64
    public let resyncMs: UInt64
    /// Offline statuses discarded because the broker went away while they were held.
    public private(set) var discardedOnBrokerLoss: UInt64 = 0
    private var held: [Held] = []
    private var resyncDeadlineMs: UInt64?
    private var seenSinceConnect: Set<String> = []

    /// The most statuses held at once; beyond, statuses pass at once (memory stays bounded
    /// whatever clients publish, at the price of the restart protection during such a flood).
    public let maxHeld: Int

    public init(holdMs: UInt64 = 400, resyncMs: UInt64 = 3_000, maxHeld: Int = 4_096) {
        self.holdMs = holdMs
        self.resyncMs = resyncMs
        self.maxHeld = maxHeld
    }

    /// A status message for `id` arrived. Returns true when it may go to the router now; false
    /// when the gate holds it (an offline status, or anything behind a held status of the same id,
    /// so one client's presence changes keep their order).
    public mutating func admit(id: String, payload: [UInt8], nowMs: UInt64) -> Bool {
        seenSinceConnect.insert(id)
        guard held.count < maxHeld else { return true }
        if Self.isOffline(payload) || held.contains(where: { $0.id == id }) {
            held.append(Held(id: id, payload: payload, releaseAtMs: nowMs + holdMs))
            return false
        }
        return true
    }

    /// When `release` or `staleClients` next has something to do (monotonic ms).
    public var nextDeadlineMs: UInt64? {
        [held.first?.releaseAtMs, resyncDeadlineMs].compactMap { $0 }.min()
    }

    /// The held statuses whose time has come, in arrival order.
    public mutating func release(nowMs: UInt64) -> [Held] {
        guard let first = held.first, first.releaseAtMs <= nowMs else { return [] }
        let count = held.prefix { $0.releaseAtMs <= nowMs }.count
        let due = Array(held.prefix(count))
        held.removeFirst(count)
        return due
    }

    /// The broker connection was lost: what is held came from the broker going down.
    public mutating func brokerLost() {
        discardedOnBrokerLoss += UInt64(held.count)
        held.removeAll()
        resyncDeadlineMs = nil
    }

    /// The broker connection is back: retained statuses will follow.
    public mutating func brokerConnected(nowMs: UInt64) {
        seenSinceConnect.removeAll()
        resyncDeadlineMs = nowMs + resyncMs
    }

    /// Once, `resyncMs` after a reconnect: those of `online` that published no status since.
    public mutating func staleClients(online: [String], nowMs: UInt64) -> [String] {
        guard let deadline = resyncDeadlineMs, nowMs >= deadline else { return [] }
        resyncDeadlineMs = nil
        return online.filter { !seenSinceConnect.contains($0) }
    }

    /// `{"state":"online"}`.
    public static func isOnlineStatus(_ payload: [UInt8]) -> Bool {
        guard let value = try? JSONParser.parse(payload) else { return false }
        return value["state"]?.stringValue == "online"
    }

    /// An empty payload (retained status cleared) or `{"state":"offline"}`.
    static func isOffline(_ payload: [UInt8]) -> Bool {
        if payload.isEmpty { return true }
        guard let value = try? JSONParser.parse(payload) else { return false }
        return value["state"]?.stringValue == "offline"
    }
}
