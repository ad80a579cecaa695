/// Encoding of (XOR-)MAPPED-ADDRESS style values (RFC 8489 §14.1, §14.2):
/// reserved byte, family (1 = IPv4, 2 = IPv6), port, then 4 or 16 address bytes.
@usableFromInline
enum AddressCodec {
    /// Value length for `ip`: 8 for IPv4, 20 for IPv6.
    @inlinable
    static func valueLength(_ ip: IPAddress) -> Int {
        4 + ip.byteCount
    }

    /// The XOR mask for an address: IPv4 uses the magic cookie; IPv6 uses cookie ‖ transaction id.
    @inlinable
    static func xorMask(_ ip: IPAddress, _ transactionID: TransactionID) -> IPAddress {
        switch ip {
        case .v4:
            return .v4(StunHeader.magicCookie)
        case .v6:
            return .v6(UInt64(StunHeader.magicCookie) << 32 | UInt64(transactionID.high), transactionID.low)
        }
    }

    @inlinable
    static func xored(_ address: TransportAddress, _ transactionID: TransactionID) -> TransportAddress {
        let port = address.port ^ UInt16(truncatingIfNeeded: StunHeader.magicCookie >> 16)
        switch (address.ip, xorMask(address.ip, transactionID)) {
        case (.v4(let a), .v4(let m)):
            return TransportAddress(ip: .v4(a ^ m), port: port)
        case (.v6(let ah, let al), .v6(let mh, let ml)):
            return TransportAddress(ip: .v6(ah ^ mh, al ^ ml), port: port)
        default:
            return address
        }
    }

    /// Decodes a value; nil unless the family is known and the length matches it exactly.
    @inlinable
    static func decode(_ value: UnsafeRawBufferPointer, xor transactionID: TransactionID?) -> TransportAddress? {
        guard value.count >= 4 else { return nil }
        let port = value.stunUInt16(at: 2)
        let address: TransportAddress
        switch value[1] {
        case 0x01 where value.count == 8:
            address = TransportAddress(ip: .v4(value.stunUInt32(at: 4)), port: port)
        case 0x02 where value.count == 20:
            address = TransportAddress(ip: .v6(value.stunUInt64(at: 4), value.stunUInt64(at: 12)), port: port)
        default:
            return nil
        }
        guard let transactionID else { return address }
        return xored(address, transactionID)
    }

    /// Encodes `address` into `buffer` at `offset` (the caller guarantees `valueLength` bytes).
    @inlinable
    static func encode(_ address: TransportAddress, xor transactionID: TransactionID?,
                       into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        let wire = transactionID.map { xored(address, $0) } ?? address
        buffer[offset] = 0
        buffer[offset + 1] = address.ip.stunFamily
        buffer.stunStore(wire.port, at: offset + 2)
        wire.ip.write(to: buffer, at: offset + 4)
    }
}
