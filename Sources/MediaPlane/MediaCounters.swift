import Reactor
import STUN
import TURN

/// Every counter of one media worker (or, added up, of all): the STUN responder's, the sockets'
/// and the pool's. Plain values: a worker owns its copy and publishes snapshots.
public struct MediaCounters: Sendable, Equatable {
    /// The STUN responder core's counters.
    public var stun = StunCounters()
    /// The TURN core's relay counters.
    public var turn = TurnCounters()
    /// TURN allocations held.
    public var turnAllocations: UInt64 = 0
    /// Allocate requests refused for want of a relay port.
    public var turnRelayExhaustions: UInt64 = 0
    /// Datagrams the relay sockets failed to send.
    public var turnRelaySendFailures: UInt64 = 0
    /// Datagrams received on the STUN/TURN listening sockets.
    public var udpDatagramsIn: UInt64 = 0
    /// Datagrams sent.
    public var udpDatagramsOut: UInt64 = 0
    /// Datagrams the kernel refused to send (socket buffer full, unreachable).
    public var udpSendFailures: UInt64 = 0
    /// Datagrams the kernel dropped because a listening or relay socket's receive buffer was
    /// full (SO_RXQ_OVFL; a drop shows with the next datagram that socket receives).
    public var udpKernelDrops: UInt64 = 0
    /// Datagrams longer than a pool slot, dropped.
    public var udpTruncated: UInt64 = 0
    /// Datagrams from an address family rtcgate cannot answer, dropped.
    public var udpUnknownFamily: UInt64 = 0
    /// Runs of same-size datagrams to one destination sent as one message (UDP segmentation),
    /// from the listening and the relay sockets.
    public var udpSegmentedRuns: UInt64 = 0
    /// Datagrams that left in those runs.
    public var udpSegmentedDatagrams: UInt64 = 0
    /// Runs the kernel refused as one message, then sent datagram by datagram.
    public var udpSegmentationFallbacks: UInt64 = 0
    /// `recvmmsg` calls (datagrams per call = in / calls).
    public var udpReceiveCalls: UInt64 = 0
    /// Times a pool slot was wanted and none was free.
    public var poolExhaustions: UInt64 = 0
    /// Slots in use at the last snapshot.
    public var poolInUse: UInt64 = 0
    /// Slots in the pool.
    public var poolCapacity: UInt64 = 0
    /// Stream (TCP) connections accepted.
    public var tcpAccepted: UInt64 = 0
    /// Stream connections refused because the connection table was full.
    public var tcpRefusedFull: UInt64 = 0
    /// Stream connections closed, by `StreamCloseReason`.
    public var tcpClosed = [UInt64](repeating: 0, count: StreamCloseReason.allCases.count)
    /// Stream connections open at the last snapshot.
    public var tcpOpen: UInt64 = 0
    /// TURN over TLS connections.
    public var tls = TLSCounters()

    public init() {}

    /// Adds another worker's counters to these.
    public mutating func add(_ other: MediaCounters) {
        stun.add(other.stun)
        turn.add(other.turn)
        turnAllocations &+= other.turnAllocations
        turnRelayExhaustions &+= other.turnRelayExhaustions
        turnRelaySendFailures &+= other.turnRelaySendFailures
        udpDatagramsIn &+= other.udpDatagramsIn
        udpDatagramsOut &+= other.udpDatagramsOut
        udpSendFailures &+= other.udpSendFailures
        udpKernelDrops &+= other.udpKernelDrops
        udpTruncated &+= other.udpTruncated
        udpUnknownFamily &+= other.udpUnknownFamily
        udpReceiveCalls &+= other.udpReceiveCalls
        udpSegmentedRuns &+= other.udpSegmentedRuns
        udpSegmentedDatagrams &+= other.udpSegmentedDatagrams
        udpSegmentationFallbacks &+= other.udpSegmentationFallbacks
        poolExhaustions &+= other.poolExhaustions
        poolInUse &+= other.poolInUse
        poolCapacity &+= other.poolCapacity
        tcpAccepted &+= other.tcpAccepted
        tcpRefusedFull &+= other.tcpRefusedFull
        for i in tcpClosed.indices { tcpClosed[i] &+= other.tcpClosed[i] }
        tcpOpen &+= other.tcpOpen
        tls.add(other.tls)
    }
}

extension MediaCounters {
    /// Adds the UDP segmentation counters of a worker's send batch.
    mutating func addSegmentation(of batch: DatagramBatch) {
        udpSegmentedRuns &+= batch.segmentedRuns
        udpSegmentedDatagrams &+= batch.segmentedDatagrams
        udpSegmentationFallbacks &+= batch.segmentationFallbacks
    }
}

/// The TLS listeners' counters: connections, refusals and handshakes.
public struct TLSCounters: Sendable, Equatable {
    /// Connections accepted into a free record (a handshake started).
    public var accepted: UInt64 = 0
    /// Refused: every record in use.
    public var refusedFull: UInt64 = 0
    /// Refused at accept: a per-source or total handshake budget was spent.
    public var refusedRate: UInt64 = 0
    /// Refused: no session could be made (no certificate, no memory).
    public var refusedUnavailable: UInt64 = 0
    /// Handshakes completed.
    public var handshakes: UInt64 = 0
    /// Connections closed, by `StreamCloseReason` (handshake failures and timeouts included).
    public var closed = [UInt64](repeating: 0, count: StreamCloseReason.allCases.count)
    /// Open at the last snapshot.
    public var open: UInt64 = 0

    public init() {}

    mutating func add(_ listener: StreamListener) {
        accepted &+= listener.counters.accepted
        refusedFull &+= listener.counters.refusedFull
        refusedRate &+= listener.counters.refusedRate
        refusedUnavailable &+= listener.counters.refusedUnavailable
        handshakes &+= listener.counters.handshakes
        for i in closed.indices { closed[i] &+= listener.counters.closed[i] }
        open &+= UInt64(listener.openConnections)
    }

    mutating func add(_ other: TLSCounters) {
        accepted &+= other.accepted
        refusedFull &+= other.refusedFull
        refusedRate &+= other.refusedRate
        refusedUnavailable &+= other.refusedUnavailable
        handshakes &+= other.handshakes
        for i in closed.indices { closed[i] &+= other.closed[i] }
        open &+= other.open
    }
}
