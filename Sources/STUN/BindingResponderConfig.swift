/// Settings for `BindingResponder`.
public struct BindingResponderConfig: Sendable {
    /// Binding requests answered per second per source (IPv4 address or IPv6 /64); 0 = unlimited.
    public var ratePerSecond: UInt32
    /// Bucket size: requests a quiet source may send back to back (treated as at least 1).
    public var burst: UInt32
    /// Sources tracked at once; rounded up to a power of two (minimum 8) and allocated once.
    public var rateTableCapacity: Int
    /// SOFTWARE value added to responses when the anti-reflection bound allows; nil = none.
    /// Keep it under 128 characters (RFC 8489 §14.14).
    public var software: StaticString?
    /// Largest reply as a percentage of the request size. Values above 250 (the 2.5x
    /// anti-reflection bound) are clamped to 250; lower values make the bound stricter.
    public var amplificationLimitPercent: Int

    /// Creates a configuration; the defaults suit a small gateway.
    public init(ratePerSecond: UInt32 = 200, burst: UInt32 = 400, rateTableCapacity: Int = 4096,
                software: StaticString? = nil, amplificationLimitPercent: Int = 250) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.rateTableCapacity = rateTableCapacity
        self.software = software
        self.amplificationLimitPercent = amplificationLimitPercent
    }
}
