import COpenSSL

/// Per-source token buckets in a fixed-capacity open-addressing table allocated once at
/// init. Sources are keyed by IPv4 address (IPv4-mapped IPv6 counts as IPv4) or IPv6 /64.
/// When a probe window is full the stalest entry in it is evicted (sources that proved they
/// receive at their address last); the table never grows. A proved source draws on a second,
/// larger budget (`provenRatePerSecond`, `provenBurst`) rather than none: proof is per address,
/// and a spoofer can forge the victim's address, so even a proved source's answers stay bounded.
public struct SourceRateLimiter {
    @usableFromInline
    struct Entry {
        /// 0 = empty, 4 = IPv4 key, 6 = IPv6 /64 key.
        var family: UInt8 = 0
        var key: UInt64 = 0
        /// Tokens in units of 1e-9 token.
        var tokens: UInt64 = 0
        /// Last refill time (monotonic ns).
        var last: UInt64 = 0
        /// On the proved budget until this time (monotonic ns); 0 = never proved.
        var provenUntil: UInt64 = 0
    }

    /// Slots examined per lookup.
    public static let probeWindow = 8
    static let unitsPerToken: UInt64 = 1_000_000_000

    private var table: [Entry]
    private let mask: Int
    private let seed: UInt64
    /// Tokens per second per source; 0 disables limiting.
    public private(set) var ratePerSecond: UInt32
    /// Bucket capacity in tokens (at least 1).
    public private(set) var burst: UInt32
    /// Tokens per second and capacity for a proved source (at least the unproved ones).
    public private(set) var provenRatePerSecond: UInt32
    public private(set) var provenBurst: UInt32
    /// Sources currently tracked.
    public private(set) var trackedSources = 0
    /// Entries evicted to make room so far.
    public private(set) var evictions: UInt64 = 0

    /// The table size for a requested capacity: rounded up to a power of two, at least
    /// `probeWindow`, at most 2^24.
    static func tableSize(forCapacity capacity: Int) -> Int {
        var size = Self.probeWindow
        while size < capacity, size < 1 << 24 { size <<= 1 }
        return size
    }

    /// Bytes the table of a limiter with this capacity occupies.
    public static func reservedBytes(capacity: Int) -> Int {
        tableSize(forCapacity: capacity) * MemoryLayout<Entry>.stride
    }

    /// Allocates the table: `capacity` rounded up to a power of two, at least `probeWindow`.
    /// The proved budget defaults to the unproved one (proof then changes only eviction order).
    public init(capacity: Int, ratePerSecond: UInt32, burst: UInt32,
                provenRatePerSecond: UInt32 = 0, provenBurst: UInt32 = 0) {
        let size = Self.tableSize(forCapacity: capacity)
        table = [Entry](repeating: Entry(), count: size)
        mask = size - 1
        var seed: UInt64 = 0
        // glibc's arc4random (kernel getrandom): keeps libcrypto uninitialised until TURN needs it.
        withUnsafeMutableBytes(of: &seed) { arc4random_buf($0.baseAddress!, $0.count) }
        self.seed = seed
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
        self.provenRatePerSecond = max(provenRatePerSecond, ratePerSecond)
        self.provenBurst = max(provenBurst, self.burst)
    }

    /// Number of slots (fixed for the lifetime of the limiter).
    public var capacity: Int { table.count }

    /// Changes the budgets; existing buckets are clamped to the new burst on their next use.
    public mutating func update(ratePerSecond: UInt32, burst: UInt32,
                                provenRatePerSecond: UInt32 = 0, provenBurst: UInt32 = 0) {
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
        self.provenRatePerSecond = max(provenRatePerSecond, ratePerSecond)
        self.provenBurst = max(provenBurst, self.burst)
    }

    /// Takes one token for `source` at monotonic time `now` (ns); false when over the limit.
    /// A source proved (`prove`) until after `now` takes from the proved budget.
    public mutating func allow(_ source: IPAddress, now: UInt64) -> Bool {
        guard ratePerSecond > 0 else { return true }
        let (rate, burst) = (UInt64(ratePerSecond), UInt64(burst))
        let (provenRate, provenBurst) = (UInt64(provenRatePerSecond), UInt64(provenBurst))
        return withEntry(for: source, now: now) { entry in
            let proven = entry.provenUntil > now
            return Self.take(&entry, now: now, rate: proven ? provenRate : rate,
                             capacity: (proven ? provenBurst : burst) * Self.unitsPerToken)
        }
    }

