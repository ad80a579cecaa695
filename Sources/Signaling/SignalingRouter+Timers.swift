import JSON
import Paths
/// Time-driven work: timeouts, ICE_CONFIG issuance and pushes, return windows, shutdown.
extension SignalingRouter {
    /// When `tick` next has work (monotonic ms): the earliest offer or idle timeout, ICE_CONFIG
    /// push (at most a minute ahead: it follows the wall clock) and return-window end; nil when
    /// there is none. O(sessions + windows).
    public func nextDeadlineMs(clock: SignalingClock) -> UInt64? {
        let now = clock.monotonicMs
        var next: UInt64?
        func consider(_ deadline: UInt64) { next = Swift.min(next ?? deadline, deadline) }
        let lead = config.effectiveIceRefreshLeadSeconds
        func considerExpiry(_ expiry: UInt64?) {
            guard let expiry else { return }
            let due = expiry > lead ? expiry - lead : 0
            // Wall-clock deadline: looked at again within a minute in case the clock steps.
            consider(now + Swift.min(due > clock.unixSeconds ? (due - clock.unixSeconds) * 1_000 : 0, 60_000))
        }
        for session in sessions.sessions.values {
            if session.state == .offered { consider(session.createdMs + config.offerTimeoutMs) }
            consider(session.lastActivityMs + config.idleTimeoutMs)
            considerExpiry(clients[session.key.low]?.iceExpiryUnix)
            considerExpiry(clients[session.key.high]?.iceExpiryUnix)
        }
        for window in returnWindows.values { consider(window.deadlineMs) }
        return next
    }

    /// Ends timed-out sessions, pushes fresh ICE_CONFIGs before credentials expire, and forgets
    /// expired presence return windows. Call at `nextDeadlineMs`; cost is O(sessions + windows).
    public func tick(clock: SignalingClock, into out: inout [OutboundMessage]) {
        let now = clock.monotonicMs
        func elapsed(since t: UInt64) -> UInt64 { now > t ? now - t : 0 }
        let expired = sessions.filter { session in
            (session.state == .offered && elapsed(since: session.createdMs) >= config.offerTimeoutMs)
                || elapsed(since: session.lastActivityMs) >= config.idleTimeoutMs
        }
        for session in expired {
            end(session, reason: .timeout, notify: [session.key.low, session.key.high], into: &out)
        }
        pushDueIceConfigs(clock: clock, into: &out)
        if !returnWindows.isEmpty {
            returnWindows = returnWindows.filter { $0.value.deadlineMs > now }
        }
    }

    /// Graceful shutdown: `GO_AWAY {graceSec}` to every client with a live session, then
    /// `END shutdown` to both parties of each session. Later OFFERs get `resources`.
    public func shutdown(graceSec: Int, clock: SignalingClock, into out: inout [OutboundMessage]) {
        isShuttingDown = true
        let live = sessions.ordered()
        var told = Set<String>()
        for session in live {
            for id in [session.key.low, session.key.high] where told.insert(id).inserted {
                notify(GatewayMessages.goAway(graceSec: graceSec), to: id, into: &out)
            }
        }
        for session in live {
            end(session, reason: .shutdown, notify: [session.key.low, session.key.high], into: &out)
        }
    }

    /// The ICE_CONFIG body for `record`, minting fresh TURN credentials and recording their expiry.
    ///
    /// When no credential can be minted (no TURN secret configured, or no TURN URLs), the body
    /// lists the STUN servers only; `ttl` and `iceTransportPolicy` are still present.
    func iceConfigBody(for record: ClientRecord, clock: SignalingClock) -> JSONValue {
        // Without a peer there is no path to choose: this gateway's own relay.
        (try? iceConfigBody(for: record, clock: clock, peer: nil)) ?? [:]
    }

    /// The pushed refresh of a client in a call: the relay its call's path gave it (first, with
    /// credentials that relay accepts), so an ICE restart allocates there again.
    func refreshedIceConfigBody(for record: ClientRecord, clock: SignalingClock) -> JSONValue {
        (try? iceConfigBody(for: record, clock: clock, peer: nil, callRelay: relayPaths?.callRelays[record.id])) ?? [:]
    }

