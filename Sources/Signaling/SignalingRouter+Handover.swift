import JSON

/// The router's state as a handover carries it to the process replacing this one
/// (docs/handover.md): live sessions, per-client presence and rate buckets, presence return
/// windows, directory watchers and the counters. The clocks are monotonic milliseconds, which
/// both processes share on one machine.
extension SignalingRouter {
    /// The state, as JSON: each entry a positional array (compact, and the envelope's format
    /// version covers the layout).
    @_optimize(size)
    public func handoverState() -> JSONValue {
        let sessionList: [JSONValue] = sessions.ordered().map { session in
            .array([.string(session.key.low), .string(session.key.high), .string(session.key.sid), .bool(session.state == .answered),
                    .string(session.latestOfferFrom), Self.number(session.createdMs), Self.number(session.lastActivityMs)])
        }
        let clientList: [JSONValue] = clients.entries.sorted { $0.key < $1.key }.map { id, state in
            let sdp = state.sdpBucket.snapshot, candidates = state.candidateBucket.snapshot
            return .array([.string(id), .bool(state.online), Self.number(state.lastSeenMs), Self.number(sdp.units), Self.number(sdp.lastMs),
                           Self.number(candidates.units), Self.number(candidates.lastMs), state.iceExpiryUnix.map(Self.number) ?? .null])
        }
        let windows: [JSONValue] = returnWindows.sorted { $0.key < $1.key }.map { id, window in
            .array([.string(id), Self.number(window.deadlineMs), .array(window.peers.map(JSONValue.string))])
        }
        return .object([("sessions", .array(sessionList)), ("clients", .array(clientList)), ("returnWindows", .array(windows)),
                        ("directoryWatchers", .array(directoryWatchers.sorted().map(JSONValue.string))), ("counters", countersJSON())])
    }

    /// Adopts a handed-over state: what the current policy no longer allows is left out (as a
    /// policy update would end it), and entries of the wrong shape are skipped. Throws on a state
    /// that is not what `handoverState` writes.
    @_optimize(size)
    public func restoreHandoverState(_ value: JSONValue, nowMs: UInt64) throws(HandoverStateError) {
        guard let sessionList = value["sessions"]?.arrayValue, let clientList = value["clients"]?.arrayValue,
              let windows = value["returnWindows"]?.arrayValue, let watchers = value["directoryWatchers"]?.arrayValue else {
            throw HandoverStateError("signaling state lacks sessions, clients, returnWindows or directoryWatchers")
        }
        for item in clientList {
            guard let f = item.arrayValue, f.count == 8, let id = f[0].stringValue, policy.record(id) != nil,
                  clients.ensure(id, config: config, nowMs: nowMs, pinned: { [] }), var state = clients[id] else { continue }
            state.online = f[1].boolValue ?? false
            state.lastSeenMs = Self.uint(f[2]) ?? nowMs
            state.sdpBucket = TokenBucket(ratePerSecond: config.sdpRatePerSecond, capacity: config.sdpBurst,
                                          units: Self.uint(f[3]) ?? 0, lastMs: Self.uint(f[4]) ?? nowMs)
            state.candidateBucket = TokenBucket(ratePerSecond: config.candidateRatePerSecond, capacity: config.candidateBurst,
                                                units: Self.uint(f[5]) ?? 0, lastMs: Self.uint(f[6]) ?? nowMs)
            state.iceExpiryUnix = Self.uint(f[7])
            clients[id] = state
        }
        for item in sessionList {
            guard let f = item.arrayValue, f.count == 7, let low = f[0].stringValue, let high = f[1].stringValue, let sid = f[2].stringValue,
                  let offerer = f[4].stringValue, policy.mayTalk(low, high), sessions.count < config.maxSessions else { continue }
            let key = SessionKey(low, high, sid: sid)
            sessions.insert(key, offerer: offerer, nowMs: Self.uint(f[5]) ?? nowMs)
            sessions[key]?.lastActivityMs = Self.uint(f[6]) ?? nowMs
            if f[3].boolValue == true { sessions[key]?.state = .answered }
        }
        for item in windows {
            guard let f = item.arrayValue, f.count == 3, let id = f[0].stringValue, policy.record(id) != nil,
                  let deadline = Self.uint(f[1]), let peers = f[2].arrayValue else { continue }
            returnWindows[id] = (deadline, peers.compactMap(\.stringValue))
        }
        directoryWatchers = Set(watchers.compactMap(\.stringValue).filter { policy.record($0) != nil })
        if let counters = value["counters"] { restoreCounters(counters) }
    }

    @_optimize(size)
    private func countersJSON() -> JSONValue {
        var members: [(String, JSONValue)] = Self.scalarCounters.map { name, path in (name, .number(JSONNumber(stats[keyPath: path]))) }
        members.append(("refusals", .object(SignalingErrorCode.allCases.map { ($0.rawValue, .number(JSONNumber(stats.refusals[$0]))) })))
        members.append(("ended", .object(EndReason.allCases.map { ($0.rawValue, .number(JSONNumber(stats.sessionsEnded[$0]))) })))
        return .object(members)
    }

    @_optimize(size)
    private func restoreCounters(_ value: JSONValue) {
        for (name, path) in Self.scalarCounters { if let n = Self.uint(value[name]) { stats[keyPath: path] = Int(clamping: n) } }
        for code in SignalingErrorCode.allCases { if let n = Self.uint(value["refusals"]?[code.rawValue]) { stats.refusals[code] = Int(clamping: n) } }
        for reason in EndReason.allCases { if let n = Self.uint(value["ended"]?[reason.rawValue]) { stats.sessionsEnded[reason] = Int(clamping: n) } }
    }

    nonisolated(unsafe) private static let scalarCounters: [(String, WritableKeyPath<SignalingCounters, Int>)] = [
        ("messagesIn", \.messagesIn), ("statusMessagesIn", \.statusMessagesIn), ("ignoredTopics", \.ignoredTopics),
        ("forwarded", \.forwarded), ("replies", \.replies), ("gatewayMessages", \.gatewayMessages),
        ("sessionsStarted", \.sessionsStarted), ("renegotiations", \.renegotiations), ("presenceOnline", \.presenceOnline),
        ("presenceOffline", \.presenceOffline), ("presenceUnprovisioned", \.presenceUnprovisioned),
        ("presenceMalformed", \.presenceMalformed), ("clientTableFull", \.clientTableFull), ("iceConfigsIssued", \.iceConfigsIssued),
        ("icePushes", \.icePushes), ("iceWithoutCredentials", \.iceWithoutCredentials), ("directoriesSent", \.directoriesSent),
    ]

    private static func number(_ value: UInt64) -> JSONValue { .number(JSONNumber(value)) }
    private static func uint(_ value: JSONValue?) -> UInt64? { value?.numberValue.flatMap { UInt64($0.text) } }
}

/// A handed-over signaling state that cannot be read.
public struct HandoverStateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
