/// Writes a STUN message into a caller-owned buffer; never allocates.
///
/// The header's length field is kept current after every append, so `bytes` is always a
/// complete, valid message. Values are zero-padded to a multiple of four.
public struct StunMessageBuilder {
    @usableFromInline
    let buffer: UnsafeMutableRawBufferPointer
    @usableFromInline
    var written: Int
    /// Bytes written so far: the whole message length (the header's length field is `count - 20`).
    @inlinable
    public var count: Int { written }
    /// The transaction id written in the header (used for XOR addresses).
    public let transactionID: TransactionID
    @usableFromInline
    var sealed = false

    /// Starts a message with a header; `magicCookie: false` writes a zero cookie field
    /// (use `init(into:type:transactionID:cookieField:)` to echo an RFC 3489 id).
    @inlinable
    public init(into buffer: UnsafeMutableRawBufferPointer, type: StunMessageType,
                transactionID: TransactionID, magicCookie: Bool = true) throws(StunBuildError) {
        try self.init(into: buffer, type: type, transactionID: transactionID,
                      cookieField: magicCookie ? StunHeader.magicCookie : 0)
    }

    /// Starts a message whose bytes 4..<8 are `cookieField` (the magic cookie, or the first
    /// four bytes of an RFC 3489 128-bit transaction id).
    @inlinable
    public init(into buffer: UnsafeMutableRawBufferPointer, type: StunMessageType,
                transactionID: TransactionID, cookieField: UInt32) throws(StunBuildError) {
        guard buffer.count >= StunHeader.size, buffer.baseAddress != nil else { throw .bufferTooSmall }
        self.buffer = buffer
        self.transactionID = transactionID
        self.written = StunHeader.size
        buffer.stunStore(type.rawValue, at: 0)
        buffer.stunStore(UInt16(0), at: 2)
        buffer.stunStore(cookieField, at: 4)
        transactionID.write(to: buffer, at: 8)
    }

