import STUN

/// The verdict on a TURN REST username's embedded expiry (see `RestCredentials.verdict`).
public enum RestVerdict: Sendable, Equatable {
    /// The expiry (Unix seconds) is still in the future.
    case valid(expiry: UInt64)
    /// The credentials expired at `expiry` (Unix seconds, `expiry <= now`). A new
    /// allocation must be refused (401), but the caller may still accept them for
    /// refreshing an allocation created while they were valid, up to its session cap.
    case expired(expiry: UInt64)
    /// No leading decimal expiry (e.g. "alice", ":x", "12a:b", or one overflowing 64 bits).
    case malformed
    /// No shared secret is configured, so no REST username can be verified.
    case noSecrets
}

/// TURN REST API ephemeral credentials (draft-uberti-behave-turn-rest-00) exactly as coturn
/// implements `use-auth-secret` / `static-auth-secret`:
///
///     username = "<expiry unix seconds>:<client id>"
///     password = base64(HMAC-SHA1(shared secret, username))      (28 characters)
///
/// The TURN server never stores these users; it rebuilds the password from the username.
///
/// Rotation: `secrets` is ordered newest first. `mint` always uses the newest one; the
/// verification side tries every configured secret, so adding a new secret at the front
/// (`rotate(adding:)`) keeps credentials minted with older ones working until the old
/// secret is removed (`retireOldest()`), which should wait at least the longest TTL handed
/// out. At most `maxSecrets` are kept so callers can size stack buffers for `keys`.
public struct RestCredentials: Sendable {
    /// The largest number of secrets kept at once.
    public static let maxSecrets = 4
    /// Length of a REST password (base64 of a 20-byte HMAC-SHA1).
    public static let passwordLength = 28
    /// RFC 8489 §14.3: USERNAME must be shorter than 509 bytes.
    public static let maxUsernameLength = 508

    /// The shared secrets, newest first.
    public private(set) var secrets: [[UInt8]]

    /// Up to `maxSecrets` secrets, newest first; empty secrets are dropped, extras ignored.
    public init(secrets: [String]) {
        self.secrets = Array(secrets.lazy.filter { !$0.isEmpty }.map { Array($0.utf8) }.prefix(Self.maxSecrets))
    }

    /// Makes `secret` the newest (used by `mint`); drops the oldest when more than
    /// `maxSecrets` would remain. An empty secret is ignored.
    public mutating func rotate(adding secret: String) {
        guard !secret.isEmpty else { return }
        secrets.insert(Array(secret.utf8), at: 0)
        if secrets.count > Self.maxSecrets { secrets.removeLast() }
    }

    /// Removes the oldest secret (its credentials stop verifying).
    public mutating func retireOldest() {
        if !secrets.isEmpty { secrets.removeLast() }
    }

    /// Mints credentials for `clientId`, expiring at `now + ttl` (Unix seconds), with the
    /// newest secret. Nil when no secret is configured or the username would be too long
    /// for a STUN USERNAME. Used by the signaling plane.
    public func mint(clientId: String, now: UInt64, ttl: UInt64) -> (username: String, password: String)? {
        guard let secret = secrets.first else { return nil }
        let (expiry, overflow) = now.addingReportingOverflow(ttl)
        let username = "\(overflow ? UInt64.max : expiry):\(clientId)"
        guard username.utf8.count <= Self.maxUsernameLength else { return nil }
        var digest: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let ok = Array(username.utf8).withUnsafeBytes { name in
            secret.withUnsafeBytes { key in
                withUnsafeMutableBytes(of: &digest) { LongTermKey.hmacSHA1(key: key, message: name, into: $0) }
            }
        }
        guard ok else { return nil }
        let password = withUnsafeBytes(of: digest) { Base64.encode(Array($0[0..<20])) }
        return (username, password)
    }

    /// Reads the expiry from a REST username: the decimal digits before the first ':'
    /// ("1700000000:cam-1"), or the whole username when it is only digits ("1700000000"),
    /// as coturn accepts. Expired when `expiry <= now` (coturn accepts only `expiry > now`).
    public func verdict(username: UnsafeRawBufferPointer, now: UInt64) -> RestVerdict {
        guard !secrets.isEmpty else { return .noSecrets }
        guard let expiry = Self.expiry(of: username) else { return .malformed }
        return expiry > now ? .valid(expiry: expiry) : .expired(expiry: expiry)
    }

    /// The expiry embedded in `username`, or nil when malformed (see `verdict`).
    public static func expiry(of username: UnsafeRawBufferPointer) -> UInt64? {
        guard username.count <= maxUsernameLength else { return nil }
        var end = 0  // a plain loop: the generic firstIndex(of:) allocates in unoptimised builds
        while end < username.count, username[end] != UInt8(ascii: ":") { end += 1 }
        return turnParseDecimal(UnsafeRawBufferPointer(rebasing: username[0..<end]))
    }

    /// Writes the REST password for `username` under `secrets[secretIndex]` (28 ASCII bytes)
    /// into `output`; returns the length written, or nil on a bad index or short buffer.
    public func password(username: UnsafeRawBufferPointer, secretIndex: Int,
                         into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard secrets.indices.contains(secretIndex), output.count >= Self.passwordLength else { return nil }
        var digest: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let ok = secrets[secretIndex].withUnsafeBytes { key in
            withUnsafeMutableBytes(of: &digest) { LongTermKey.hmacSHA1(key: key, message: username, into: $0) }
        }
        guard ok else { return nil }
        return withUnsafeBytes(of: digest) { Base64.encode(UnsafeRawBufferPointer(rebasing: $0[0..<20]), into: output) }
    }

    /// Writes one long-term key per configured secret, newest first, back to back
    /// (`algorithm.keyLength` bytes each) into `output`: key_i = H(username ":" realm ":"
    /// password_i). Returns how many keys were written (limited by `output` size; key i
    /// always belongs to `secrets[i]`); the
    /// server checks MESSAGE-INTEGRITY(-SHA256) against each in turn and may remember the
    /// matching one for the allocation. Does not look at the expiry: call `verdict` first.
    public func keys(username: UnsafeRawBufferPointer, realm: UnsafeRawBufferPointer,
                     algorithm: LongTermKeyAlgorithm, into output: UnsafeMutableRawBufferPointer) -> Int {
        let keyLength = algorithm.keyLength
        var written = 0
        var password: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for index in secrets.indices where (written + 1) * keyLength <= output.count {
            let ok = withUnsafeMutableBytes(of: &password) { password -> Bool in
                guard let length = self.password(username: username, secretIndex: index, into: password) else {
                    return false
                }
                let slot = UnsafeMutableRawBufferPointer(rebasing: output[(written * keyLength)..<((written + 1) * keyLength)])
                return algorithm.deriveKey(username: username, realm: realm,
                                           password: UnsafeRawBufferPointer(rebasing: password[0..<length]), into: slot)
            }
            guard ok else { break }  // keep key i paired with secrets[i]
            written += 1
        }
        return written
    }
}
