import STUN
import TURN

/// The TURN relay's configuration for every media worker (nil in `MediaWorkerConfig` when
/// TURN is off: no user and no REST secret configured).
public struct TurnSettings: Sendable {
    /// Lifetimes, caps and quotas; `maxAllocations` is per worker.
    public var limits = TurnLimits()
    /// Address relayed IPv4 allocations are bound to (coturn: `relay-ip`).
    public var relayIPv4: IPAddress?
    /// Address relayed IPv6 allocations are bound to.
    public var relayIPv6: IPAddress?
    /// Relay port range (`min-port`…`max-port`), split between workers.
    public var ports: ClosedRange<UInt16> = 49152...65535
    /// Static users and the realm.
    public var users: CredentialStore
    /// TURN REST secrets, newest first.
    public var restSecrets: [String] = []
    /// Which peers clients may reach.
    public var policy = PeerPolicy()
    /// EVEN-PORT reservations, shared by every worker.
    public var reservations = RelayReservations()
    /// The nonce key every worker shares (so a nonce from one worker is good on any).
    public var nonceSecret: [UInt8]
    /// Whether challenges advertise RFC 8489's security features (a nonce cookie offering
    /// SHA-256 passwords and USERHASH, plus PASSWORD-ALGORITHMS): 24 bytes more per 401.
    public var securityFeatures = false

    public init(realm: String, nonceSecret: [UInt8]) {
        users = CredentialStore(realm: realm)
        self.nonceSecret = nonceSecret
    }

    /// Whether any credential is configured (TURN refuses to run open).
    public var hasCredentials: Bool { users.count > 0 || !restSecrets.isEmpty }
}