    /// The message written so far.
    @inlinable
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[0..<count])
    }

    /// Reserves an attribute of `length` value bytes, writes its header and zero padding,
    /// updates the length field and returns the value offset.
    @inlinable
    mutating func reserve(_ type: AttributeType, length: Int) throws(StunBuildError) -> Int {
        guard !sealed else { throw .fingerprintAlreadyAppended }
        guard length <= 0xFFFF else { throw .valueTooLong }
        let total = 4 + stunPadded(length)
        guard count - StunHeader.size + total <= 0xFFFF else { throw .valueTooLong }
        guard total <= buffer.count - count else { throw .bufferTooSmall }
        let offset = count
        buffer.stunStore(type.rawValue, at: offset)
        buffer.stunStore(UInt16(length), at: offset + 2)
        buffer.stunZero(offset + 4 + length, stunPadded(length) - length)
        written += total
        buffer.stunStore(UInt16(count - StunHeader.size), at: 2)
        return offset + 4
    }

    /// Appends an attribute with a raw value (padded to four bytes with zeros).
    @inlinable
    public mutating func append(_ type: AttributeType, bytes value: UnsafeRawBufferPointer) throws(StunBuildError) {
        let offset = try reserve(type, length: value.count)
        buffer.stunCopy(value, at: offset)
    }

    /// Appends an attribute whose value is the UTF-8 of a static string (SOFTWARE, REALM...).
    @inlinable
    public mutating func append(_ type: AttributeType, utf8 value: StaticString) throws(StunBuildError) {
        let result: Result<Void, StunBuildError> = value.withUTF8Buffer { utf8 in
            do throws(StunBuildError) {
                try append(type, bytes: UnsafeRawBufferPointer(utf8))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Appends an empty attribute (DONT-FRAGMENT, USE-CANDIDATE).
    @inlinable
    public mutating func appendFlag(_ type: AttributeType) throws(StunBuildError) {
        _ = try reserve(type, length: 0)
    }

    /// Appends an XOR-encoded address (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS).
    @inlinable
    public mutating func appendXorAddress(_ type: AttributeType, _ address: TransportAddress) throws(StunBuildError) {
        let offset = try reserve(type, length: AddressCodec.valueLength(address.ip))
        AddressCodec.encode(address, xor: transactionID, into: buffer, at: offset)
    }

    /// Appends a plain address (MAPPED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS).
    @inlinable
    public mutating func appendAddress(_ type: AttributeType, _ address: TransportAddress) throws(StunBuildError) {
        let offset = try reserve(type, length: AddressCodec.valueLength(address.ip))
        AddressCodec.encode(address, xor: nil, into: buffer, at: offset)
    }

    /// Appends a four-byte big-endian value (LIFETIME, PRIORITY...).
    @inlinable
    public mutating func appendUInt32(_ type: AttributeType, _ value: UInt32) throws(StunBuildError) {
        let offset = try reserve(type, length: 4)
        buffer.stunStore(value, at: offset)
    }

    /// Appends an eight-byte big-endian value (ICE-CONTROLLED, ICE-CONTROLLING, RESERVATION-TOKEN).
    @inlinable
    public mutating func appendUInt64(_ type: AttributeType, _ value: UInt64) throws(StunBuildError) {
        let offset = try reserve(type, length: 8)
        buffer.stunStore(value, at: offset)
    }

    /// Appends ERROR-CODE (300...699) with a static reason phrase.
    @inlinable
    public mutating func appendErrorCode(_ code: Int, reason: StaticString) throws(StunBuildError) {
        let result: Result<Void, StunBuildError> = reason.withUTF8Buffer { utf8 in
            do throws(StunBuildError) {
                try appendErrorCode(code, reasonBytes: UnsafeRawBufferPointer(utf8))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Appends ERROR-CODE (300...699) with a reason phrase given as UTF-8 bytes.
    @inlinable
    public mutating func appendErrorCode(_ code: Int, reasonBytes reason: UnsafeRawBufferPointer) throws(StunBuildError) {
        guard (300...699).contains(code) else { throw .invalidErrorCode }
        let offset = try reserve(.errorCode, length: 4 + reason.count)
        buffer.stunStore(UInt16(0), at: offset)
        buffer[offset + 2] = UInt8(code / 100)
        buffer[offset + 3] = UInt8(code % 100)
        buffer.stunCopy(reason, at: offset + 4)
    }

    /// Appends UNKNOWN-ATTRIBUTES listing `types`.
    @inlinable
    public mutating func appendUnknownAttributes(_ types: UnknownAttributeList) throws(StunBuildError) {
        var offset = try reserve(.unknownAttributes, length: 2 * types.count)
        for type in types {
            buffer.stunStore(type.rawValue, at: offset)
            offset += 2
        }
    }

    /// Appends UNKNOWN-ATTRIBUTES listing `types`.
    @inlinable
    public mutating func appendUnknownAttributes(_ types: UnsafeBufferPointer<AttributeType>) throws(StunBuildError) {
        guard types.count <= 0xFFFF / 2 else { throw .valueTooLong }
        var offset = try reserve(.unknownAttributes, length: 2 * types.count)
        for type in types {
            buffer.stunStore(type.rawValue, at: offset)
            offset += 2
        }
    }

    /// Appends MESSAGE-INTEGRITY: HMAC-SHA1 over the message so far with the length field
    /// already counting this 24-byte attribute.
    public mutating func appendMessageIntegrity(key: UnsafeRawBufferPointer) throws(StunBuildError) {
        try appendMAC(.messageIntegrity, .sha1, length: 20, key: key)
    }

    /// Appends MESSAGE-INTEGRITY-SHA256, optionally truncated to `length` bytes (16...32, multiple of 4).
    public mutating func appendMessageIntegritySHA256(key: UnsafeRawBufferPointer, length: Int = 32) throws(StunBuildError) {
        guard (16...32).contains(length), length % 4 == 0 else { throw .invalidTruncation }
        try appendMAC(.messageIntegritySHA256, .sha256, length: length, key: key)
    }

    mutating func appendMAC(_ type: AttributeType, _ algorithm: DigestAlgorithm, length: Int,
                            key: UnsafeRawBufferPointer) throws(StunBuildError) {
        let covered = count
        let offset = try reserve(type, length: length)
        var mac: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &mac) { mac in
            var context = HMACContext(algorithm, key: key)
            context.update(UnsafeRawBufferPointer(rebasing: buffer[0..<covered]))
            return context.finish(into: mac.baseAddress!)
        }
        guard ok else {
            written = covered
            buffer.stunStore(UInt16(written - StunHeader.size), at: 2)
            throw .cryptoFailure
        }
        withUnsafeBytes(of: mac) { buffer.stunCopy(UnsafeRawBufferPointer(rebasing: $0[0..<length]), at: offset) }
    }

    /// Appends FINGERPRINT (CRC-32 XOR 0x5354554E); nothing may be appended afterwards.
    @inlinable
    public mutating func appendFingerprint() throws(StunBuildError) {
        let covered = count
        let offset = try reserve(.fingerprint, length: 4)
        let crc = StunFingerprint.value(over: UnsafeRawBufferPointer(rebasing: buffer[0..<covered]))
        buffer.stunStore(crc, at: offset)
        sealed = true
    }
}
