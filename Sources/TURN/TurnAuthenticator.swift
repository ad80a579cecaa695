import STUN

/// The long-term credential mechanism (RFC 8489 §9.2) over rtcgate's credential sources:
/// static users (`user=`), TURN REST secrets (`use-auth-secret`), stateless nonces. One per
/// worker; it keeps the last matching key so the response can be signed with it.
public final class TurnAuthenticator: TurnAuthenticating {
    /// Static users.
    public var users: CredentialStore
    /// TURN REST secrets (newest first).
    public var rest: RestCredentials
    /// Nonce issuer (shared secret across workers, so any worker accepts any worker's nonce).
    public let nonces: NonceIssuer
    /// Returns the wall clock in Unix seconds (nonces and REST expiry are wall-clock based).
    private let unixNow: () -> UInt64
    private let realm: [UInt8]
    private let key: UnsafeMutableRawBufferPointer
    private var keyLength = 0
    private let candidates: UnsafeMutableRawBufferPointer
    /// PASSWORD-ALGORITHMS: SHA-256 then MD5, no parameters (RFC 8489 §14.11).
    private static let passwordAlgorithms: [UInt8] = [0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]

    public init(users: CredentialStore, rest: RestCredentials, nonces: NonceIssuer, unixNow: @escaping () -> UInt64) {
        self.users = users
        self.rest = rest
        self.nonces = nonces
        self.unixNow = unixNow
        realm = Array(users.realm.utf8)
        key = .allocate(byteCount: 32, alignment: 8)
        candidates = .allocate(byteCount: 32 * 8, alignment: 8)
    }

    deinit {
        key.deallocate()
        candidates.deallocate()
    }

    public var responseKey: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: key[0..<keyLength]) }

    public private(set) var sourceProven = false

    public func authenticate(_ request: StunMessageView, from client: TransportAddress, now: UInt64) -> AuthOutcome {
        sourceProven = false
        let hasSHA1 = request.contains(.messageIntegrity)
        let hasSHA256 = request.contains(.messageIntegritySHA256)
        guard hasSHA1 || hasSHA256 else { return .challenge(code: 401) }
        guard let realm = request.realm, let nonce = request.nonce, request.username != nil || request.userhash != nil else {
            return .challenge(code: 400)
        }
        let wallClock = unixNow()
        switch nonces.validate(nonce, for: client, now: wallClock) {
        case .invalid: return .challenge(code: 401)
        case .stale: return .challenge(code: 438)
        case .valid: sourceProven = true
        }
        guard realm.elementsEqual(self.realm) else { return .challenge(code: 401) }
        let algorithm: LongTermKeyAlgorithm
        switch request.passwordAlgorithm?.algorithm {
        case nil: algorithm = .md5
        case LongTermKeyAlgorithm.md5.rawValue?: algorithm = .md5
        case LongTermKeyAlgorithm.sha256.rawValue?: algorithm = .sha256
        default: return .challenge(code: 400)
        }
        let kind: IntegrityKind = hasSHA256 ? .sha256 : .sha1
        func verify(_ candidate: UnsafeRawBufferPointer) -> Bool {
            kind == .sha256 ? request.verifyMessageIntegritySHA256(key: candidate) : request.verifyMessageIntegrity(key: candidate)
        }

        // Static user, by USERNAME or USERHASH.
        let user = request.username.flatMap { users.user(named: $0) } ?? request.userhash.flatMap { users.user(userhash: $0) }
        if let user {
            let matched = user.withKey(algorithm) { candidate -> Bool in
                guard verify(candidate) else { return false }
                remember(candidate)
                return true
            }
            guard matched == true else { return .challenge(code: 401) }
            return .authenticated(TurnUser(key: UInt64(user.index) | 1 << 63), kind)
        }

        // TURN REST: "expiry:id", checked against every configured secret.
        guard let username = request.username else { return .challenge(code: 401) }
        let expired: Bool
        switch rest.verdict(username: username, now: wallClock) {
        case .valid: expired = false
        case .expired: expired = true
        case .malformed, .noSecrets: return .challenge(code: 401)
        }
        let count = self.realm.withUnsafeBytes { realm in
            rest.keys(username: username, realm: realm, algorithm: algorithm, into: candidates)
        }
        let length = algorithm.keyLength
        for i in 0..<count {
            let candidate = UnsafeRawBufferPointer(rebasing: candidates[(i * length)..<((i + 1) * length)])
            if verify(candidate) {
                remember(candidate)
                return .authenticated(TurnUser(key: Self.restIdentity(username), expired: expired), kind)
            }
        }
        return .challenge(code: 401)
    }

    public func appendChallenge(to builder: inout StunMessageBuilder, for client: TransportAddress, now: UInt64) throws(StunBuildError) {
        let nonce = nonces.issue(for: client, now: unixNow())
        let offersAlgorithms = nonces.features?.contains(.passwordAlgorithms) == true
        let result: Result<Void, StunBuildError> = realm.withUnsafeBytes { realm in
            nonce.withUnsafeBytes { nonce in
                Self.passwordAlgorithms.withUnsafeBytes { algorithms in
                    do throws(StunBuildError) {
                        try builder.append(.realm, bytes: realm)
                        try builder.append(.nonce, bytes: nonce)
                        if offersAlgorithms { try builder.append(.passwordAlgorithms, bytes: algorithms) }
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
            }
        }
        try result.get()
    }

    private func remember(_ candidate: UnsafeRawBufferPointer) {
        key.copyMemory(from: candidate)
        keyLength = candidate.count
    }

    /// The key a static user's allocations carry (its position in the store, which another
    /// process's store may order differently: a handover recomputes it by name).
    public func staticUserKey(named name: String) -> UInt64? {
        Array(name.utf8).withUnsafeBytes { users.user(named: $0) }.map { UInt64($0.index) | 1 << 63 }
    }

    /// A REST user's identity: the part after the expiry ("expiry:id" → "id"), so refreshed
    /// credentials of the same client are the same user. FNV-1a, top bit clear.
    static func restIdentity(_ username: UnsafeRawBufferPointer) -> UInt64 {
        let start = (username.firstIndex(of: UInt8(ascii: ":")).map { $0 + 1 }) ?? 0
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in username[start...] { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash & ~(1 << 63)
    }
}
