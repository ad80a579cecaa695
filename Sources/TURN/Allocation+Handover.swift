import STUN

/// What a handover carries of an allocation beyond its public fields (docs/handover.md): the live
/// permissions and channels, and its bandwidth budget.
extension Allocation {
    /// Permissions and channels with an expiry (channels also in their quarantine), in slot order.
    public var heldPermissions: [Permission] { (0..<Self.permissionCapacity).map { permissions[$0] }.filter { $0.expiry != 0 } }
    public var heldChannels: [ChannelBinding] { (0..<Self.channelCapacity).map { channels[$0] }.filter { $0.expiry != 0 } }

    /// The allocation as a handover snapshot had it; entries beyond the inline capacity are dropped.
    public init(restoring fiveTuple: FiveTuple, relayed: TransportAddress, additionalRelayed: TransportAddress?, userKey: UInt64,
                expiry: UInt64, created: UInt64, creatingTransaction: TransactionID, bytesToPeer: UInt64, bytesToClient: UInt64,
                permissions held: [Permission], channels bound: [ChannelBinding]) {
        self.init(fiveTuple: fiveTuple, relayed: relayed, userKey: userKey, expiry: expiry, created: created,
                  creatingTransaction: creatingTransaction)
        self.additionalRelayed = additionalRelayed
        self.bytesToPeer = bytesToPeer
        self.bytesToClient = bytesToClient
        for (slot, permission) in held.prefix(Self.permissionCapacity).enumerated() { permissions[slot] = permission }
        for (slot, channel) in bound.prefix(Self.channelCapacity).enumerated() { channels[slot] = channel }
    }
}
