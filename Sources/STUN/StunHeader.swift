/// The fixed 20-byte STUN header, decoded without looking at the attributes.
public struct StunHeader: Hashable, Sendable {
    /// The RFC 5389/8489 magic cookie.
    public static let magicCookie: UInt32 = 0x2112_A442
    /// Size of the header in bytes.
    public static let size = 20

    /// Method and class.
    public var type: StunMessageType
    /// The length field: bytes of attributes after the header.
    public var length: Int
    /// Bytes 4..<8: the magic cookie, or part of an RFC 3489 128-bit transaction id.
    public var cookieField: UInt32
    /// Bytes 8..<20.
    public var transactionID: TransactionID

    /// Creates a header value.
    @inlinable
    public init(type: StunMessageType, length: Int, cookieField: UInt32, transactionID: TransactionID) {
        self.type = type
        self.length = length
        self.cookieField = cookieField
        self.transactionID = transactionID
    }

    /// True when the cookie field holds the magic cookie (an RFC 5389+ agent).
    @inlinable
    public var hasMagicCookie: Bool {
        cookieField == Self.magicCookie
    }

    /// Header plus attributes: the size the whole message must have.
    @inlinable
    public var messageSize: Int {
        Self.size + length
    }

    /// Decodes the header at the start of `bytes` and checks what the header alone can tell:
    /// at least 20 bytes, top two bits zero, length a multiple of four. It does not require
    /// `bytes` to hold the whole message, so stream transports can use it for framing.
    @inlinable
    public static func peek(_ bytes: UnsafeRawBufferPointer) throws(StunParseError) -> StunHeader {
        guard bytes.count >= size else { throw .truncatedHeader }
        guard bytes[0] & 0xC0 == 0 else { throw .notStun }
        let length = Int(bytes.stunUInt16(at: 2))
        guard length & 3 == 0 else { throw .lengthNotMultipleOf4 }
        return StunHeader(
            type: StunMessageType(rawValue: bytes.stunUInt16(at: 0)),
            length: length,
            cookieField: bytes.stunUInt32(at: 4),
            transactionID: TransactionID(high: bytes.stunUInt32(at: 8), low: bytes.stunUInt64(at: 12)))
    }
}
