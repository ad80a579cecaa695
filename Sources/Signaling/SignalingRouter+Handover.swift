import JSON

/// The router's state as a handover carries it to the process replacing this one
/// (docs/handover.md): live sessions, per-client presence and rate buckets, presence return
/// windows, directory watchers and the counters. The clocks are monotonic milliseconds, which
/// both processes share on one machine.
extension SignalingRouter {
    /// The state, as JSON.
    public func handoverState() -> JSONValue {
        let sessionList: [JSONValue] = sessions.ordered().map { session in
            ["low": .string(session.key.low), "high": .string(session.key.high), "sid": .string(session.key.sid),
             "answered": .bool(session.state == .answered), "offerer": .string(session.latestOfferFrom),
             "createdMs": Self.number(session.createdMs), "activityMs": Self.number(session.lastActivityMs)]
        }
        let clientList: [JSONValue] = clients.entries.sorted { $0.key < $1.key }.map { id, state in
            let sdp = state.sdpBucket.snapshot, candidates = state.candidateBucket.snapshot
            var members: [(String, JSONValue)] = [
                ("id", .string(id)), ("online", .bool(state.online)), ("lastSeenMs", Self.number(state.lastSeenMs)),
                ("sdp", .array([Self.number(sdp.units), Self.number(sdp.lastMs)])),
                ("candidates", .array([Self.number(candidates.units), Self.number(candidates.lastMs)])),
            ]
            if let expiry = state.iceExpiryUnix { members.append(("iceExpiryUnix", Self.number(expiry))) }
            return .object(members)
        }
        let windows: [JSONValue] = returnWindows.sorted { $0.key < $1.key }.map { id, window in
            ["id": .string(id), "deadlineMs": Self.number(window.deadlineMs), "peers": .array(window.peers.map(JSONValue.string))]
        }
        return ["sessions": .array(sessionList), "clients": .array(clientList), "returnWindows": .array(windows),
                "directoryWatchers": .array(directoryWatchers.sorted().map(JSONValue.string)), "counters": countersJSON()]
    }

    /// Adopts a handed-over state: what the current policy no longer allows is left out (as a
    /// policy update would end it). Throws on a state that is not what `handoverState` writes.
    public func restoreHandoverState(_ value: JSONValue, nowMs: UInt64) throws(HandoverStateError) {
        guard let sessionList = value["sessions"]?.arrayValue, let clientList = value["clients"]?.arrayValue,
              let windows = value["returnWindows"]?.arrayValue, let watchers = value["directoryWatchers"]?.arrayValue else {
            throw HandoverStateError("signaling state lacks sessions, clients, returnWindows or directoryWatchers")
        }
        for item in clientList {
            guard let id = item["id"]?.stringValue, policy.record(id) != nil, let sdp = item["sdp"]?.arrayValue, sdp.count == 2,
                  let candidates = item["candidates"]?.arrayValue, candidates.count == 2 else { continue }
            guard clients.ensure(id, config: config, nowMs: nowMs, pinned: { [] }) else { break }
            var state = clients[id]!
            state.online = item["online"]?.boolValue ?? false
            state.lastSeenMs = Self.uint(item["lastSeenMs"]) ?? nowMs
            state.iceExpiryUnix = Self.uint(item["iceExpiryUnix"])
            state.sdpBucket = TokenBucket(ratePerSecond: config.sdpRatePerSecond, capacity: config.sdpBurst,
                                          units: Self.uint(sdp[0]) ?? 0, lastMs: Self.uint(sdp[1]) ?? nowMs)
            state.candidateBucket = TokenBucket(ratePerSecond: config.candidateRatePerSecond, capacity: config.candidateBurst,
                                                units: Self.uint(candidates[0]) ?? 0, lastMs: Self.uint(candidates[1]) ?? nowMs)
            clients[id] = state
        }
        for item in sessionList {
            guard let low = item["low"]?.stringValue, let high = item["high"]?.stringValue, let sid = item["sid"]?.stringValue,
                  let offerer = item["offerer"]?.stringValue, policy.mayTalk(low, high), sessions.count < config.maxSessions else { continue }
            let key = SessionKey(low, high, sid: sid)
            sessions.insert(key, offerer: offerer, nowMs: Self.uint(item["createdMs"]) ?? nowMs)
            sessions[key]?.lastActivityMs = Self.uint(item["activityMs"]) ?? nowMs
            if item["answered"]?.boolValue == true { sessions[key]?.state = .answered }
        }
        for item in windows {
            guard let id = item["id"]?.stringValue, policy.record(id) != nil, let deadline = Self.uint(item["deadlineMs"]),
                  let peers = item["peers"]?.arrayValue else { continue }
            returnWindows[id] = (deadline, peers.compactMap(\.stringValue))
        }
        directoryWatchers = Set(watchers.compactMap(\.stringValue).filter { policy.record($0) != nil })
        if let counters = value["counters"] { restoreCounters(counters) }
    }

    private func countersJSON() -> JSONValue {
        var members: [(String, JSONValue)] = Self.scalarCounters.map { name, path in (name, .number(JSONNumber(stats[keyPath: path]))) }
        members.append(("refusals", .object(SignalingErrorCode.allCases.map { ($0.rawValue, .number(JSONNumber(stats.refusals[$0]))) })))
        members.append(("ended", .object(EndReason.allCases.map { ($0.rawValue, .number(JSONNumber(stats.sessionsEnded[$0]))) })))
        return .object(members)
    }

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
