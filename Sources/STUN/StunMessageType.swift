/// The 14-bit STUN message type: a method and a class interleaved (RFC 8489 §5).
public struct StunMessageType: Hashable, Sendable {
    /// The method.
    public var method: StunMethod
    /// The class.
    public var messageClass: StunClass

    /// Combines a method and a class.
    @inlinable
    public init(method: StunMethod, messageClass: StunClass) {
        self.method = method
        self.messageClass = messageClass
    }

    /// Decodes the 16-bit type field; the two most significant bits are ignored.
    @inlinable
    public init(rawValue: UInt16) {
        let method = (rawValue & 0x3E00) >> 2 | (rawValue & 0x00E0) >> 1 | (rawValue & 0x000F)
        let classBits = UInt8(truncatingIfNeeded: (rawValue >> 7) & 0x2 | (rawValue >> 4) & 0x1)
        self.method = StunMethod(rawValue: method)
        self.messageClass = StunClass(rawValue: classBits)!
    }

    /// The encoded 16-bit type field (top two bits zero).
    @inlinable
    public var rawValue: UInt16 {
        let m = method.rawValue
        let c = UInt16(messageClass.rawValue)
        return (m & 0x0F80) << 2 | (m & 0x0070) << 1 | (m & 0x000F) | (c & 0x2) << 7 | (c & 0x1) << 4
    }

    /// Binding request (0x0001).
    public static let bindingRequest = StunMessageType(method: .binding, messageClass: .request)
    /// Binding success response (0x0101).
    public static let bindingSuccess = StunMessageType(method: .binding, messageClass: .successResponse)
    /// Binding error response (0x0111).
    public static let bindingError = StunMessageType(method: .binding, messageClass: .errorResponse)
}
