/// Why the TURN core dropped a packet without answering.
public enum TurnDropReason: Int, CaseIterable, Sendable {
    /// Data from a client 5-tuple that has no allocation.
    case noAllocation
    /// ChannelData on a channel number that is not bound (or has expired).
    case unboundChannel
    /// Data for, or from, a peer without a live permission.
    case noPermission
    /// A Send indication without XOR-PEER-ADDRESS or DATA.
    case malformedIndication
    /// Data too long to wrap in a Data indication.
    case oversized
    /// Over the allocation's bandwidth cap.
    case bandwidth
    /// A 401/438 challenge not sent: the source exceeded its challenge rate.
    case challengeRateLimited

    /// snake_case label for logs and metrics.
    public var label: String {
        switch self {
        case .noAllocation: "no_allocation"
        case .unboundChannel: "unbound_channel"
        case .noPermission: "no_permission"
        case .malformedIndication: "malformed_indication"
        case .oversized: "oversized"
        case .bandwidth: "bandwidth"
        case .challengeRateLimited: "challenge_rate_limited"
        }
    }
}

/// The TURN core's counters; plain values owned by one worker.
public struct TurnCounters: Sendable, Equatable {
    /// Datagrams and bytes relayed client → peer.
    public var packetsToPeer: UInt64 = 0
    public var bytesToPeer: UInt64 = 0
    /// Datagrams and bytes relayed peer → client.
    public var packetsToClient: UInt64 = 0
    public var bytesToClient: UInt64 = 0
    /// TURN requests answered 400 because their attributes could not be read.
    public var malformedRequests: UInt64 = 0
    /// New allocations refused (508) while draining.
    public var refusedDraining: UInt64 = 0
    /// Packets dropped, by `TurnDropReason.rawValue`.
    public var drops = InlineArray<7, UInt64>(repeating: 0)

    public init() {}

    /// Drops counted for one reason.
    public subscript(drop reason: TurnDropReason) -> UInt64 {
        get { drops[reason.rawValue] }
        set { drops[reason.rawValue] = newValue }
    }

    /// Adds another worker's counters.
    public mutating func add(_ other: TurnCounters) {
        packetsToPeer &+= other.packetsToPeer
        bytesToPeer &+= other.bytesToPeer
        packetsToClient &+= other.packetsToClient
        bytesToClient &+= other.bytesToClient
        malformedRequests &+= other.malformedRequests
        refusedDraining &+= other.refusedDraining
        for i in 0..<TurnDropReason.allCases.count { drops[i] &+= other.drops[i] }
    }

    public static func == (lhs: TurnCounters, rhs: TurnCounters) -> Bool {
        var same = lhs.packetsToPeer == rhs.packetsToPeer && lhs.bytesToPeer == rhs.bytesToPeer
            && lhs.packetsToClient == rhs.packetsToClient && lhs.bytesToClient == rhs.bytesToClient
            && lhs.malformedRequests == rhs.malformedRequests
        for i in 0..<TurnDropReason.allCases.count { same = same && lhs.drops[i] == rhs.drops[i] }
        return same
    }
}
