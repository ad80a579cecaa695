/// Per-reason drop counts in fixed fields (no heap storage).
public struct DropCounters: Sendable, Equatable {
    @usableFromInline
    var notStun: UInt64 = 0
    @usableFromInline
    var truncated: UInt64 = 0
    @usableFromInline
    var badFingerprint: UInt64 = 0
    @usableFromInline
    var response: UInt64 = 0
    @usableFromInline
    var indication: UInt64 = 0
    @usableFromInline
    var unsupportedMethod: UInt64 = 0
    @usableFromInline
    var rateLimited: UInt64 = 0
    @usableFromInline
    var amplification: UInt64 = 0
    @usableFromInline
    var bufferTooSmall: UInt64 = 0

    /// All zero.
    @inlinable
    public init() {}

    /// The count for one reason.
    @inlinable
    public subscript(reason: ResponderDropReason) -> UInt64 {
        get {
            switch reason {
            case .notStun: return notStun
            case .truncated: return truncated
            case .badFingerprint: return badFingerprint
            case .response: return response
            case .indication: return indication
            case .unsupportedMethod: return unsupportedMethod
            case .rateLimited: return rateLimited
            case .amplification: return amplification
            case .bufferTooSmall: return bufferTooSmall
            }
        }
        set {
            switch reason {
            case .notStun: notStun = newValue
            case .truncated: truncated = newValue
            case .badFingerprint: badFingerprint = newValue
            case .response: response = newValue
            case .indication: indication = newValue
            case .unsupportedMethod: unsupportedMethod = newValue
            case .rateLimited: rateLimited = newValue
            case .amplification: amplification = newValue
            case .bufferTooSmall: bufferTooSmall = newValue
            }
        }
    }

    /// Sum over all reasons.
    @inlinable
    public var total: UInt64 {
        var sum: UInt64 = 0
        for reason in ResponderDropReason.allCases { sum &+= self[reason] }
        return sum
    }

    /// Adds another set of counts (e.g. from another worker).
    @inlinable
    public mutating func add(_ other: DropCounters) {
        for reason in ResponderDropReason.allCases { self[reason] &+= other[reason] }
    }
}

/// Counters kept by `BindingResponder`; aggregate workers with `add(_:)`.
public struct StunCounters: Sendable, Equatable {
    /// STUN requests of any method (header valid).
    public var requests: UInt64 = 0
    /// Binding requests among them.
    public var bindingRequests: UInt64 = 0
    /// Binding success responses sent.
    public var successResponses: UInt64 = 0
    /// Error responses sent (all codes).
    public var errorResponses: UInt64 = 0
    /// 400 Bad Request responses sent.
    public var errors400: UInt64 = 0
    /// 420 Unknown Attribute responses sent.
    public var errors420: UInt64 = 0
    /// Datagrams dropped, by reason.
    public var drops = DropCounters()

    /// All zero.
    @inlinable
    public init() {}

    /// Drops for one reason.
    @inlinable
    public subscript(drop reason: ResponderDropReason) -> UInt64 {
        drops[reason]
    }

    /// Adds another worker's counters to these.
    @inlinable
    public mutating func add(_ other: StunCounters) {
        requests &+= other.requests
        bindingRequests &+= other.bindingRequests
        successResponses &+= other.successResponses
        errorResponses &+= other.errorResponses
        errors400 &+= other.errors400
        errors420 &+= other.errors420
        drops.add(other.drops)
    }
}
