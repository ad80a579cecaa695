/// Long-term credential keys and USERHASH (RFC 8489 §9.2.2, §14.4), plus HMAC helpers.
///
/// Inputs are used as the UTF-8 bytes given: OpaqueString (RFC 8265) / SASLprep processing is
/// NOT applied here, so callers must pass already-prepared usernames, realms and passwords
/// (RFC 5769 §2.4 and RFC 8489 §B.1 use the prepared password "TheMatrIX").
public enum LongTermKey {
    /// Size of the MD5 key.
    public static let md5Length = 16
    /// Size of the SHA-256 key and of USERHASH.
    public static let sha256Length = 32

    /// key = MD5(username ":" realm ":" password) into the first 16 bytes of `output`.
    public static func md5(username: UnsafeRawBufferPointer, realm: UnsafeRawBufferPointer,
                           password: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        joinedDigest(.md5, username, realm, password, into: output)
    }

    /// key = SHA-256(username ":" realm ":" password) into the first 32 bytes of `output`.
    public static func sha256(username: UnsafeRawBufferPointer, realm: UnsafeRawBufferPointer,
                              password: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        joinedDigest(.sha256, username, realm, password, into: output)
    }

    /// USERHASH = SHA-256(username ":" realm) into the first 32 bytes of `output`.
    public static func userhash(username: UnsafeRawBufferPointer, realm: UnsafeRawBufferPointer,
                                into output: UnsafeMutableRawBufferPointer) -> Bool {
        joinedDigest(.sha256, username, realm, nil, into: output)
    }

    /// Convenience (allocating) form of `md5(username:realm:password:into:)`; empty on failure.
    public static func md5(username: String, realm: String, password: String) -> [UInt8] {
        strings(.md5, username, realm, password)
    }

    /// Convenience (allocating) form of `sha256(username:realm:password:into:)`; empty on failure.
    public static func sha256(username: String, realm: String, password: String) -> [UInt8] {
        strings(.sha256, username, realm, password)
    }

    /// Convenience (allocating) form of `userhash(username:realm:into:)`; empty on failure.
    public static func userhash(username: String, realm: String) -> [UInt8] {
        strings(.sha256, username, realm, nil)
    }

    private static func strings(_ algorithm: DigestAlgorithm, _ username: String, _ realm: String,
                                _ password: String?) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: algorithm.length)
        let u = Array(username.utf8), r = Array(realm.utf8), p = Array((password ?? "").utf8)
        let ok = u.withUnsafeBytes { u in
            r.withUnsafeBytes { r in
                p.withUnsafeBytes { p in
                    output.withUnsafeMutableBytes { joinedDigest(algorithm, u, r, password == nil ? nil : p, into: $0) }
                }
            }
        }
        return ok ? output : []
    }

    private static func joinedDigest(_ algorithm: DigestAlgorithm, _ first: UnsafeRawBufferPointer,
                                     _ second: UnsafeRawBufferPointer, _ third: UnsafeRawBufferPointer?,
                                     into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard output.count >= algorithm.length, let base = output.baseAddress else { return false }
        var colon: UInt8 = 0x3A
        return withUnsafeBytes(of: &colon) { colon in
            var digest = DigestContext(algorithm)
            digest.update(first)
            digest.update(colon)
            digest.update(second)
            if let third {
                digest.update(colon)
                digest.update(third)
            }
            return digest.finish(into: base)
        }
    }
}
