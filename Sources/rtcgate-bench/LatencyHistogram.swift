/// Fixed-size log-linear latency histogram (no allocation after init).
///
/// 1 µs buckets from 0 to 1024 µs, then each power-of-two range up to
/// 2^24 µs (~16.8 s) split into 128 sub-buckets (≤ 0.8 % relative width).
/// Larger values land in the last bucket; the exact maximum is kept apart.
final class LatencyHistogram {
    static let linearBuckets = 1024
    static let subBuckets = 128
    static let octaves = 14
    static let bucketCount = linearBuckets + octaves * subBuckets

    private let counts: UnsafeMutablePointer<UInt64>
    private(set) var total: UInt64 = 0
    private(set) var maxNanos: UInt64 = 0
    private(set) var sumNanos: UInt64 = 0

    init() {
        counts = .allocate(capacity: Self.bucketCount)
        counts.initialize(repeating: 0, count: Self.bucketCount)
    }

    deinit { counts.deallocate() }

    /// Forgets everything recorded so far (used at the end of the warm-up).
    func reset() {
        counts.update(repeating: 0, count: Self.bucketCount)
        total = 0; maxNanos = 0; sumNanos = 0
    }

    /// Records one latency sample in nanoseconds.
    @inline(__always)
    func record(nanos: UInt64) {
        counts[Self.index(micros: nanos / 1000)] &+= 1
        total &+= 1
        sumNanos &+= nanos
        if nanos > maxNanos { maxNanos = nanos }
    }

    @inline(__always)
    static func index(micros: UInt64) -> Int {
        if micros < UInt64(linearBuckets) { return Int(micros) }
        let octave = 63 - micros.leadingZeroBitCount          // ≥ 10
        let sub = Int((micros >> UInt64(octave - 7)) & UInt64(subBuckets - 1))
        let idx = linearBuckets + (octave - 10) * subBuckets + sub
        return min(idx, bucketCount - 1)
    }

    /// Representative value (µs) of a bucket: exact for 1 µs buckets, midpoint otherwise.
    static func representativeMicros(_ idx: Int) -> Double {
        if idx < linearBuckets { return Double(idx) }
        let octave = (idx - linearBuckets) / subBuckets + 10
        let sub = (idx - linearBuckets) % subBuckets
        let width = Double(UInt64(1) << UInt64(octave - 7))
        return Double(UInt64(1) << UInt64(octave)) + Double(sub) * width + width / 2
    }

    /// Value (µs) at quantile `q` in 0...1; 0 when empty. Never above the max.
    func quantileMicros(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let rank = max(UInt64(1), UInt64((q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for i in 0..<Self.bucketCount {
            seen += counts[i]
            if seen >= rank { return min(Self.representativeMicros(i), maxMicros) }
        }
        return maxMicros
    }

    var maxMicros: Double { Double(maxNanos) / 1000 }
    var meanMicros: Double { total == 0 ? 0 : Double(sumNanos) / Double(total) / 1000 }
}
