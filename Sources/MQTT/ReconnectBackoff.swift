/// Exponential back-off with jitter for reconnect attempts: `min · 2^failures`, capped at `max`,
/// then spread by ±20 % so a fleet of clients that lost the same broker does not return in step.
public struct ReconnectBackoff: Sendable {
    public let minMs: UInt64
    public let maxMs: UInt64
    /// Failed attempts since the last successful connect.
    public private(set) var failures: Int = 0

    public init(minMs: UInt64, maxMs: UInt64) {
        self.minMs = max(1, minMs)
        self.maxMs = max(self.minMs, maxMs)
    }

    /// The delay before the next attempt, counting this call as one more failure.
    /// `random` returns a value in 0..<1_000 (injected so tests are deterministic).
    public mutating func nextDelayMs(random: (UInt64) -> UInt64) -> UInt64 {
        let shift = min(failures, 20)
        failures += 1
        let base = min(maxMs, minMs << UInt64(shift))
        // ±20 %: base · (800 + r·400/1000) / 1000, never above the cap.
        let factor = 800 + random(1_000) * 400 / 1_000
        return min(maxMs, max(1, base * factor / 1_000))
    }

    /// Call after a successful connect.
    public mutating func reset() { failures = 0 }
}
