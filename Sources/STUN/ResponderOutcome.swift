/// Why `BindingResponder` sent nothing back.
public enum ResponderDropReason: Int, CaseIterable, Sendable {
    /// Not a STUN message (top bits set, bad length field).
    case notStun
    /// Shorter than a STUN header, or shorter than its length field says.
    case truncated
    /// FINGERPRINT present and wrong.
    case badFingerprint
    /// A success or error response (a server never answers those).
    case response
    /// An indication.
    case indication
    /// A request for a method other than Binding (left to the TURN layer).
    case unsupportedMethod
    /// The source exceeded its token bucket.
    case rateLimited
    /// Even the minimal reply would exceed 2.5 times the request size.
    case amplification
    /// The caller's response buffer is too small.
    case bufferTooSmall

    /// snake_case name for logs and metrics.
    public var label: String {
        switch self {
        case .notStun: return "not_stun"
        case .truncated: return "truncated"
        case .badFingerprint: return "bad_fingerprint"
        case .response: return "response"
        case .indication: return "indication"
        case .unsupportedMethod: return "unsupported_method"
        case .rateLimited: return "rate_limited"
        case .amplification: return "amplification"
        case .bufferTooSmall: return "buffer_too_small"
        }
    }
}

/// What `BindingResponder.handle` did with one datagram.
public enum ResponderOutcome: Equatable, Sendable {
    /// Send the first `length` bytes of the response buffer back to the source.
    case reply(length: Int)
    /// Send nothing.
    case drop(ResponderDropReason)
}
