import STUN

/// The user a request authenticated as.
public struct TurnUser: Equatable, Sendable {
    /// A stable identity of the username, for quotas and the same-user rule.
    public var key: UInt64
    /// True when a TURN REST username's expiry has passed. Such a user may not allocate, but may
    /// keep refreshing an allocation it already holds (up to `TurnLimits.maxSessionLifetime`).
    public var expired: Bool

    public init(key: UInt64, expired: Bool = false) {
        self.key = key
        self.expired = expired
    }
}

/// Which MESSAGE-INTEGRITY a request carried, so the response is signed the same way.
public enum IntegrityKind: Sendable {
    case sha1
    case sha256
}

/// The result of the long-term credential mechanism (RFC 8489 §9.2) for one request.
public enum AuthOutcome: Sendable {
    /// Authentic; the key to sign the response is the authenticator's `responseKey`.
    case authenticated(TurnUser, IntegrityKind)
    /// Not authentic: answer with this code (400, 401 or 438) and a challenge (REALM, NONCE).
    case challenge(code: Int)
}

/// Authenticates requests with long-term credentials and writes challenges. Implemented by the
/// TURN authenticator (nonces, static users, REST secrets); a type parameter of the request
/// path, so calls are direct.
public protocol TurnAuthenticating {
    /// Checks USERNAME/USERHASH, REALM, NONCE and MESSAGE-INTEGRITY(-SHA256) of `request`.
    mutating func authenticate(_ request: StunMessageView, from client: TransportAddress, now: UInt64) -> AuthOutcome
    /// The key of the last successful `authenticate`, to sign its response.
    var responseKey: UnsafeRawBufferPointer { get }
    /// Whether the last `authenticate` saw a valid NONCE issued to this source, which proves the
    /// source receives at its address (whatever the rest of the verdict).
    var sourceProven: Bool { get }
    /// Appends REALM, a fresh NONCE and, when offered, PASSWORD-ALGORITHMS to a 401/438 response.
    func appendChallenge(to builder: inout StunMessageBuilder, for client: TransportAddress, now: UInt64) throws(StunBuildError)
}

/// Address families a relay can be allocated in.
public enum RelayFamily: UInt8, Sendable {
    case ipv4 = 0x01
    case ipv6 = 0x02
}

/// Opens and closes relayed transport addresses (the worker binds a UDP socket in the relay
/// port range). Nil from `openRelay` means none is available: 508.
public protocol RelayAddressProvider {
    /// Opens a relayed address; with `reserveNext` (EVEN-PORT with R set) the port is even and
    /// the next one is held for a later Allocate carrying the returned reservation token.
    mutating func openRelay(family: RelayFamily, evenPort: Bool, reserveNext: Bool) -> (address: TransportAddress, reservation: UInt64?)?
    /// The address held under a RESERVATION-TOKEN, taken out of the reservations; nil if none.
    mutating func claimReservation(_ token: UInt64) -> TransportAddress?
    /// The allocation `id` now owns the relayed `address` (its Allocate succeeded): data arriving
    /// there is relayed for it. Called by the core only, as `closeRelay` is when it ends.
    mutating func bind(_ address: TransportAddress, to id: AllocationID)
    mutating func closeRelay(_ address: TransportAddress)
    /// Sets the don't-fragment bit on everything the relayed address sends (DONT-FRAGMENT in
    /// the Allocate, RFC 8656 §7.2).
    mutating func setDontFragment(_ address: TransportAddress)
}

extension RelayAddressProvider {
    public mutating func setDontFragment(_ address: TransportAddress) {}
    public mutating func bind(_ address: TransportAddress, to id: AllocationID) {}
}
