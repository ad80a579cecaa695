import STUN

/// Where relayed data goes next, with everything the shell needs to send it.
public enum RelayDecision {
    /// Send `data` from the allocation's relayed address `relayed` (the one in the peer's
    /// family) to `peer`.
    case toPeer(AllocationID, relayed: TransportAddress, peer: TransportAddress, data: UnsafeRawBufferPointer)
    /// Send `message` (ChannelData or Data indication, built in place) to the client of
    /// `fiveTuple`, over its transport from its server address.
    case toClient(AllocationID, fiveTuple: FiveTuple, message: UnsafeRawBufferPointer)
    /// Nothing to send; counted.
    case drop(TurnDropReason)
}

/// The data paths of the TURN core (RFC 8656 §11–12): ChannelData and Send indications from
/// clients, datagrams from peers. Every path is a table lookup and a scan of at most a few
/// inline entries; nothing allocates.
extension TurnCore {
    /// ChannelData from a client 5-tuple.
    public mutating func relayChannelData(_ bytes: UnsafeRawBufferPointer, from tuple: FiveTuple, now: UInt64) -> RelayDecision {
        guard let (channel, data) = ChannelData.parse(bytes) else { return drop(.unboundChannel) }
        guard let id = allocations.lookup(tuple) else { return drop(.noAllocation) }
        guard let peer = allocations[id].peer(forChannel: channel, now: now) else { return drop(.unboundChannel) }
        // A channel implies a permission, but the permission may lapse separately (§12).
        guard allocations[id].isPermitted(peer.ip, now: now) else { return drop(.noPermission) }
        guard allocations[id].spend(data.count, rate: limits.maxBytesPerSecond, now: now) else { return drop(.bandwidth) }
        noteToPeer(id, bytes: data.count)
        return .toPeer(id, relayed: allocations[id].relayed(toward: peer.ip), peer: peer, data: data)
    }

    /// A Send indication (already parsed) from a client 5-tuple.
    public mutating func relaySendIndication(_ message: StunMessageView, from tuple: FiveTuple, now: UInt64) -> RelayDecision {
        guard let peer = message.xorAddress(.xorPeerAddress), let data = message.attribute(.data) else {
            return drop(.malformedIndication)
        }
        guard let id = allocations.lookup(tuple) else { return drop(.noAllocation) }
        guard allocations[id].isPermitted(peer.ip, now: now) else { return drop(.noPermission) }
        guard allocations[id].spend(data.count, rate: limits.maxBytesPerSecond, now: now) else { return drop(.bandwidth) }
        noteToPeer(id, bytes: data.count)
        return .toPeer(id, relayed: allocations[id].relayed(toward: peer.ip), peer: peer, data: data)
    }

    /// A datagram that arrived on an allocation's relayed address from `peer`. `data` must have
    /// `DataIndication.headroom` bytes of headroom and 4 of tailroom: the ChannelData or Data
    /// indication is built around it in place.
    public mutating func relayPeerData(_ data: UnsafeMutableRawBufferPointer, from peer: TransportAddress,
                                       to id: AllocationID, now: UInt64) -> RelayDecision {
        guard allocations.contains(id) else { return drop(.noAllocation) }
        guard allocations[id].isPermitted(peer.ip, now: now) else { return drop(.noPermission) }
        guard allocations[id].spend(data.count, rate: limits.maxBytesPerSecond, now: now) else { return drop(.bandwidth) }
        let message: UnsafeMutableRawBufferPointer
        if let channel = allocations[id].channel(forPeer: peer, now: now) {
            message = ChannelData.wrapInPlace(data, channel: channel, padded: allocations[id].fiveTuple.transport == .tcp)
        } else {
            dataIndications &+= 1
            guard let indication = DataIndication.wrapInPlace(data, from: peer,
                                                               transactionID: TransactionID(high: 0x7274_6367, low: dataIndications)) else {
                return drop(.oversized)
            }
            message = indication
        }
        counters.packetsToClient &+= 1
        counters.bytesToClient &+= UInt64(data.count)
        allocations[id].bytesToClient &+= UInt64(data.count)
        return .toClient(id, fiveTuple: allocations[id].fiveTuple, message: UnsafeRawBufferPointer(message))
    }

    private mutating func noteToPeer(_ id: AllocationID, bytes: Int) {
        counters.packetsToPeer &+= 1
        counters.bytesToPeer &+= UInt64(bytes)
        allocations[id].bytesToPeer &+= UInt64(bytes)
    }

    private mutating func drop(_ reason: TurnDropReason) -> RelayDecision {
        counters[drop: reason] &+= 1
        return .drop(reason)
    }
}
