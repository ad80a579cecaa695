import JSON
/// Handling of `{p}/up/{id}`: check, track, filter, forward, reply.
extension SignalingRouter {
    /// What a reply to the current request must carry.
    struct ReplyContext {
        var mid: JSONValue?
        var sid: String?
        /// Set when the request was answered by something other than a STATUS (ICE_CONFIG).
        var answered = false
    }

    func handleUp(sender: String, payload: UnsafeRawBufferPointer, correlation: [UInt8]?, clock: SignalingClock, into out: inout [OutboundMessage]) {
        stats.messagesIn += 1
        var context = ReplyContext()
        do throws(Refusal) {
            try processUp(sender: sender, payload: payload, correlation: correlation, clock: clock, context: &context, into: &out)
            if let mid = context.mid, !context.answered {
                reply(GatewayMessages.status(mid: mid, sid: context.sid, refusal: nil), to: sender, correlation: correlation, into: &out)
            }
        } catch {
            stats.refusals[error.error] += 1
            reply(GatewayMessages.status(mid: context.mid, sid: context.sid, refusal: error), to: sender, correlation: correlation, into: &out)
        }
    }

    /// The checks in the pinned order: size → JSON/envelope → sender → type-specific.
    private func processUp(sender: String, payload: UnsafeRawBufferPointer, correlation: [UInt8]?, clock: SignalingClock, context: inout ReplyContext, into out: inout [OutboundMessage]) throws(Refusal) {
        guard payload.count <= config.maxPayloadBytes else {
            throw Refusal(.tooLarge, "payload of \(payload.count) bytes exceeds the limit of \(config.maxPayloadBytes) bytes")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(payload) } catch { throw Refusal(.badRequest, "invalid JSON: \(error)") }
        guard case .object(let members) = value else { throw Refusal(.badRequest, "payload must be a JSON object") }
        (context.mid, context.sid) = Envelope.replyContext(members)
        let envelope = try Envelope(members: members, sender: sender)

        if ClientID.isReserved(sender) {
            throw Refusal(.forbidden, "client ids starting with '_' are reserved")
        }
        guard let senderRecord = policy.record(sender) else {
            throw Refusal(.forbidden, "client '\(sender)' is not provisioned")
        }
        if let state = clients[sender] {
            var updated = state
            updated.lastSeenMs = clock.monotonicMs
            clients[sender] = updated
        }
        if envelope.type == .directoryRequest {
            try takeToken(sender: sender, type: .directoryRequest, nowMs: clock.monotonicMs)
            answerDirectory(sender: sender, mid: envelope.mid, correlation: correlation, into: &out)
            context.answered = true
            return
        }
        if envelope.type == .linkReport {
            try takeToken(sender: sender, type: .linkReport, nowMs: clock.monotonicMs)
            try acceptLinkReport(envelope.linkReports, from: sender, clock: clock)
            return
        }
        if envelope.type == .iceConfigRequest {
            let peer = try pathPeer(of: envelope, sender: sender)
            let body = try iceConfigBody(for: senderRecord, clock: clock, peer: peer)
            stats.iceConfigsIssued += 1
            reply(GatewayMessages.iceConfig(mid: envelope.mid, body: body), to: sender, correlation: correlation, into: &out)
            context.answered = true
            return
        }
        try routeSessionMessage(envelope, from: senderRecord, clock: clock, into: &out)
    }

