/// Zero-copy, bounds-checked view over one STUN message in caller-owned memory.
///
/// The initializer validates the header and the whole attribute TLV chain, so every
/// accessor afterwards only reads in-bounds memory. The view does not own the bytes: it
/// must not outlive the buffer it was created from.
public struct StunMessageView {
    /// The whole message (header and attributes).
    public let bytes: UnsafeRawBufferPointer
    /// The decoded header.
    public let header: StunHeader
    /// Offset of the first MESSAGE-INTEGRITY attribute header, or -1.
    @usableFromInline
    let integrityOffset: Int
    /// Offset of the first MESSAGE-INTEGRITY-SHA256 attribute header, or -1.
    @usableFromInline
    let integritySHA256Offset: Int
    /// Offset of the FINGERPRINT attribute header (always the last attribute), or -1.
    @usableFromInline
    let fingerprintOffset: Int

    /// Validates `bytes` as exactly one STUN message: header checks, the length field equals
    /// `bytes.count - 20`, every attribute fits, nothing follows FINGERPRINT.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(StunParseError) {
        let header = try StunHeader.peek(bytes)
        guard header.messageSize == bytes.count else { throw .lengthMismatch }
        var integrity = -1
        var integritySHA256 = -1
        var fingerprint = -1
        var offset = StunHeader.size
        while offset < bytes.count {
            guard fingerprint < 0 else { throw .attributeAfterFingerprint }
            guard bytes.count - offset >= 4 else { throw .truncatedAttribute }
            let type = bytes.stunUInt16(at: offset)
            let length = Int(bytes.stunUInt16(at: offset + 2))
            // The body length is a multiple of 4 and every attribute starts 4-aligned, so a
            // value that fits always has room for its padding too.
            guard length <= bytes.count - offset - 4 else { throw .truncatedAttribute }
            switch AttributeType(rawValue: type) {
            case .messageIntegrity where integrity < 0:
                integrity = offset
            case .messageIntegritySHA256 where integritySHA256 < 0:
                integritySHA256 = offset
            case .fingerprint:
                guard length == 4 else { throw .invalidFingerprintLength }
                fingerprint = offset
            default:
                break
            }
            offset += 4 + stunPadded(length)
        }
        self.bytes = bytes
        self.header = header
        self.integrityOffset = integrity
        self.integritySHA256Offset = integritySHA256
        self.fingerprintOffset = fingerprint
    }

    /// Cheap classification of a datagram from its first 20 bytes (see `StunHeader.peek`).
    @inlinable
    public static func peekHeader(_ bytes: UnsafeRawBufferPointer) throws(StunParseError) -> StunHeader {
        try StunHeader.peek(bytes)
    }

    /// Method and class.
    @inlinable
    public var type: StunMessageType { header.type }

    /// The 96-bit transaction id (bytes 8..<20).
    @inlinable
    public var transactionID: TransactionID { header.transactionID }

    /// True for RFC 5389+ messages; false for RFC 3489 ones.
    @inlinable
    public var hasMagicCookie: Bool { header.hasMagicCookie }

    /// All attributes in wire order.
    @inlinable
    public var attributes: StunAttributeSequence {
        StunAttributeSequence(bytes: bytes)
    }

    /// The value of the first attribute of type `type`, or nil if absent.
    @inlinable
    public func attribute(_ type: AttributeType) -> UnsafeRawBufferPointer? {
        for attribute in attributes where attribute.type == type {
            return attribute.value
        }
        return nil
    }

    /// True when an attribute of type `type` is present.
    @inlinable
    public func contains(_ type: AttributeType) -> Bool {
        attribute(type) != nil
    }

    /// The comprehension-required attribute types this module does not know, in wire order
    /// (deduplicated, at most `UnknownAttributeList.capacity`; `overflowed` says if more existed).
    /// Attributes after MESSAGE-INTEGRITY(-SHA256) are ignored, as RFC 8489 §14.5/§14.6 require.
    @inlinable
    public func unknownComprehensionRequiredAttributes() -> UnknownAttributeList {
        var boundary = Int.max
        if integrityOffset >= 0 { boundary = integrityOffset }
        if integritySHA256Offset >= 0 { boundary = Swift.min(boundary, integritySHA256Offset) }
        var list = UnknownAttributeList()
        var iterator = attributes.makeIterator()
        while iterator.offset <= boundary, let attribute = iterator.next() {
            if attribute.type.isComprehensionRequired && !attribute.type.isKnown {
                list.insert(attribute.type)
            }
        }
        return list
    }
}
