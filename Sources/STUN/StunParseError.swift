/// Why bytes are not a well-formed STUN message.
public enum StunParseError: Error, Sendable, Hashable {
    /// Fewer than the 20 header bytes.
    case truncatedHeader
    /// The two most significant bits of the first byte are not zero.
    case notStun
    /// The header's length field is not a multiple of four.
    case lengthNotMultipleOf4
    /// The header's length field disagrees with the number of bytes given.
    case lengthMismatch
    /// An attribute header or value runs past the end of the message.
    case truncatedAttribute
    /// An attribute follows FINGERPRINT, which must be last.
    case attributeAfterFingerprint
    /// A FINGERPRINT attribute whose value is not exactly four bytes.
    case invalidFingerprintLength
}
