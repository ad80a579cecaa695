// FINGERPRINT and MESSAGE-INTEGRITY(-SHA256) verification (RFC 8489 §14.5–§14.7).
extension StunMessageView {
    /// nil when there is no FINGERPRINT; otherwise whether its CRC matches. Parsing already
    /// guaranteed FINGERPRINT is the last attribute and four bytes long.
    @inlinable
    public func verifyFingerprint() -> Bool? {
        guard fingerprintOffset >= 0 else { return nil }
        let expected = bytes.stunUInt32(at: fingerprintOffset + 4)
        return StunFingerprint.value(over: bytes.stunSlice(0, fingerprintOffset)) == expected
    }

    /// Checks the first MESSAGE-INTEGRITY (HMAC-SHA1, 20 bytes) against `key`. The MAC covers
    /// the message up to the attribute with the length field adjusted to end right after it,
    /// so attributes that follow (MESSAGE-INTEGRITY-SHA256, FINGERPRINT) are excluded.
    /// False when absent, malformed, or wrong.
    public func verifyMessageIntegrity(key: UnsafeRawBufferPointer) -> Bool {
        guard integrityOffset >= 0 else { return false }
        let length = Int(bytes.stunUInt16(at: integrityOffset + 2))
        guard length == DigestAlgorithm.sha1.length else { return false }
        return verifyMAC(.sha1, at: integrityOffset, length: length, key: key)
    }

    /// Checks the first MESSAGE-INTEGRITY-SHA256 against `key`. The value may be truncated to
    /// 16...32 bytes in steps of four (RFC 8489 §14.6); anything else is rejected.
    public func verifyMessageIntegritySHA256(key: UnsafeRawBufferPointer) -> Bool {
        guard integritySHA256Offset >= 0 else { return false }
        let length = Int(bytes.stunUInt16(at: integritySHA256Offset + 2))
        guard (16...32).contains(length), length % 4 == 0 else { return false }
        return verifyMAC(.sha256, at: integritySHA256Offset, length: length, key: key)
    }

    func verifyMAC(_ algorithm: DigestAlgorithm, at offset: Int, length: Int, key: UnsafeRawBufferPointer) -> Bool {
        var header: (UInt64, UInt64, UInt32) = (0, 0, 0)
        var mac: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let computed = withUnsafeMutableBytes(of: &header) { header -> Bool in
            header.stunCopy(bytes.stunSlice(0, StunHeader.size), at: 0)
            header.stunStore(UInt16(offset + 4 + length - StunHeader.size), at: 2)
            var context = HMACContext(algorithm, key: key)
            context.update(UnsafeRawBufferPointer(header))
            context.update(bytes.stunSlice(StunHeader.size, offset - StunHeader.size))
            return withUnsafeMutableBytes(of: &mac) { context.finish(into: $0.baseAddress!) }
        }
        guard computed else { return false }
        return withUnsafeBytes(of: mac) {
            constantTimeEqual(UnsafeRawBufferPointer(rebasing: $0[0..<length]), bytes.stunSlice(offset + 4, length))
        }
    }
}
