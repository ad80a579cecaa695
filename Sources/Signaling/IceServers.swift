/// Mints TURN REST credentials (`username = "{expiry}:{clientId}"`,
/// `credential = base64(HMAC-SHA1(secret, username))`). Implemented by the shell, which owns
/// the secret and the crypto; returns `nil` when no secret is configured.
///
/// When `mint` returns `nil`, the router still answers ICE_CONFIG_REQUEST with an ICE_CONFIG,
/// listing the STUN servers only (no TURN entry, no expiry recorded, so no pushes follow).
public protocol IceCredentialMinter {
    func mint(clientId: String, unixNow: UInt64, ttl: UInt64) -> (username: String, credential: String)?
    /// Credentials for an external relay of the path model (its own REST secret); nil when it has none.
    func mint(clientId: String, unixNow: UInt64, ttl: UInt64, externalRelay: String) -> (username: String, credential: String)?
}

extension IceCredentialMinter {
    public func mint(clientId: String, unixNow: UInt64, ttl: UInt64, externalRelay: String) -> (username: String, credential: String)? {
        nil
    }
}

/// A minter for gateways without a TURN secret: always `nil`.
public struct NoIceCredentials: IceCredentialMinter, Sendable {
    public init() {}
    public func mint(clientId: String, unixNow: UInt64, ttl: UInt64) -> (username: String, credential: String)? { nil }
}

/// rtcgate's own STUN and TURN URLs, prebuilt by the shell, e.g. `stun:gw.local:3478`,
/// `turn:gw.local:3478?transport=udp`, `turn:gw.local:3478?transport=tcp`.
public struct IceServerURLs: Sendable, Equatable {
    public var stun: [String]
    public var turn: [String]

    public init(stun: [String], turn: [String]) {
        self.stun = stun
        self.turn = turn
    }
}