    /// The ICE_CONFIG body; with `peer`, the relays are those of the call's chosen path
    /// (docs/paths.md): this client's relay first, only it when `path-strict` is set.
    func iceConfigBody(for record: ClientRecord, clock: SignalingClock, peer: ClientRecord?, callRelay: String? = nil) throws(Refusal) -> JSONValue {
        let ttl = config.iceTTLSeconds
        var relayURLs = [iceServers]
        var externalRelay: String?  // the chosen relay, when it is an external one
        var pathMember: JSONValue?
        /// `entry`'s URLs first, then this gateway's own unless strict (or the same).
        func lead(with entry: RelayEntry, strict: Bool) {
            let chosen = IceServerURLs(stun: entry.stun, turn: entry.turn)
            relayURLs = strict || chosen == iceServers ? [chosen] : [chosen, iceServers]
            externalRelay = entry.external ? entry.name : nil
        }
        if let relayPaths, let callRelay, let entry = relayPaths.relays[callRelay] {
            lead(with: entry, strict: relayPaths.policy.strict)
        }
        // With one relay there is nothing to choose; without a path that reaches both (nothing
        // reported, no shared site) the gateway's own relay, as for a client that names no peer.
        if let peer, let relayPaths, relayPaths.relays.count > 1,
           let path = try Self.callPath(relayPaths, record, peer, now: clock.unixSeconds) {
            relayPaths.counted(path)
            pathEvents.append(path)
            if let chosen = path.relay(for: record.id), let entry = relayPaths.relays[chosen] {
                relayPaths.rememberCallRelay(chosen, for: record.id)
                lead(with: entry, strict: relayPaths.policy.strict)
            }
            pathMember = ["relays": .array(path.relays.map(JSONValue.string)), "costMs": .number(JSONNumber(Int(path.costMicros / 1_000))),
                          "degraded": .bool(path.degraded)]
        }
        var servers: [JSONValue] = []
        let stun = relayURLs.flatMap(\.stun), turn = relayURLs.flatMap(\.turn)
        if !stun.isEmpty {
            servers.append(["urls": .array(stun.map(JSONValue.string))])
        }
        var expiry: UInt64?
        if !turn.isEmpty, let credential = minter.mint(clientId: record.id, unixNow: clock.unixSeconds, ttl: ttl) {
            // One credential for the cluster's relays (they share the REST secret); an external
            // relay's from its own secret.
            for (index, urls) in relayURLs.enumerated() where !urls.turn.isEmpty {
                let external = index == 0 ? externalRelay : nil
                guard let minted = external.map({ minter.mint(clientId: record.id, unixNow: clock.unixSeconds, ttl: ttl, externalRelay: $0) })
                    ?? credential else { continue }
                servers.append(["urls": .array(urls.turn.map(JSONValue.string)),
                                "username": .string(minted.username), "credential": .string(minted.credential)])
            }
            expiry = clock.unixSeconds + ttl
        } else {
            stats.iceWithoutCredentials += 1
        }
        if ensureClient(record.id, nowMs: clock.monotonicMs) {
            clients[record.id]?.iceExpiryUnix = expiry
        }
        var body: [(String, JSONValue)] = [("iceServers", .array(servers)), ("ttl", .number(JSONNumber(ttl))),
                                           ("iceTransportPolicy", record.relayOnly ? "relay" : "all")]
        if let relayPaths, relayPaths.relays.count > 1 {
            body.append(("relays", relayPaths.relayList))
            relayPaths.informed.insert(record.id)
        }
        if let pathMember { body.append(("path", pathMember)) }
        return .object(body)
    }

    /// The call's path from `record`'s end; nil when none reaches both; `no-path` when strict.
    private static func callPath(_ relayPaths: RelayPaths, _ record: ClientRecord, _ peer: ClientRecord, now: UInt64) throws(Refusal) -> CallPath? {
        guard let path = relayPaths.planForCall((record.id, record.site), (peer.id, peer.site), now: now) else {
            if relayPaths.policy.strict { throw Refusal(.noPath, "no relay path to '\(peer.id)' meets the minimum link quality") }
            return nil
        }
        return path.seen(from: record.id)
    }

    /// Pushes ICE_CONFIG (no mid) to clients with a live session whose credentials expire
    /// within the refresh lead time.
    private func pushDueIceConfigs(clock: SignalingClock, into out: inout [OutboundMessage]) {
        let deadline = clock.unixSeconds + config.effectiveIceRefreshLeadSeconds
        var due = Set<String>()
        for key in sessions.sessions.keys {
            for id in [key.low, key.high] {
                if let expiry = clients[id]?.iceExpiryUnix, expiry <= deadline { due.insert(id) }
            }
        }
        for id in due.sorted() {
            guard let record = policy.record(id) else {
                clients[id]?.iceExpiryUnix = nil  // removed: nothing more to push
                continue
            }
            let body = refreshedIceConfigBody(for: record, clock: clock)
            stats.icePushes += 1
            notify(GatewayMessages.iceConfig(mid: nil, body: body), to: id, into: &out)
        }
    }
}
