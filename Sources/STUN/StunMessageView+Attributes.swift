// Typed getters. Each returns nil when the attribute is absent or its value is malformed.
extension StunMessageView {
    /// An XOR-encoded address attribute (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS,
    /// XOR-RELAYED-ADDRESS); IPv6 is unmasked with the magic cookie and this transaction id.
    @inlinable
    public func xorAddress(_ type: AttributeType = .xorMappedAddress) -> TransportAddress? {
        attribute(type).flatMap { AddressCodec.decode($0, xor: transactionID) }
    }

    /// Decodes one XOR-encoded address value taken from `attributes` (for attributes that may
    /// repeat, such as XOR-PEER-ADDRESS in CreatePermission).
    @inlinable
    public func decodeXorAddress(_ value: UnsafeRawBufferPointer) -> TransportAddress? {
        AddressCodec.decode(value, xor: transactionID)
    }

    /// A plain address attribute (MAPPED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS).
    @inlinable
    public func address(_ type: AttributeType = .mappedAddress) -> TransportAddress? {
        attribute(type).flatMap { AddressCodec.decode($0, xor: nil) }
    }

    /// ERROR-CODE: the code (300...699) and the raw UTF-8 reason phrase.
    @inlinable
    public var errorCode: (code: Int, reason: UnsafeRawBufferPointer)? {
        guard let value = attribute(.errorCode), value.count >= 4 else { return nil }
        let errorClass = Int(value[2] & 0x07)
        let number = Int(value[3])
        guard (3...6).contains(errorClass), number < 100 else { return nil }
        return (errorClass * 100 + number, value.stunSlice(4, value.count - 4))
    }

    /// A 32-bit attribute (LIFETIME, PRIORITY, ...); nil unless exactly four bytes.
    @inlinable
    public func uint32(_ type: AttributeType) -> UInt32? {
        guard let value = attribute(type), value.count == 4 else { return nil }
        return value.stunUInt32(at: 0)
    }

    /// A 64-bit attribute (ICE-CONTROLLED, ICE-CONTROLLING, RESERVATION-TOKEN); nil unless exactly eight bytes.
    @inlinable
    public func uint64(_ type: AttributeType) -> UInt64? {
        guard let value = attribute(type), value.count == 8 else { return nil }
        return value.stunUInt64(at: 0)
    }

    /// LIFETIME in seconds.
    @inlinable
    public var lifetime: UInt32? { uint32(.lifetime) }

    /// PRIORITY (ICE).
    @inlinable
    public var priority: UInt32? { uint32(.priority) }

    /// CHANNEL-NUMBER; nil unless four bytes and within 0x4000...0x7FFF. RFC 8656 §12 narrowed
    /// the range to 0x4FFF, but RFC 5766 clients (coturn's own among them) use up to 0x7FFF and
    /// coturn accepts them; so does rtcgate, as every such number is unambiguous ChannelData.
    @inlinable
    public var channelNumber: UInt16? {
        guard let value = attribute(.channelNumber), value.count == 4 else { return nil }
        let number = value.stunUInt16(at: 0)
        return (0x4000...0x7FFF).contains(number) ? number : nil
    }

    /// REQUESTED-TRANSPORT: the IP protocol number (17 = UDP, 6 = TCP).
    @inlinable
    public var requestedTransport: UInt8? {
        guard let value = attribute(.requestedTransport), value.count == 4 else { return nil }
        return value[0]
    }

    /// REQUESTED-ADDRESS-FAMILY: the raw family byte (0x01 IPv4, 0x02 IPv6; others are
    /// returned as-is so TURN can answer 440).
    @inlinable
    public var requestedAddressFamily: UInt8? {
        guard let value = attribute(.requestedAddressFamily), value.count == 4 else { return nil }
        return value[0]
    }

    /// ADDITIONAL-ADDRESS-FAMILY: the raw family byte.
    @inlinable
    public var additionalAddressFamily: UInt8? {
        guard let value = attribute(.additionalAddressFamily), value.count == 4 else { return nil }
        return value[0]
    }

    /// EVEN-PORT: the R (reserve next port) bit.
    @inlinable
    public var evenPort: Bool? {
        guard let value = attribute(.evenPort), value.count == 1 else { return nil }
        return value[0] & 0x80 != 0
    }

    /// True when DONT-FRAGMENT is present.
    @inlinable
    public var dontFragment: Bool { contains(.dontFragment) }

    /// True when USE-CANDIDATE is present.
    @inlinable
    public var useCandidate: Bool { contains(.useCandidate) }

    /// UNKNOWN-ATTRIBUTES as a sequence of types; nil unless the value length is even.
    @inlinable
    public var unknownAttributes: UInt16ListSequence<AttributeType>? {
        guard let value = attribute(.unknownAttributes), value.count % 2 == 0 else { return nil }
        return UInt16ListSequence(value)
    }

    /// PASSWORD-ALGORITHM: algorithm number and parameters; nil if malformed.
    @inlinable
    public var passwordAlgorithm: PasswordAlgorithmSequence.Element? {
        guard let value = attribute(.passwordAlgorithm), value.count >= 4 else { return nil }
        let paramLength = Int(value.stunUInt16(at: 2))
        guard stunPadded(paramLength) == value.count - 4 || paramLength == value.count - 4 else { return nil }
        return (value.stunUInt16(at: 0), value.stunSlice(4, paramLength))
    }

    /// PASSWORD-ALGORITHMS; nil unless the whole list is well formed.
    @inlinable
    public var passwordAlgorithms: PasswordAlgorithmSequence? {
        attribute(.passwordAlgorithms).flatMap { PasswordAlgorithmSequence($0) }
    }

    /// USERNAME bytes (UTF-8).
    @inlinable
    public var username: UnsafeRawBufferPointer? { attribute(.username) }

    /// REALM bytes.
    @inlinable
    public var realm: UnsafeRawBufferPointer? { attribute(.realm) }

    /// NONCE bytes.
    @inlinable
    public var nonce: UnsafeRawBufferPointer? { attribute(.nonce) }

    /// SOFTWARE bytes.
    @inlinable
    public var software: UnsafeRawBufferPointer? { attribute(.software) }

    /// USERHASH; nil unless exactly 32 bytes.
    @inlinable
    public var userhash: UnsafeRawBufferPointer? {
        guard let value = attribute(.userhash), value.count == 32 else { return nil }
        return value
    }
}
