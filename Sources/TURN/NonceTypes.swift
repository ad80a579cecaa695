import STUN
/// The 24-bit STUN Security Feature set carried in the RFC 8489 §9.2 nonce cookie
/// ("obMatJos2" followed by the base64 of the three feature bytes).
///
/// Bit numbering follows verified RFC 8489 erratum 6290 and the Appendix B.1 vector
/// ("obMatJos2AAAC…" = username anonymity): bit 0 is the least significant bit of the
/// 24-bit big-endian value, so "Password algorithms" is `0x000001` and "Username
/// anonymity" is `0x000002`; both together encode as "AAAD".
public struct NonceSecurityFeatures: OptionSet, Sendable, Hashable {
    /// The 24-bit value (higher bits are ignored when encoding).
    public var rawValue: UInt32

    /// Creates a feature set from its 24-bit value.
    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFF_FFFF }

    /// Security feature bit 0: the server supports PASSWORD-ALGORITHMS (bid-down protection).
    public static let passwordAlgorithms = NonceSecurityFeatures(rawValue: 1 << 0)
    /// Security feature bit 1: the server supports USERHASH (username anonymity).
    public static let usernameAnonymity = NonceSecurityFeatures(rawValue: 1 << 1)

    /// The literal cookie prefix, "obMatJos2".
    public static let cookie: StaticString = "obMatJos2"
    /// Cookie prefix plus the four base64 characters of the feature set.
    public static let cookieLength = 13

    /// Parses the nonce cookie at the start of any NONCE value (e.g. one sent by another
    /// server); nil when the nonce does not start with a well-formed cookie.
    public static func parse(nonce: UnsafeRawBufferPointer) -> NonceSecurityFeatures? {
        guard nonce.count >= cookieLength else { return nil }
        let prefix = UnsafeRawBufferPointer(start: cookie.utf8Start, count: cookie.utf8CodeUnitCount)
        guard turnConstantTimeEqual(UnsafeRawBufferPointer(rebasing: nonce[0..<prefix.count]), prefix) else {
            return nil
        }
        var bits: (UInt8, UInt8, UInt8) = (0, 0, 0)
        let decoded = withUnsafeMutableBytes(of: &bits) {
            Base64.decode(UnsafeRawBufferPointer(rebasing: nonce[prefix.count..<cookieLength]), into: $0)
        }
        guard decoded == 3 else { return nil }
        return NonceSecurityFeatures(rawValue: UInt32(bits.0) << 16 | UInt32(bits.1) << 8 | UInt32(bits.2))
    }

    /// Writes the 13-byte cookie ("obMatJos2" + base64 of the feature set) to `output`.
    func writeCookie(into output: UnsafeMutableRawBufferPointer) {
        let prefix = UnsafeRawBufferPointer(start: Self.cookie.utf8Start, count: Self.cookie.utf8CodeUnitCount)
        output.copyMemory(from: prefix)
        let bits: (UInt8, UInt8, UInt8) = (UInt8(truncatingIfNeeded: rawValue >> 16),
                                           UInt8(truncatingIfNeeded: rawValue >> 8),
                                           UInt8(truncatingIfNeeded: rawValue))
        _ = withUnsafeBytes(of: bits) {
            Base64.encode($0, into: UnsafeMutableRawBufferPointer(rebasing: output[prefix.count..<Self.cookieLength]))
        }
    }
}

/// The outcome of checking a NONCE with `NonceIssuer.validate`.
public enum NonceVerdict: Sendable, Equatable {
    /// Issued by this server (secret) for this client and still within its lifetime.
    case valid
    /// Well formed and authentic for this client, but expired (or dated in the future after
    /// a clock step): answer 438 (Stale Nonce) with a fresh nonce.
    case stale
    /// Garbage, forged, tampered with, or issued to another client: answer 401.
    case invalid
}

/// A nonce produced by `NonceIssuer.issue`: at most `capacity` ASCII bytes held inline
/// (no heap allocation); put it in a NONCE attribute via `withUnsafeBytes`.
public struct IssuedNonce: Sendable, Equatable, CustomStringConvertible {
    /// Largest nonce this type can hold.
    public static let capacity = 64
    var storage: TurnBytes64 = turnZeroBytes64
    /// Number of bytes in use.
    public private(set) var count: Int = 0

    init() {}

    /// Calls `body` with the nonce bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// Appends bytes through `body`, which gets the free space and returns how much it wrote.
    mutating func append(_ body: (UnsafeMutableRawBufferPointer) -> Int) {
        let used = count
        let added = Swift.withUnsafeMutableBytes(of: &storage) {
            body(UnsafeMutableRawBufferPointer(rebasing: $0[used..<Self.capacity]))
        }
        count += added
    }

    /// The nonce as text (allocates; for logs and tests).
    public var description: String {
        withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    public static func == (lhs: IssuedNonce, rhs: IssuedNonce) -> Bool {
        lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } }
    }

    /// True when `value` is a legal NONCE value (RFC 8489 §14.10): fewer than 128
    /// characters, each `qdtext` (%x21, %x23-5B, %x5D-7E, UTF-8 non-ASCII, and linear white
    /// space) or a `quoted-pair` ("\" followed by %x00-09, %x0B-0C or %x0E-7F).
    /// Non-ASCII bytes are counted as characters only at UTF-8 lead bytes.
    public static func isLegalNonceText(_ value: UnsafeRawBufferPointer) -> Bool {
        var characters = 0
        var index = 0
        while index < value.count {
            let byte = value[index]
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < value.count else { return false }
                let quoted = value[index + 1]
                guard quoted <= 0x7F, quoted != 0x0A, quoted != 0x0D else { return false }
                index += 2
                characters += 1
                continue
            }
            if byte >= 0x80 {
                if byte & 0xC0 != 0x80 { characters += 1 }  // count UTF-8 lead bytes only
            } else {
                guard byte == 0x20 || byte == 0x09 || byte == 0x21 || (0x23...0x7E).contains(byte) else {
                    return false
                }
                characters += 1
            }
            index += 1
        }
        return characters < 128
    }
}