    /// Moves `source` to the proved budget until `now + duration` (ns): it has shown that it
    /// receives at its address (it came back with a nonce issued to it). Becoming proved fills
    /// its bucket to `provenBurst`; renewing does not. Proved entries are the last to be evicted.
    public mutating func prove(_ source: IPAddress, now: UInt64, for duration: UInt64) {
        guard ratePerSecond > 0 else { return }
        let until = now &+ duration
        let full = UInt64(provenBurst) * Self.unitsPerToken
        withEntry(for: source, now: now) { entry in
            if entry.provenUntil <= now {
                entry.tokens = full
                entry.last = Swift.max(entry.last, now)
            }
            if entry.provenUntil < until { entry.provenUntil = until }
        }
    }

    /// Whether `source` is on the proved budget at `now` (for tests and status).
    public func isProven(_ source: IPAddress, now: UInt64) -> Bool {
        let (family, key) = Self.key(of: source)
        let start = slot(family: family, key: key)
        for step in 0..<Self.probeWindow {
            let entry = table[(start + step) & mask]
            if entry.family == family && entry.key == key { return entry.provenUntil > now }
        }
        return false
    }

    private static func key(of source: IPAddress) -> (family: UInt8, key: UInt64) {
        switch source.unmapped {
        case .v4(let address): (4, UInt64(address))
        case .v6(let high, _): (6, high)
        }
    }

    private func slot(family: UInt8, key: UInt64) -> Int {
        var hash = (key ^ seed ^ UInt64(family)) &* 0x9E37_79B9_7F4A_7C15
        hash ^= hash >> 29
        return Int(truncatingIfNeeded: hash) & mask
    }

    /// Runs `body` on the entry of `source`, first making one (full bucket) in the probe window:
    /// an empty slot, else the stalest unproved entry, else the stalest.
    @discardableResult
    private mutating func withEntry<R>(for source: IPAddress, now: UInt64, _ body: (inout Entry) -> R) -> R {
        let (family, key) = Self.key(of: source)
        let start = slot(family: family, key: key)
        let capacityUnits = UInt64(burst) * Self.unitsPerToken
        let mask = self.mask
        // (result, 0 = existing entry / 1 = new entry / 2 = eviction)
        let (result, placement) = table.withUnsafeMutableBufferPointer { table -> (R, Int) in
            var empty = -1
            var stalest = -1
            for step in 0..<Self.probeWindow {
                let slot = (start + step) & mask
                let entry = table[slot]
                if entry.family == family && entry.key == key { return (body(&table[slot]), 0) }
                if entry.family == 0 {
                    if empty < 0 { empty = slot }
                } else if stalest < 0 || Self.evictsBefore(entry, table[stalest], now: now) {
                    stalest = slot
                }
            }
            let slot = empty >= 0 ? empty : stalest
            table[slot] = Entry(family: family, key: key, tokens: capacityUnits, last: now)
            return (body(&table[slot]), empty >= 0 ? 1 : 2)
        }
        if placement == 1 { trackedSources += 1 }
        if placement == 2 { evictions += 1 }
        return result
    }

    /// Eviction order: unproved before proved, then least recently used.
    private static func evictsBefore(_ a: Entry, _ b: Entry, now: UInt64) -> Bool {
        let aProven = a.provenUntil > now, bProven = b.provenUntil > now
        if aProven != bProven { return !aProven }
        return a.last < b.last
    }

    /// Refills `entry` for the time elapsed since its last use, then takes one token.
    static func take(_ entry: inout Entry, now: UInt64, rate: UInt64, capacity: UInt64) -> Bool {
        let elapsed = now > entry.last ? now - entry.last : 0
        let (refill, overflow) = elapsed.multipliedReportingOverflow(by: rate)
        let (sum, overflow2) = entry.tokens.addingReportingOverflow(refill)
        entry.tokens = overflow || overflow2 ? capacity : Swift.min(sum, capacity)
        entry.last = Swift.max(entry.last, now)
        guard entry.tokens >= unitsPerToken else { return false }
        entry.tokens -= unitsPerToken
        return true
    }
}
