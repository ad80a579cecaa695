import STUN

/// ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number 0x4000–0x7FFF, the
/// RFC 5766 range that RFC 8656 narrowed to 0x4FFF but clients still use; data
/// length) and the data; padded to a multiple of four over streams, optionally over UDP.
public enum ChannelData {
    /// Bytes in front of the data.
    public static let headerSize = 4
    /// Valid channel numbers.
    public static let numbers: ClosedRange<UInt16> = 0x4000...0x7FFF

    /// The channel number and data of a ChannelData message, or nil when `bytes` is not one
    /// (wrong first bits, number outside the range, or length beyond the buffer). Trailing
    /// padding is accepted, as RFC 8656 requires of UDP receivers.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> (channel: UInt16, data: UnsafeRawBufferPointer)? {
        guard bytes.count >= headerSize else { return nil }
        let channel = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard numbers.contains(channel), length <= bytes.count - headerSize else { return nil }
        return (channel, UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + length)]))
    }

    /// Writes the header into the `headerSize` bytes in front of `data` (the caller's headroom)
    /// and, for streams, zero padding after it (the caller's tailroom). Returns the message.
    @inlinable
    public static func wrapInPlace(_ data: UnsafeMutableRawBufferPointer, channel: UInt16, padded: Bool) -> UnsafeMutableRawBufferPointer {
        let start = data.baseAddress! - headerSize
        start.storeBytes(of: channel.bigEndian, as: UInt16.self)
        (start + 2).storeBytes(of: UInt16(truncatingIfNeeded: data.count).bigEndian, as: UInt16.self)
        var total = headerSize + data.count
        if padded {
            let padding = (4 - data.count % 4) % 4
            (start + total).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
            total += padding
        }
        return UnsafeMutableRawBufferPointer(start: start, count: total)
    }
}

/// Data indications (RFC 8656 §11.4), built in place around data already in a buffer: the STUN
/// header, XOR-PEER-ADDRESS and the DATA attribute header go into the headroom in front of it,
/// the padding into the tailroom after it, so relayed data is never copied.
public enum DataIndication {
    /// Headroom needed in front of the data for a peer of `family`.
    @inlinable
    public static func headroom(for peer: TransportAddress) -> Int {
        StunHeader.size + 4 + (peer.ip.isIPv4 ? 8 : 20) + 4
    }

    /// Builds a Data indication from `peer` around `data`; returns the whole message, or nil
    /// when the data is too long for one STUN message.
    public static func wrapInPlace(_ data: UnsafeMutableRawBufferPointer, from peer: TransportAddress,
                                   transactionID: TransactionID) -> UnsafeMutableRawBufferPointer? {
        let prefix = headroom(for: peer)
        let padding = (4 - data.count % 4) % 4
        let bodyLength = prefix - StunHeader.size + data.count + padding
        guard bodyLength <= Int(UInt16.max) else { return nil }
        let start = data.baseAddress! - prefix
        do throws(StunBuildError) {
            var builder = try StunMessageBuilder(into: UnsafeMutableRawBufferPointer(start: start, count: prefix - 4),
                                                 type: StunMessageType(method: .data, messageClass: .indication),
                                                 transactionID: transactionID)
            try builder.appendXorAddress(.xorPeerAddress, peer)
        } catch {
            return nil
        }
        let dataHeader = start + prefix - 4
        dataHeader.storeBytes(of: AttributeType.data.rawValue.bigEndian, as: UInt16.self)
        (dataHeader + 2).storeBytes(of: UInt16(data.count).bigEndian, as: UInt16.self)
        (data.baseAddress! + data.count).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
        (start + 2).storeBytes(of: UInt16(bodyLength).bigEndian, as: UInt16.self)
        return UnsafeMutableRawBufferPointer(start: start, count: StunHeader.size + bodyLength)
    }
}
