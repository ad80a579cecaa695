/// Why a STUN message could not be written.
public enum StunBuildError: Error, Sendable, Hashable {
    /// The destination buffer cannot hold the header or the attribute.
    case bufferTooSmall
    /// An attribute value longer than 65535 bytes, or a message body that would exceed it.
    case valueTooLong
    /// An ERROR-CODE outside 300...699.
    case invalidErrorCode
    /// A MESSAGE-INTEGRITY-SHA256 truncation that is not 16...32 and a multiple of four.
    case invalidTruncation
    /// Nothing may follow FINGERPRINT.
    case fingerprintAlreadyAppended
    /// libcrypto failed to compute a digest or MAC.
    case cryptoFailure
}
