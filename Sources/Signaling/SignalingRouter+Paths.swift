import Paths
import JSON

/// LINK_REPORT and the peer of an ICE_CONFIG_REQUEST (docs/signaling.md §7.11, docs/paths.md).
extension SignalingRouter {
    /// The peer whose call the ICE_CONFIG is for: `body.peer`, or the other party of this
    /// client's live session `sid`. Nil when neither is given. The pair must be allowed to talk.
    func pathPeer(of envelope: Envelope, sender: String) throws(Refusal) -> ClientRecord? {
        let object = JSONValue.object(envelope.members)
        var peerId = envelope.body.first { $0.0 == "peer" }?.1.stringValue
        if peerId == nil, let sid = object["sid"]?.stringValue {
            peerId = sessions.sessions.keys.first { $0.sid == sid && $0.involves(sender) }?.other(than: sender)
            if peerId == nil { throw Refusal(.notFound, "no such session") }
        }
        guard let peerId else { return nil }
        guard peerId != sender else { throw Refusal(.badRequest, "field 'body.peer' must name another client") }
        guard !ClientID.isReserved(peerId), policy.mayTalk(sender, peerId), let peer = policy.record(peerId) else {
            throw Refusal(.forbidden, "'\(sender)' and '\(peerId)' may not signal each other")
        }
        return peer
    }

    /// Applies a client's measurements. Only a client that was given the relays (an ICE_CONFIG
    /// since it came online) may report, and only on the URLs it was given.
    func acceptLinkReport(_ items: [LinkReportItem], from sender: String, clock: SignalingClock) throws(Refusal) {
        guard let relayPaths, relayPaths.relays.count > 1 else { return }  // one relay: nothing to choose, nothing to keep
        guard relayPaths.informed.contains(sender) else {
            throw Refusal(.badRequest, "ask ICE_CONFIG_REQUEST first: a report names the relays listed in ICE_CONFIG")
        }
        if !items.isEmpty && relayPaths.apply(items, from: sender, now: clock.unixSeconds) == 0 {
            throw Refusal(.badRequest, "no URL in the report is one of the relays this gateway listed")
        }
    }

    /// The paths chosen since the last call (for the shell's log).
    public func takePathEvents() -> [CallPath] {
        defer { pathEvents.removeAll(keepingCapacity: true) }
        return pathEvents
    }
}
