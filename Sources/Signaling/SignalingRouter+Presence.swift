import JSON
/// Presence from `{p}/status/{id}`.
extension SignalingRouter {
    func handleStatus(id: String, payload: UnsafeRawBufferPointer, clock: SignalingClock, into out: inout [OutboundMessage]) {
        stats.statusMessagesIn += 1
        guard !ClientID.isReserved(id), policy.record(id) != nil else {
            stats.presenceUnprovisioned += 1
            return
        }
        guard let online = SignalingRouter.presenceState(payload, maxBytes: config.maxPayloadBytes) else {
            stats.presenceMalformed += 1
            return
        }
        if online {
            setOnline(id, clock: clock, into: &out)
        } else {
            setOffline(id, clock: clock, into: &out)
        }
    }

    /// `true`/`false` for `{"state":"online"|"offline"}` (extra fields allowed), `false` for an
    /// empty payload (retained status cleared), `nil` for anything else.
    static func presenceState(_ payload: UnsafeRawBufferPointer, maxBytes: Int) -> Bool? {
        if payload.isEmpty { return false }
        guard payload.count <= maxBytes, let value = try? JSONParser.parse(payload) else { return nil }
        switch value["state"]?.stringValue {
        case "online": return true
        case "offline": return false
        default: return nil
        }
    }

    private func setOnline(_ id: String, clock: SignalingClock, into out: inout [OutboundMessage]) {
        let now = clock.monotonicMs
        guard ensureClient(id, nowMs: now), var state = clients[id] else {
            stats.clientTableFull += 1
            return
        }
        state.lastSeenMs = now
        let wasOnline = state.online
        state.online = true
        clients[id] = state
        guard !wasOnline else { return }
        stats.presenceOnline += 1
        if policy.record(id)?.role == .device { pushDirectory(changed: id, into: &out) }
        if let window = returnWindows.removeValue(forKey: id), window.deadlineMs > now {
            for peer in window.peers {
                notify(GatewayMessages.peerStatus(peer: id, online: true), to: peer, into: &out)
            }
        }
    }

    /// Marks `id` offline and ends its sessions: each peer gets `PEER_STATUS offline` (once)
    /// then `END peer-offline` per session, and is remembered for the return window.
    private func setOffline(_ id: String, clock: SignalingClock, into out: inout [OutboundMessage]) {
        let now = clock.monotonicMs
        if var state = clients[id], state.online {
            state.online = false
            state.lastSeenMs = now
            clients[id] = state
            stats.presenceOffline += 1
            relayPaths?.clientWentOffline(id)
            directoryWatchers.remove(id)
            if policy.record(id)?.role == .device { pushDirectory(changed: id, into: &out) }
        }
        var told: [String] = []
        for session in sessions.filter({ $0.key.involves(id) }) {
            let peer = session.key.other(than: id)
            if !told.contains(peer) {
                told.append(peer)
                notify(GatewayMessages.peerStatus(peer: id, online: false), to: peer, into: &out)
            }
            end(session, reason: .peerOffline, notify: [peer], into: &out)
        }
        guard !told.isEmpty else { return }
        var peers = returnWindows[id]?.peers ?? []
        for peer in told where !peers.contains(peer) { peers.append(peer) }
        returnWindows[id] = (now + config.presenceReturnWindowMs, peers)
    }
}
