import STUN

/// Issues and checks stateless NONCE values (RFC 8489 §9.2, RFC 8656 §7): nothing is stored
/// per client, so a nonce flood costs no memory.
///
/// Format (ASCII, 17 bytes without the cookie, 30 with it):
///
///     [ "obMatJos2" + base64(features, 3 bytes) ]   13 chars, when `features` is non-nil
///     "2"                                           version marker
///     base64url-unpadded( timestamp ‖ mac )         16 chars
///
/// where `timestamp` is the issue time in Unix seconds as 4 big-endian bytes (until 2106) and
/// `mac` is HMAC-SHA256(key, prefix ‖ timestamp ‖ binding ‖ family ‖ client IP [‖ client port])
/// truncated to 8 bytes. The nonce only proves that the client receives at its address and
/// dates the challenge (the password is proved by MESSAGE-INTEGRITY), so 64 bits are ample: a
/// forger needs ~2^63 online guesses. Small matters: every unauthenticated request is answered
/// with one, and the 401 must not make rtcgate a reflector (`TurnLimits.challengeRate`). `prefix` is everything before the payload, so the advertised
/// security features cannot be altered without invalidating the nonce. IPv4-mapped IPv6
/// clients are bound as their IPv4 address. All characters are `qdtext` (RFC 8489 §14.10).
///
/// Clock: `now` is wall-clock Unix seconds (`CLOCK_REALTIME`), not the monotonic clock, so
/// that several processes (or a restarted one given the same secret) agree. A nonce dated
/// more than `maxFutureSkew` seconds ahead of `now` (the clock stepped back) is `.stale`.
///
/// Secret: `init(lifetime:features:bindsPort:)` draws a random per-process key, so nonces
/// do not survive a restart (clients get one extra 401/438 round trip). Several processes
/// answering on one address (SO_REUSEPORT workers, anycast, a failover pair) must share
/// the key: build each with `init(secret:…)` from the same configured secret.
public struct NonceIssuer: Sendable {
    /// coturn's default nonce lifetime.
    public static let defaultLifetime: UInt64 = 600
    /// How far in the future a nonce's timestamp may lie before it is treated as stale.
    public static let maxFutureSkew: UInt64 = 60
    /// Bytes of the truncated MAC.
    static let macLength = 8
    /// Bytes of the timestamp.
    static let timestampLength = 4
    /// Base64url characters of the payload (timestamp ‖ mac).
    static let payloadLength = 16
    /// The version marker byte.
    static let version = UInt8(ascii: "2")

    /// How long an issued nonce stays valid, in seconds.
    public let lifetime: UInt64
    /// The security features advertised in the nonce cookie; nil issues nonces without a
    /// cookie (for servers that support neither PASSWORD-ALGORITHMS nor USERHASH).
    public let features: NonceSecurityFeatures?
    /// Whether nonces are bound to the client's port as well as its IP address. Off by
    /// default: a NAT rebinding or a new TCP/TLS connection then keeps its nonce.
    public let bindsPort: Bool
    /// The 32-byte HMAC key.
    private let key: TurnBytes64

    /// A random per-process key (OpenSSL CSPRNG).
    public init(lifetime: UInt64 = NonceIssuer.defaultLifetime,
                features: NonceSecurityFeatures? = [.passwordAlgorithms, .usernameAnonymity],
                bindsPort: Bool = false) {
        var key = turnZeroBytes64
        withUnsafeMutableBytes(of: &key) { turnRandomBytes(UnsafeMutableRawBufferPointer(rebasing: $0[0..<32])) }
        self.init(key: key, lifetime: lifetime, features: features, bindsPort: bindsPort)
    }

    /// A key derived from a configured `secret` (at least 16 bytes, else nil), so that every
    /// process given the same secret and settings accepts the others' nonces.
    public init?(secret: [UInt8], lifetime: UInt64 = NonceIssuer.defaultLifetime,
                 features: NonceSecurityFeatures? = [.passwordAlgorithms, .usernameAnonymity],
                 bindsPort: Bool = false) {
        guard secret.count >= 16 else { return nil }
        var key = turnZeroBytes64
        let label: StaticString = "rtcgate turn nonce key v1"
        let ok = secret.withUnsafeBytes { secret in
            withUnsafeMutableBytes(of: &key) { key in
                LongTermKey.hmacSHA256(key: secret,
                                       message: UnsafeRawBufferPointer(start: label.utf8Start,
                                                                       count: label.utf8CodeUnitCount),
                                       into: key)
            }
        }
        guard ok else { return nil }
        self.init(key: key, lifetime: lifetime, features: features, bindsPort: bindsPort)
    }

    private init(key: TurnBytes64, lifetime: UInt64, features: NonceSecurityFeatures?, bindsPort: Bool) {
        self.key = key
        self.lifetime = lifetime
        self.features = features
        self.bindsPort = bindsPort
    }

    /// Length of every nonce this issuer produces.
    public var nonceLength: Int { prefixLength + Self.payloadLength }

    private var prefixLength: Int { (features == nil ? 0 : NonceSecurityFeatures.cookieLength) + 1 }