    private func routeSessionMessage(_ envelope: Envelope, from senderRecord: ClientRecord, clock: SignalingClock, into out: inout [OutboundMessage]) throws(Refusal) {
        // Envelope guarantees `to` and `sid` for session messages.
        let sender = senderRecord.id, target = envelope.to!, sid = envelope.sid!
        let now = clock.monotonicMs
        if ClientID.isReserved(target) {
            throw Refusal(.forbidden, "client ids starting with '_' are reserved")
        }
        guard let targetRecord = policy.record(target) else {
            throw Refusal(.notFound, "client '\(target)' is not provisioned")
        }
        guard policy.mayTalk(sender, target) else {
            throw Refusal(.forbidden, "'\(sender)' may not signal '\(target)'")
        }
        guard clients.isOnline(target) else {
            throw Refusal(.peerOffline, "client '\(target)' is offline")
        }
        try takeToken(sender: sender, type: envelope.type, nowMs: now)

        let key = SessionKey(sender, target, sid: sid)
        switch envelope.type {
        case .offer:
            if var session = sessions[key] {
                session.latestOfferFrom = sender
                session.lastActivityMs = now
                sessions[key] = session
                stats.renegotiations += 1
            } else {
                try checkSessionLimits(sender: senderRecord, target: targetRecord)
                sessions.insert(key, offerer: sender, nowMs: now)
                stats.sessionsStarted += 1
            }
        case .answer, .candidates:
            guard var session = sessions[key] else { throw Refusal(.notFound, "no such session") }
            if envelope.type == .answer && session.latestOfferFrom != sender { session.state = .answered }
            session.lastActivityMs = now
            sessions[key] = session
        case .end:
            guard sessions.remove(key) != nil else { throw Refusal(.notFound, "no such session") }
            stats.sessionsEnded[envelope.endReason ?? .hangup] += 1
        case .iceConfigRequest, .directoryRequest, .linkReport:
            break
        }
        let relayOnly = senderRecord.relayOnly || targetRecord.relayOnly
        stats.forwarded += 1
        send(forwardable(envelope, from: sender, relayOnly: relayOnly), to: target, into: &out)
    }

    private func takeToken(sender: String, type: ClientMessageType, nowMs: UInt64) throws(Refusal) {
        guard type == .offer || type == .answer || type == .candidates || type == .directoryRequest || type == .linkReport else { return }
        guard ensureClient(sender, nowMs: nowMs), var state = clients[sender] else {
            throw Refusal(.resources, "client table full")
        }
        let outcome = type == .candidates ? state.candidateBucket.take(nowMs: nowMs) : state.sdpBucket.take(nowMs: nowMs)
        clients[sender] = state
        if case .limited(let retry) = outcome {
            let what = type == .candidates ? "CANDIDATES" : type == .offer || type == .answer ? "OFFER/ANSWER"
                : "OFFER/ANSWER/DIRECTORY_REQUEST/LINK_REPORT"
            throw Refusal(.rateLimited, "too many \(what) messages", retryAfterMs: retry)
        }
    }

    private func checkSessionLimits(sender: ClientRecord, target: ClientRecord) throws(Refusal) {
        if isShuttingDown { throw Refusal(.resources, "gateway is shutting down") }
        guard sessions.count < config.maxSessions else {
            throw Refusal(.resources, "session limit reached (\(config.maxSessions))")
        }
        for party in [sender, target] where party.role == .device {
            if sessions.count(involving: party.id) >= config.maxViewersPerDevice {
                throw Refusal(.resources, "device '\(party.id)' already has \(config.maxViewersPerDevice) sessions")
            }
        }
    }

    /// The message as the peer receives it: `from` stamped, `to` and `mid` removed, body
    /// filtered when the session is relay-only; other fields unchanged.
    private func forwardable(_ envelope: Envelope, from sender: String, relayOnly: Bool) -> JSONValue {
        var members: [(String, JSONValue)] = []
        members.reserveCapacity(envelope.members.count + 1)
        for (name, value) in envelope.members {
            switch name {
            case "to", "mid", "from":
                continue
            case "body" where relayOnly:
                members.append((name, filteredBody(envelope)))
            default:
                members.append((name, value))
            }
            if name == "type" { members.append(("from", .string(sender))) }
        }
        return .object(members)
    }

    private func filteredBody(_ envelope: Envelope) -> JSONValue {
        var body = envelope.body
        for i in body.indices {
            switch (envelope.type, body[i].0) {
            case (.offer, "sdp"), (.answer, "sdp"):
                if let sdp = body[i].1.stringValue { body[i].1 = .string(RelayOnlyFilter.filterSDP(sdp)) }
            case (.candidates, "candidates"):
                let kept = (body[i].1.arrayValue ?? []).compactMap(RelayOnlyFilter.filterCandidateObject)
                body[i].1 = .array(kept)
            default:
                break
            }
        }
        return .object(body)
    }
}
