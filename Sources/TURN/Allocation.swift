import STUN

/// A permission: the peer IP address it admits (any port, RFC 8656 §9) and when it expires.
public struct Permission: Sendable, Equatable {
    public var peer: IPAddress
    /// Monotonic ns; 0 marks a free entry.
    public var expiry: UInt64

    public init(peer: IPAddress, expiry: UInt64) {
        self.peer = peer
        self.expiry = expiry
    }
}

/// A channel binding (RFC 8656 §12): number ↔ peer transport address, and when it expires.
public struct ChannelBinding: Sendable, Equatable {
    public var number: UInt16
    public var peer: TransportAddress
    /// Monotonic ns; 0 marks a free entry.
    public var expiry: UInt64

    public init(number: UInt16, peer: TransportAddress, expiry: UInt64) {
        self.number = number
        self.peer = peer
        self.expiry = expiry
    }
}

/// What a ChannelBind request does to an allocation (RFC 8656 §12.2).
public enum ChannelBindOutcome: Equatable, Sendable {
    /// A new binding (or a refresh of the same number ↔ peer).
    case bound
    /// The number is bound to another peer, or the peer to another number: 400.
    case conflict
    /// No room for another channel: 508.
    case full
}

/// One allocation's state: its 5-tuple, owner, relayed address, lifetime, permissions and
/// channels, all inline (no heap), so the allocation table is one fixed array.
public struct Allocation: Sendable {
    /// Permissions held inline per allocation (the profile may use fewer).
    public static let permissionCapacity = 32
    /// Channels held inline per allocation (the profile may use fewer).
    public static let channelCapacity = 16

    public var fiveTuple: FiveTuple
    /// The relayed transport address the server allocated.
    public var relayed: TransportAddress
    /// The second relayed address of a dual-stack allocation (ADDITIONAL-ADDRESS-FAMILY).
    public var additionalRelayed: TransportAddress?
    /// Index of the username in the credential store (for quotas and the same-user rule).
    public var userKey: UInt64
    /// Monotonic ns at which the allocation expires.
    public var expiry: UInt64
    /// Monotonic ns at creation (for the maximum session lifetime and `ctl` listings).
    public var created: UInt64
    /// The transaction id of the Allocate that created it, so a retransmission gets the same
    /// success response instead of 437 (RFC 8656 §7.2).
    public var creatingTransaction: TransactionID
    /// Bytes relayed client→peer and peer→client.
    public var bytesToPeer: UInt64 = 0
    public var bytesToClient: UInt64 = 0
    /// Bandwidth budget (bytes) and when it was last topped up, for `TurnLimits.maxBytesPerSecond`.
    @usableFromInline var budget: UInt64 = 0
    @usableFromInline var budgetStamp: UInt64 = 0
    @usableFromInline var permissions = InlineArray<32, Permission>(repeating: Permission(peer: .v4(0), expiry: 0))
    @usableFromInline var channels = InlineArray<16, ChannelBinding>(
        repeating: ChannelBinding(number: 0, peer: TransportAddress(ip: .v4(0), port: 0), expiry: 0))

    public init(fiveTuple: FiveTuple, relayed: TransportAddress, userKey: UInt64, expiry: UInt64, created: UInt64,
                creatingTransaction: TransactionID) {
        self.fiveTuple = fiveTuple
        self.relayed = relayed
        self.userKey = userKey
        self.expiry = expiry
        self.created = created
        self.creatingTransaction = creatingTransaction
    }

    /// Whether the allocation has a relayed address in the family of `peer` (else 443).
    public func relays(familyOf peer: IPAddress) -> Bool {
        relayed.ip.isIPv4 == peer.isIPv4 || additionalRelayed.map { $0.ip.isIPv4 == peer.isIPv4 } == true
    }

    /// The relayed address that sends to `peer`: the one of its family (a permission is only
    /// granted for a family the allocation relays, RFC 8656 §9.1).
    @inlinable
    public func relayed(toward peer: IPAddress) -> TransportAddress {
        if let additionalRelayed, relayed.ip.isIPv4 != peer.isIPv4 { return additionalRelayed }
        return relayed
    }

