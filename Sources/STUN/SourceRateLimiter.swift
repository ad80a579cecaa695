import COpenSSL

/// Per-source token buckets in a fixed-capacity open-addressing table allocated once at
/// init. Sources are keyed by IPv4 address (IPv4-mapped IPv6 counts as IPv4) or IPv6 /64.
/// When a probe window is full the stalest entry in it is evicted; the table never grows.
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
    public init(capacity: Int, ratePerSecond: UInt32, burst: UInt32) {
        let size = Self.tableSize(forCapacity: capacity)
        table = [Entry](repeating: Entry(), count: size)
        mask = size - 1
        var seed: UInt64 = 0
        // glibc's arc4random (kernel getrandom): keeps libcrypto uninitialised until TURN needs it.
        withUnsafeMutableBytes(of: &seed) { arc4random_buf($0.baseAddress!, $0.count) }
        self.seed = seed
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
    }

    /// Number of slots (fixed for the lifetime of the limiter).
    public var capacity: Int { table.count }

    /// Changes rate and burst; existing buckets are clamped to the new burst on their next use.
    public mutating func update(ratePerSecond: UInt32, burst: UInt32) {
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
    }

    /// Takes one token for `source` at monotonic time `now` (ns); false when over the limit.
    public mutating func allow(_ source: IPAddress, now: UInt64) -> Bool {
        guard ratePerSecond > 0 else { return true }
        let family: UInt8
        let key: UInt64
        switch source.unmapped {
        case .v4(let address):
            family = 4
            key = UInt64(address)
        case .v6(let high, _):
            family = 6
            key = high
        }
        var hash = (key ^ seed ^ UInt64(family)) &* 0x9E37_79B9_7F4A_7C15
        hash ^= hash >> 29
        let start = Int(truncatingIfNeeded: hash) & mask
        let capacityUnits = UInt64(burst) * Self.unitsPerToken
        let rate = UInt64(ratePerSecond)
        let mask = self.mask
        // (allowed, 0 = existing entry / 1 = new entry / 2 = eviction)
        let (allowed, placement) = table.withUnsafeMutableBufferPointer { table -> (Bool, Int) in
            var empty = -1
            var stalest = start
            for step in 0..<Self.probeWindow {
                let slot = (start + step) & mask
                let entry = table[slot]
                if entry.family == family && entry.key == key {
                    return (Self.take(&table[slot], now: now, rate: rate, capacity: capacityUnits), 0)
                }
                if entry.family == 0 {
                    if empty < 0 { empty = slot }
                } else if entry.last < table[stalest].last || table[stalest].family == 0 {
                    stalest = slot
                }
            }
            let slot = empty >= 0 ? empty : stalest
            table[slot] = Entry(family: family, key: key, tokens: capacityUnits, last: now)
            return (Self.take(&table[slot], now: now, rate: rate, capacity: capacityUnits), empty >= 0 ? 1 : 2)
        }
        if placement == 1 { trackedSources += 1 }
        if placement == 2 { evictions += 1 }
        return allowed
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