    /// A fresh nonce for `client` at `now` (Unix seconds).
    public func issue(for client: TransportAddress, now: UInt64) -> IssuedNonce {
        var nonce = IssuedNonce()
        if let features {
            nonce.append { features.writeCookie(into: $0); return NonceSecurityFeatures.cookieLength }
        }
        nonce.append { $0[0] = Self.version; return 1 }
        var raw = turnZeroBytes64  // timestamp ‖ mac
        withUnsafeMutableBytes(of: &raw) { raw in
            let timestamp = now & 0xFFFF_FFFF
            for index in 0..<Self.timestampLength {
                raw[index] = UInt8(truncatingIfNeeded: timestamp >> UInt64(8 * (Self.timestampLength - 1 - index)))
            }
            nonce.withUnsafeBytes { prefix in
                _ = mac(prefix: prefix, timestamp: UnsafeRawBufferPointer(rebasing: raw[0..<Self.timestampLength]),
                        client: client,
                        into: UnsafeMutableRawBufferPointer(rebasing: raw[Self.timestampLength..<64]))
            }
            let payload = UnsafeRawBufferPointer(rebasing: raw[0..<(Self.timestampLength + Self.macLength)])
            nonce.append { Base64.encode(payload, into: $0, .urlSafeUnpadded) ?? 0 }
        }
        return nonce
    }

    /// Checks a NONCE value received from `client` at `now` (Unix seconds).
    public func validate(_ nonce: UnsafeRawBufferPointer, for client: TransportAddress, now: UInt64) -> NonceVerdict {
        let prefixLength = self.prefixLength
        guard nonce.count == nonceLength, nonce[prefixLength - 1] == Self.version else { return .invalid }
        let prefix = UnsafeRawBufferPointer(rebasing: nonce[0..<prefixLength])
        if let features {
            var expected = turnZeroBytes64
            let same = withUnsafeMutableBytes(of: &expected) { expected -> Bool in
                let cookie = UnsafeMutableRawBufferPointer(rebasing: expected[0..<NonceSecurityFeatures.cookieLength])
                features.writeCookie(into: cookie)
                return turnConstantTimeEqual(UnsafeRawBufferPointer(cookie),
                                             UnsafeRawBufferPointer(rebasing: prefix[0..<cookie.count]))
            }
            guard same else { return .invalid }
        }
        var raw = turnZeroBytes64  // [0, 12): received timestamp ‖ mac; [32, 64): computed mac
        return withUnsafeMutableBytes(of: &raw) { raw -> NonceVerdict in
            let payloadEnd = Self.timestampLength + Self.macLength
            let decoded = Base64.decode(UnsafeRawBufferPointer(rebasing: nonce[prefixLength..<nonce.count]),
                                            into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<payloadEnd]),
                                            .urlSafeUnpadded)
            guard decoded == payloadEnd else { return .invalid }
            let timestampBytes = UnsafeRawBufferPointer(rebasing: raw[0..<Self.timestampLength])
            guard mac(prefix: prefix, timestamp: timestampBytes, client: client,
                      into: UnsafeMutableRawBufferPointer(rebasing: raw[32..<64])) else { return .invalid }
            let authentic = turnConstantTimeEqual(
                UnsafeRawBufferPointer(rebasing: raw[Self.timestampLength..<payloadEnd]),
                UnsafeRawBufferPointer(rebasing: raw[32..<(32 + Self.macLength)]))
            guard authentic else { return .invalid }
            var issued: UInt64 = 0
            for index in 0..<Self.timestampLength { issued = issued << 8 | UInt64(timestampBytes[index]) }
            if issued > now {
                return issued - now > Self.maxFutureSkew ? .stale : .valid
            }
            return now - issued < lifetime ? .valid : .stale
        }
    }

    /// HMAC-SHA256 over prefix ‖ timestamp ‖ binding ‖ family ‖ IP [‖ port] into `output` (32 bytes).
    private func mac(prefix: UnsafeRawBufferPointer, timestamp: UnsafeRawBufferPointer, client: TransportAddress,
                     into output: UnsafeMutableRawBufferPointer) -> Bool {
        var message = turnZeroBytes64
        return withUnsafeMutableBytes(of: &message) { message -> Bool in
            // Plain index writes: a local `put` function would box `length` on the heap.
            message.copyMemory(from: prefix)  // at most 14 bytes
            var length = prefix.count
            UnsafeMutableRawBufferPointer(rebasing: message[length..<(length + timestamp.count)]).copyMemory(from: timestamp)
            length += timestamp.count
            message[length] = bindsPort ? 1 : 0
            let ip = client.ip.unmapped
            message[length + 1] = ip.isIPv4 ? 4 : 6
            length += 2
            ip.write(to: UnsafeMutableRawBufferPointer(rebasing: message[length..<(length + ip.byteCount)]))
            length += ip.byteCount
            if bindsPort {
                message[length] = UInt8(truncatingIfNeeded: client.port >> 8)
                message[length + 1] = UInt8(truncatingIfNeeded: client.port)
                length += 2
            }
            return withUnsafeBytes(of: key) { key in
                LongTermKey.hmacSHA256(key: UnsafeRawBufferPointer(rebasing: key[0..<32]),
                                       message: UnsafeRawBufferPointer(rebasing: message[0..<length]),
                                       into: output)
            }
        }
    }
}
