/// Per-client state of a provisioned client.
struct ClientState {
    var online = false
    var sdpBucket: TokenBucket
    var candidateBucket: TokenBucket
    /// Unix expiry of the TURN credentials last issued to this client.
    var iceExpiryUnix: UInt64?
    var lastSeenMs: UInt64

    init(config: SignalingConfig, nowMs: UInt64) {
        sdpBucket = TokenBucket(ratePerSecond: config.sdpRatePerSecond, capacity: config.sdpBurst, nowMs: nowMs)
        candidateBucket = TokenBucket(ratePerSecond: config.candidateRatePerSecond, capacity: config.candidateBurst, nowMs: nowMs)
        lastSeenMs = nowMs
    }
}

/// Per-client state, bounded by `capacity` (`SignalingConfig.maxClients`).
///
/// When full, an offline entry (least recently seen, not pinned by a session or a presence
/// return window) is evicted to make room; if none can be evicted, `ensure` fails.
struct ClientTable {
    let capacity: Int
    private(set) var entries: [String: ClientState] = [:]

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    var count: Int { entries.count }

    subscript(id: String) -> ClientState? {
        get { entries[id] }
        set { entries[id] = newValue }
    }

    func isOnline(_ id: String) -> Bool { entries[id]?.online ?? false }

    /// Makes sure `id` has an entry; false if the table is full of entries that cannot be evicted.
    mutating func ensure(_ id: String, config: SignalingConfig, nowMs: UInt64, pinned: () -> Set<String>) -> Bool {
        if entries[id] != nil { return true }
        if entries.count >= capacity {
            let pinned = pinned()
            var victim: (id: String, lastSeen: UInt64)?
            for (key, state) in entries where !state.online && !pinned.contains(key) {
                if victim == nil || state.lastSeenMs < victim!.lastSeen || (state.lastSeenMs == victim!.lastSeen && key < victim!.id) {
                    victim = (key, state.lastSeenMs)
                }
            }
            guard let victim else { return false }
            entries.removeValue(forKey: victim.id)
        }
        entries[id] = ClientState(config: config, nowMs: nowMs)
        return true
    }

    mutating func removeAll(where predicate: (String) -> Bool) {
        for key in entries.keys.filter(predicate) { entries.removeValue(forKey: key) }
    }
}
