/// The last `capacity` probes of one link (6: at one probe a second, a change shows within about
/// 6 s), in fixed storage: each probe is sent, then either
/// answered (its round-trip time) or given up as lost. Smoothed RTT is an exponential average like
/// RFC 6298's SRTT but with gain 1/4 (probes are a second apart, not per packet, so 1/8 would take
/// ~20 s to follow a change); loss is the fraction lost among the probes in the window; jitter is
/// the mean absolute difference of successive answered RTTs, smoothed with gain 1/8 (RFC 3550
/// uses 1/16 per packet).
public struct ProbeWindow: Sendable {
    /// Probes kept.
    public static let capacity = 6

    // Ring of outcomes: -1 lost, otherwise the RTT in microseconds.
    private var outcomes: [Int64]
    private var next = 0
    private var filled = 0
    private var smoothedRTT: Double = 0
    private var jitter: Double = 0
    private var lastRTT: Int64 = -1

    public init() {
        outcomes = [Int64](repeating: -1, count: Self.capacity)
    }

    /// Probes finished (answered or lost) in the window.
    public var samples: Int { filled }

    /// Records an answered probe.
    public mutating func answered(rttMicros: Int64) {
        let rtt = max(0, rttMicros)
        if lastRTT < 0 {
            smoothedRTT = Double(rtt)
        } else {
            smoothedRTT += (Double(rtt) - smoothedRTT) / 4
            jitter += (Double(abs(rtt - lastRTT)) - jitter) / 8
        }
        lastRTT = rtt
        push(rtt)
    }

    /// Records a probe that got no answer in time.
    public mutating func lost() { push(-1) }

    /// The estimate; nil before anything is known. A peer that never answered a whole window
    /// is reported as lost entirely (so the other side's "good" cannot stand alone).
    public var estimate: LinkEstimate? {
        guard lastRTT >= 0 else {
            return filled == Self.capacity ? LinkEstimate(rttMicros: 2_000_000, loss: 1, jitterMicros: 0) : nil
        }
        var lostCount = 0
        for i in 0..<filled where outcomes[i] < 0 { lostCount += 1 }
        return LinkEstimate(rttMicros: Int64(smoothedRTT.rounded()), loss: Double(lostCount) / Double(max(filled, 1)),
                            jitterMicros: Int64(jitter.rounded()))
    }

    /// Forgets everything (the peer went away).
    public mutating func reset() { self = ProbeWindow() }

    private mutating func push(_ outcome: Int64) {
        outcomes[next] = outcome
        next = (next + 1) % Self.capacity
        filled = min(filled + 1, Self.capacity)
    }
}
