/// What one link measured: smoothed round-trip time, loss and jitter, and the cost and quality
/// the path model derives from them (docs/paths.md gives the formulas and the reasons).
public struct LinkEstimate: Sendable, Equatable {
    /// Smoothed round-trip time, microseconds.
    public var rttMicros: Int64
    /// Fraction of probes lost in the window, 0…1.
    public var loss: Double
    /// Mean deviation of successive round-trip times (RFC 3550 §6.4.1 style), microseconds.
    public var jitterMicros: Int64

    /// Largest round-trip time or jitter kept (60 s): anything above is clamped, so sums of a
    /// path's costs can never overflow whatever a relay or client claims.
    public static let maxMicros: Int64 = 60_000_000

    public init(rttMicros: Int64, loss: Double, jitterMicros: Int64) {
        self.rttMicros = min(Self.maxMicros, max(0, rttMicros))
        self.loss = min(1, max(0, loss.isNaN ? 1 : loss))
        self.jitterMicros = min(Self.maxMicros, max(0, jitterMicros))
    }

    /// Loss at which a link is worth nothing: WebRTC's congestion control backs video off steadily
    /// as loss grows, and past 20-30 % video is no longer watchable. 35 % rather than 20 % because
    /// the estimate comes from 6 probes: one stray loss (17 %) must not exclude a link at the
    /// default minimum quality 0.5 (it scores 0.52), two (33 %) do (0.05).
    public static let unusableLoss = 0.35
    /// Jitter that halves a link's quality: a receiver's jitter buffer adds about this much
    /// delay to absorb it, the same order as a good link's whole round trip.
    public static let halvingJitterMicros: Double = 50_000
    /// Cost of losing every packet, microseconds: each 1 % loss costs like 5 ms more round trip
    /// (losses cost retransmissions, NACK round trips or FEC overhead).
    public static let lossPenaltyMicros: Double = 500_000

    /// 0…1: `(1 − min(1, loss / 0.35)) / (1 + jitter / 50 ms)`. Loss dominates; jitter erodes.
    public var quality: Double {
        let lossFactor = 1 - min(1, loss / Self.unusableLoss)
        return lossFactor / (1 + Double(jitterMicros) / Self.halvingJitterMicros)
    }

    /// What the path search adds up: `rtt + 500 ms × loss`, in whole microseconds, at least 1
    /// (integers so that every instance sums the same path to the same cost).
    public var costMicros: Int64 {
        max(1, rttMicros + Int64((loss * Self.lossPenaltyMicros).rounded()))
    }
}
