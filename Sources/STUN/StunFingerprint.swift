/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) and the FINGERPRINT value
/// (RFC 8489 §14.7): CRC-32 of the message up to the attribute, XOR 0x5354554E.
public enum StunFingerprint {
    /// The constant XORed into the CRC ("STUN" in ASCII).
    public static let xorValue: UInt32 = 0x5354_554E

    /// The 256-entry table, computed once on first use.
    static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var crc = UInt32(index)
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1
        }
        return crc
    }

    /// The standard CRC-32 of `bytes` (e.g. "123456789" → 0xCBF43926).
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }

    /// The FINGERPRINT value for a message whose bytes before the attribute are `prefix`
    /// (with the header length field already counting the 8-byte FINGERPRINT attribute).
    public static func value(over prefix: UnsafeRawBufferPointer) -> UInt32 {
        crc32(prefix) ^ xorValue
    }
}
