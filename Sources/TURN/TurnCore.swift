import STUN

/// The TURN relay's protocol core for one media worker (RFC 8656): allocations, permissions,
/// channels and the data paths. Pure: it takes parsed messages, 5-tuples and a clock, and
/// returns what to send; the worker's sockets do the I/O.
public struct TurnCore {
    /// Lifetimes, caps and quotas.
    public let limits: TurnLimits
    /// This worker's allocations.
    public let allocations: AllocationTable
    /// What happened so far.
    public internal(set) var counters = TurnCounters()
    /// False while the gateway drains: new allocations are refused with 508 (Insufficient
    /// Capacity, so clients try another server); existing ones keep working and refreshing.
    public var acceptsAllocations = true
    /// Data indications sent (their transaction ids).
    var dataIndications: UInt64 = 0
    /// Per-source budget of 401/438 challenges.
    var challenges: SourceRateLimiter

    /// - Parameter prefault: touch the allocation table at start-up (see `AllocationTable`).
    public init(limits: TurnLimits, prefault: Bool = false) {
        self.limits = limits
        allocations = AllocationTable(limits: limits, prefault: prefault)
        challenges = SourceRateLimiter(capacity: limits.challengeTableSize, ratePerSecond: limits.challengeRate,
                                       burst: limits.challengeBurst, provenRatePerSecond: limits.provenChallengeRate,
                                       provenBurst: limits.provenChallengeBurst)
    }
}

extension TurnCore {
    /// Ends allocation `id` and closes its relayed addresses: with `removeExpired`, the one way
    /// an allocation ends (Refresh with lifetime 0, the operator's kill, its TCP connection
    /// closing).
    public mutating func removeAllocation<Relays: RelayAddressProvider>(_ id: AllocationID, relays: inout Relays) {
        guard allocations.contains(id) else { return }
        Self.closeRelays(of: allocations[id], relays: &relays)
        allocations.remove(id)
    }

    /// Ends every allocation whose lifetime has run out, closing their relayed addresses;
    /// returns how many (no allocation: it runs on the worker's timer).
    @discardableResult
    public mutating func removeExpired<Relays: RelayAddressProvider>(now: UInt64, relays: inout Relays) -> Int {
        var removed = 0
        allocations.removeExpired(now: now) { _, allocation in
            Self.closeRelays(of: allocation, relays: &relays)
            removed += 1
        }
        return removed
    }

    private static func closeRelays<Relays: RelayAddressProvider>(of allocation: Allocation, relays: inout Relays) {
        relays.closeRelay(allocation.relayed)
        if let additional = allocation.additionalRelayed { relays.closeRelay(additional) }
    }
}
