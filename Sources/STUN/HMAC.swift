/// A streaming HMAC (RFC 2104) over SHA-1 or SHA-256, built on `DigestContext`. Supports
/// several input segments, which MESSAGE-INTEGRITY needs (patched header, then body).
struct HMACContext: ~Copyable {
    private var digest: DigestContext
    /// K XOR opad, one 64-byte block.
    private var outerPad: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    private var keyOK: Bool

    /// Starts an HMAC with `key`; keys longer than the 64-byte block are hashed first.
    init(_ algorithm: DigestAlgorithm, key: UnsafeRawBufferPointer) {
        var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var digest = DigestContext(algorithm)
        var keyOK = true
        withUnsafeMutableBytes(of: &block) { block in
            if key.count > block.count {
                digest.update(key)
                keyOK = digest.finish(into: block.baseAddress!)
                digest.reset()
            } else {
                block.stunCopy(key, at: 0)
            }
        }
        var pad = block
        withUnsafeMutableBytes(of: &block) { block in
            for index in 0..<block.count { block[index] ^= 0x36 }
            digest.update(UnsafeRawBufferPointer(block))
        }
        withUnsafeMutableBytes(of: &pad) { pad in
            for index in 0..<pad.count { pad[index] ^= 0x5C }
        }
        self.digest = digest
        self.outerPad = pad
        self.keyOK = keyOK
    }

    /// Feeds message bytes.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        digest.update(bytes)
    }

    /// Writes the MAC (`algorithm.length` bytes) to `output`; false on libcrypto failure.
    mutating func finish(into output: UnsafeMutableRawPointer) -> Bool {
        var inner: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        guard keyOK else { return false }
        let innerOK = withUnsafeMutableBytes(of: &inner) { digest.finish(into: $0.baseAddress!) }
        guard innerOK else { return false }
        digest.reset()
        let length = digest.algorithm.length
        withUnsafeBytes(of: outerPad) { digest.update($0) }
        withUnsafeBytes(of: inner) { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        return digest.finish(into: output)
    }
}

extension LongTermKey {
    /// HMAC-SHA1 of `message` under `key` into the first 20 bytes of `output`; false if
    /// `output` is shorter or libcrypto failed.
    public static func hmacSHA1(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer,
                                into output: UnsafeMutableRawBufferPointer) -> Bool {
        hmac(.sha1, key: key, message: message, into: output)
    }

    /// HMAC-SHA256 of `message` under `key` into the first 32 bytes of `output`.
    public static func hmacSHA256(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer,
                                  into output: UnsafeMutableRawBufferPointer) -> Bool {
        hmac(.sha256, key: key, message: message, into: output)
    }

    static func hmac(_ algorithm: DigestAlgorithm, key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer,
                     into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard output.count >= algorithm.length, let base = output.baseAddress else { return false }
        var context = HMACContext(algorithm, key: key)
        context.update(message)
        return context.finish(into: base)
    }
}
