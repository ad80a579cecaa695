/// The TURN data path as the generator sees it, written independently of rtcgate's `TURN`
/// module (like `StunWire`): ChannelData (RFC 8656 §12.4) and Send/Data indications (§11).
///
/// Every payload starts with a 24-byte stamp — allocation index (4), slot within the
/// allocation (4), global sequence (8), send time in ns (8), all big-endian — followed by
/// a per-allocation byte pattern; a reply must bring all of it back unchanged.
enum TurnWire {
    static let stampSize = 24
    static let sendIndication: UInt16 = 0x0016
    static let dataIndication: UInt16 = 0x0017
    static let attrXorPeerAddress: UInt16 = 0x0012
    static let attrData: UInt16 = 0x0013
    /// Send indication bytes before the payload (IPv4 peer): header, XOR-PEER-ADDRESS, DATA header.
    static let sendPrefix = 20 + 12 + 4

    /// Where a reply went wrong (each is an invalid reply, not a loss).
    enum Invalid: Int, CaseIterable {
        case malformed, unexpectedStun, wrongChannel, badPeer, badLength, wrongAllocation, corrupt, unknownSequence, duplicate

        var key: String {
            switch self {
            case .malformed: return "malformed"
            case .unexpectedStun: return "unexpected_stun"
            case .wrongChannel: return "wrong_channel"
            case .badPeer: return "bad_peer"
            case .badLength: return "bad_length"
            case .wrongAllocation: return "wrong_allocation"
            case .corrupt: return "corrupt"
            case .unknownSequence: return "unknown_sequence"
            case .duplicate: return "duplicate"
            }
        }
    }

    /// Writes the fixed part of a slot's payload (index, slot, pattern); `stamp` adds the rest.
    static func writePayloadTemplate(_ p: UnsafeMutableRawPointer, size: Int, allocation: Int, slot: Int) {
        StunWire.storeBE32(p, 0, UInt32(allocation))
        StunWire.storeBE32(p, 4, UInt32(slot))
        StunWire.storeBE64(p, 8, 0)
        StunWire.storeBE64(p, 16, 0)
        for j in stampSize..<size {
            p.storeBytes(of: UInt8(truncatingIfNeeded: allocation &* 31 &+ j &* 7 &+ 1), toByteOffset: j, as: UInt8.self)
        }
    }

    /// Writes a ChannelData header (no padding: optional over UDP) in front of a payload.
    static func writeChannelHeader(_ p: UnsafeMutableRawPointer, channel: UInt16, payload: Int) {
        StunWire.storeBE16(p, 0, channel)
        StunWire.storeBE16(p, 2, UInt16(payload))
    }

    /// Writes a Send indication's header, XOR-PEER-ADDRESS (IPv4 `peer`) and DATA header, and
    /// zero padding after the payload; returns the message size.
    static func writeSendIndication(_ p: UnsafeMutableRawPointer, peer: LocalAddress, payload: Int) -> Int {
        let padded = (payload + 3) & ~3
        StunWire.storeBE16(p, 0, sendIndication)
        StunWire.storeBE16(p, 2, UInt16(12 + 4 + padded))
        StunWire.storeBE32(p, 4, StunWire.magicCookie)
        StunWire.storeBE32(p, 8, 0)
        StunWire.storeBE64(p, 12, 0)
        StunWire.storeBE16(p, 20, attrXorPeerAddress)
        StunWire.storeBE16(p, 22, 8)
        StunWire.storeBE16(p, 24, 1)
        StunWire.storeBE16(p, 26, peer.port ^ UInt16(StunWire.magicCookie >> 16))
        // `high` holds the IPv4 address in network order; XOR with the cookie in wire order.
        p.storeBytes(of: UInt32(truncatingIfNeeded: peer.high) ^ StunWire.magicCookie.bigEndian, toByteOffset: 28, as: UInt32.self)
        StunWire.storeBE16(p, 32, attrData)
        StunWire.storeBE16(p, 34, UInt16(payload))
        for j in (sendPrefix + payload)..<(sendPrefix + padded) {
            p.storeBytes(of: UInt8(0), toByteOffset: j, as: UInt8.self)
        }
        return sendPrefix + padded
    }

    /// Locates the payload of a Data indication from `peer`; `.failure` tells why not.
    @inline(__always)
    static func dataIndicationPayload(_ p: UnsafeRawPointer, count: Int, peer: LocalAddress) -> Result<(offset: Int, length: Int), InvalidReply> {
        guard count >= 20, p.load(as: UInt8.self) & 0xC0 == 0, StunWire.loadBE32(p, 4) == StunWire.magicCookie else {
            return .failure(InvalidReply(.malformed))
        }
        let body = Int(StunWire.loadBE16(p, 2))
        guard body + 20 == count, body & 3 == 0 else { return .failure(InvalidReply(.malformed)) }
        guard StunWire.loadBE16(p, 0) == dataIndication else { return .failure(InvalidReply(.unexpectedStun)) }
        var offset = 20
        var sawPeer = false
        var data: (Int, Int)? = nil
        while offset + 4 <= count {
            let type = StunWire.loadBE16(p, offset)
            let length = Int(StunWire.loadBE16(p, offset + 2))
            let value = offset + 4
            guard value + length <= count else { return .failure(InvalidReply(.malformed)) }
            if type == attrXorPeerAddress && !sawPeer {
                guard let address = StunWire.decodeXorMapped(p, value: value, length: length) else {
                    return .failure(InvalidReply(.malformed))
                }
                guard address == peer else { return .failure(InvalidReply(.badPeer)) }
                sawPeer = true
            } else if type == attrData && data == nil {
                data = (value, length)
            }
            offset = value + ((length + 3) & ~3)
        }
        guard offset == count, let data else { return .failure(InvalidReply(.malformed)) }
        guard sawPeer else { return .failure(InvalidReply(.badPeer)) }
        return .success(data)
    }

    /// Error wrapper so `Invalid` can travel in a `Result`.
    struct InvalidReply: Error {
        var reason: Invalid
        init(_ reason: Invalid) { self.reason = reason }
    }
}
