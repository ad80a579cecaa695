/// Lifetimes, per-allocation caps and quotas of the TURN relay (coturn's option names in the
/// comments). Fixed at start-up by the board profile and configuration.
public struct TurnLimits: Sendable, Equatable {
    /// Lifetime granted when the client asks for none (RFC 8656: 600 s).
    public var defaultLifetime: UInt32 = 600
    /// The most a client may ask for (`max-allocate-lifetime`, default 3600 s).
    public var maxLifetime: UInt32 = 3600
    /// Permission lifetime (RFC 8656: 300 s, not negotiable).
    public var permissionLifetime: UInt32 = 300
    /// Channel binding lifetime (RFC 8656: 600 s).
    public var channelLifetime: UInt32 = 600
    /// How long an allocation created with valid TURN REST credentials may keep being refreshed
    /// after those credentials expire, counted from its creation (seconds). Calls must not drop
    /// when a short-lived credential runs out mid-call.
    public var maxSessionLifetime: UInt64 = 86_400
    /// How long a channel number stays reserved after its binding expires (RFC 8656 §12: 5 min).
    public var channelQuarantine: UInt32 = 300
    /// Bandwidth cap per allocation, bytes per second in each direction combined (coturn:
    /// `max-bps`, there in bits); 0 = no cap. Packets over the cap are dropped and counted.
    public var maxBytesPerSecond: UInt64 = 0
    /// 401/438 challenges per second per source address (IPv6 per /64), and their burst: a
    /// challenge is up to 2.6× larger than the request that provokes it, so rtcgate must not
    /// become a reflector for spoofed sources. 0 disables.
    public var challengeRate: UInt32 = 20
    public var challengeBurst: UInt32 = 40
    /// How long a source that came back with a valid nonce (so it receives at its address) draws
    /// on the larger proved budget below, seconds; each valid nonce renews it. A site behind one
    /// NAT setting up many calls at once must not be throttled.
    public var provenSourceSeconds: UInt32 = 600
    /// The challenge budget of a proved source: large enough for a site setting up a thousand
    /// allocations in a second, still finite, because anyone can forge a proved address and
    /// aim 401s at it (2,000 × 72 B at most at once, then 72 kB/s).
    public var provenChallengeRate: UInt32 = 1_000
    public var provenChallengeBurst: UInt32 = 2_000
    /// Sources the challenge limiter tracks (fixed table, stalest evicted).
    public var challengeTableSize = 4096
    /// Allocations the table holds (board profile); beyond it Allocate gets 508.
    public var maxAllocations = 1024
    /// Allocations one username may hold (`user-quota`; 0 = no limit); beyond it 486.
    public var userQuota = 0
    /// Allocations in all (`total-quota`; 0 = the table's capacity); beyond it 486.
    public var totalQuota = 0
    /// Permissions per allocation (at most `Allocation.permissionCapacity`); beyond it 508.
    public var maxPermissionsPerAllocation = Allocation.permissionCapacity
    /// Channels per allocation (at most `Allocation.channelCapacity`); beyond it 508.
    public var maxChannelsPerAllocation = Allocation.channelCapacity

    public init() {}

    /// The lifetime to grant (RFC 8656 §7.2 and §7.3): 0 stays 0 (a Refresh that deletes);
    /// otherwise min(requested, max), raised to the default; the default when none was asked for.
    public func grantedLifetime(requested: UInt32?) -> UInt32 {
        guard let requested else { return defaultLifetime }
        if requested == 0 { return 0 }
        return max(min(requested, maxLifetime), min(defaultLifetime, maxLifetime))
    }
}
