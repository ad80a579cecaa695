/// Identifies a session: the unordered pair of client ids plus the offerer's `sid`.
struct SessionKey: Hashable {
    let low: String
    let high: String
    let sid: String

    init(_ a: String, _ b: String, sid: String) {
        (low, high) = a < b ? (a, b) : (b, a)
        self.sid = sid
    }

    func involves(_ id: String) -> Bool { low == id || high == id }
    func other(than id: String) -> String { low == id ? high : low }
}

/// One live session (offer forwarded, not ended).
struct Session {
    enum State { case offered, answered }

    let key: SessionKey
    /// Creation order, for deterministic output.
    let serial: UInt64
    var state: State = .offered
    var latestOfferFrom: String
    let createdMs: UInt64
    var lastActivityMs: UInt64
}

/// The live sessions, bounded by `maxSessions`. Scans are O(sessions).
struct SessionTable {
    private(set) var sessions: [SessionKey: Session] = [:]
    private var nextSerial: UInt64 = 0

    var count: Int { sessions.count }

    subscript(key: SessionKey) -> Session? {
        get { sessions[key] }
        set { sessions[key] = newValue }
    }

    mutating func insert(_ key: SessionKey, offerer: String, nowMs: UInt64) {
        nextSerial += 1
        sessions[key] = Session(key: key, serial: nextSerial, latestOfferFrom: offerer, createdMs: nowMs, lastActivityMs: nowMs)
    }

    @discardableResult
    mutating func remove(_ key: SessionKey) -> Session? { sessions.removeValue(forKey: key) }

    mutating func removeAll() { sessions.removeAll() }

    /// Sessions involving `id` (on either side).
    func count(involving id: String) -> Int {
        sessions.keys.reduce(0) { $0 + ($1.involves(id) ? 1 : 0) }
    }

    /// Sessions matching `predicate`, oldest first.
    func filter(_ predicate: (Session) -> Bool) -> [Session] {
        sessions.values.filter(predicate).sorted { $0.serial < $1.serial }
    }

    /// All sessions, oldest first.
    func ordered() -> [Session] { filter { _ in true } }
}