    /// Spends `bytes` of the allocation's bandwidth budget (`rate` bytes/s, one second deep);
    /// false when the budget is exhausted. A rate of 0 means no cap.
    @inlinable
    public mutating func spend(_ bytes: Int, rate: UInt64, now: UInt64) -> Bool {
        guard rate > 0 else { return true }
        let elapsed = now &- budgetStamp
        let refill = elapsed >= 1_000_000_000 ? rate : rate * elapsed / 1_000_000_000
        budget = min(rate, budget + refill)
        budgetStamp = now
        guard budget >= UInt64(bytes) else { return false }
        budget -= UInt64(bytes)
        return true
    }

    // MARK: Permissions

    /// Installs or refreshes a permission for `peer` until `now + lifetime`. Returns false when
    /// `limit` live permissions exist already and `peer` is not one of them.
    public mutating func permit(_ peer: IPAddress, now: UInt64, lifetimeNanos: UInt64, limit: Int) -> Bool {
        var free = -1
        for i in 0..<min(limit, Self.permissionCapacity) {
            if permissions[i].expiry > now {
                if permissions[i].peer == peer {
                    permissions[i].expiry = now + lifetimeNanos
                    return true
                }
            } else if free < 0 {
                free = i
            }
        }
        guard free >= 0 else { return false }
        permissions[free] = Permission(peer: peer, expiry: now + lifetimeNanos)
        return true
    }

    /// Whether a live permission admits `peer`.
    @inlinable
    public func isPermitted(_ peer: IPAddress, now: UInt64) -> Bool {
        for i in 0..<Self.permissionCapacity where permissions[i].expiry > now && permissions[i].peer == peer {
            return true
        }
        return false
    }

    /// Live permissions.
    public func livePermissions(now: UInt64) -> Int {
        var count = 0
        for i in 0..<Self.permissionCapacity where permissions[i].expiry > now { count += 1 }
        return count
    }

    // MARK: Channels

    /// Binds `number` to `peer` until `now + lifetime`, or refreshes that binding. RFC 8656 §12.2:
    /// a number may not be rebound to another peer, nor a peer to another number, while bound
    /// (and for 5 minutes after expiry, which `quarantineNanos` enforces).
    public mutating func bindChannel(_ number: UInt16, to peer: TransportAddress, now: UInt64, lifetimeNanos: UInt64,
                                     quarantineNanos: UInt64, limit: Int) -> ChannelBindOutcome {
        var free = -1
        for i in 0..<min(limit, Self.channelCapacity) {
            let entry = channels[i]
            let held = entry.expiry != 0 && entry.expiry &+ quarantineNanos > now
            if held {
                if entry.number == number && entry.peer == peer {
                    channels[i].expiry = now + lifetimeNanos
                    return .bound
                }
                if entry.number == number || entry.peer == peer { return .conflict }
            } else if free < 0 {
                free = i
            }
        }
        guard free >= 0 else { return .full }
        channels[free] = ChannelBinding(number: number, peer: peer, expiry: now + lifetimeNanos)
        return .bound
    }

    /// The peer a live channel number is bound to.
    @inlinable
    public func peer(forChannel number: UInt16, now: UInt64) -> TransportAddress? {
        for i in 0..<Self.channelCapacity where channels[i].number == number && channels[i].expiry > now {
            return channels[i].peer
        }
        return nil
    }

    /// The live channel bound to `peer`, for wrapping its data as ChannelData.
    @inlinable
    public func channel(forPeer peer: TransportAddress, now: UInt64) -> UInt16? {
        for i in 0..<Self.channelCapacity where channels[i].expiry > now && channels[i].peer == peer {
            return channels[i].number
        }
        return nil
    }

    /// Live channels.
    public func liveChannels(now: UInt64) -> Int {
        var count = 0
        for i in 0..<Self.channelCapacity where channels[i].expiry > now { count += 1 }
        return count
    }
}

extension Allocation {
    /// Permissions not yet expired at `now` (for listings).
    public func activePermissionCount(now: UInt64) -> Int {
        var count = 0
        for i in permissions.indices where permissions[i].expiry > now { count += 1 }
        return count
    }

    /// Channels not yet expired at `now` (for listings).
    public func activeChannelCount(now: UInt64) -> Int {
        var count = 0
        for i in channels.indices where channels[i].expiry > now { count += 1 }
        return count
    }
}
