/// A live session as the management plane lists it.
public struct SessionInfo: Sendable, Equatable {
    public var sid: String
    /// The two parties (sorted).
    public var a: String
    public var b: String
    /// `offered` (no answer yet) or `answered`.
    public var state: String
    /// Who sent the latest OFFER.
    public var offerer: String
    public var ageMs: UInt64
    public var idleMs: UInt64
}

extension SignalingRouter {
    /// The live sessions, oldest first.
    public func sessionInfos(clock: SignalingClock) -> [SessionInfo] {
        sessions.ordered().map { session in
            SessionInfo(sid: session.key.sid, a: session.key.low, b: session.key.high,
                        state: session.state == .answered ? "answered" : "offered", offerer: session.latestOfferFrom,
                        ageMs: clock.monotonicMs &- session.createdMs, idleMs: clock.monotonicMs &- session.lastActivityMs)
        }
    }

    /// Ends the session `sid` between `a` and `b` with an `END` to both parties (from `_gw`);
    /// false when there is no such session.
    public func endSession(sid: String, between a: String, and b: String, reason: EndReason,
                           into out: inout [OutboundMessage]) -> Bool {
        guard let session = sessions[SessionKey(a, b, sid: sid)] else { return false }
        end(session, reason: reason, notify: [session.key.low, session.key.high], into: &out)
        return true
    }

    /// Drain: `GO_AWAY {graceSec}` to every client with a live session, and no new sessions from
    /// now on (`resources` "gateway is draining"); live sessions continue until they end.
    public func drain(graceSec: Int, into out: inout [OutboundMessage]) {
        isShuttingDown = true
        var told = Set<String>()
        for session in sessions.ordered() {
            for id in [session.key.low, session.key.high] where told.insert(id).inserted {
                notify(GatewayMessages.goAway(graceSec: graceSec), to: id, into: &out)
            }
        }
    }

    /// Whether the router refuses new sessions (draining or shutting down).
    public var isDraining: Bool { isShuttingDown }
}
