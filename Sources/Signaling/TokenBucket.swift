/// A token bucket over monotonic milliseconds, in integer arithmetic (no drift).
///
/// Internally one token is 1000 units and `rate` tokens/s refill `rate` units per ms exactly.
public struct TokenBucket: Sendable, Equatable {
    /// Outcome of `take(nowMs:)`.
    public enum Outcome: Sendable, Equatable {
        case allowed
        /// Refused; one token will be available after `retryAfterMs` (rounded up).
        case limited(retryAfterMs: UInt64)
    }

    static let unitsPerToken: UInt64 = 1000
    public let ratePerSecond: UInt64
    public let capacity: UInt64
    private var units: UInt64
    private var lastMs: UInt64

    /// The bucket's level and last refill, for a handover snapshot (docs/handover.md).
    var snapshot: (units: UInt64, lastMs: UInt64) { (units, lastMs) }

    /// A bucket as a handover snapshot had it (the level capped at this bucket's capacity).
    init(ratePerSecond: UInt32, capacity: UInt32, units: UInt64, lastMs: UInt64) {
        self.init(ratePerSecond: ratePerSecond, capacity: capacity, nowMs: lastMs)
        self.units = min(units, self.capacity * TokenBucket.unitsPerToken)
    }

    /// A full bucket.
    public init(ratePerSecond: UInt32, capacity: UInt32, nowMs: UInt64) {
        self.ratePerSecond = UInt64(ratePerSecond)
        self.capacity = UInt64(max(capacity, 1))
        self.units = self.capacity * TokenBucket.unitsPerToken
        self.lastMs = nowMs
    }

    /// Whole tokens available at `nowMs` (for tests and status).
    public func available(nowMs: UInt64) -> UInt64 {
        var copy = self
        copy.refill(nowMs)
        return copy.units / TokenBucket.unitsPerToken
    }

    /// Takes one token if available.
    public mutating func take(nowMs: UInt64) -> Outcome {
        refill(nowMs)
        if units >= TokenBucket.unitsPerToken {
            units -= TokenBucket.unitsPerToken
            return .allowed
        }
        guard ratePerSecond > 0 else { return .limited(retryAfterMs: UInt64.max) }
        let missing = TokenBucket.unitsPerToken - units
        return .limited(retryAfterMs: (missing + ratePerSecond - 1) / ratePerSecond)
    }

    private mutating func refill(_ nowMs: UInt64) {
        guard nowMs > lastMs else { return }  // a clock going backwards refills nothing
        let full = capacity * TokenBucket.unitsPerToken
        let elapsed = min(nowMs - lastMs, full)  // rate >= 1 unit/ms, so this bound never truncates a refill
        let (added, overflow) = elapsed.multipliedReportingOverflow(by: ratePerSecond)
        units = overflow || added >= full - units ? full : units + added
        lastMs = nowMs
    }
}
