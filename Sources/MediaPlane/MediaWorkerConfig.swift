import Glibc
import Reactor
import STUN
import TURN

/// What one media worker listens on and how much memory it reserves. Built from the board
/// profile and configuration; identical for every worker.
public struct MediaWorkerConfig: Sendable {
    /// STUN/TURN listening addresses (each gets a UDP socket and, unless disabled, a TCP listener).
    public var listenAddresses: [SocketAddress] = []
    /// Serve UDP.
    public var udp = true
    /// Serve TCP (RFC 8489 framing).
    public var tcp = true
    /// Pool slots; every UDP receive and send ring slot comes from here.
    public var poolSlots = 512
    /// Bytes per pool slot, headroom included (≥ 1500-byte MTU plus headroom).
    public var poolSlotSize = 2048
    /// Touch the whole pool at start-up so RSS never grows under load (costs idle RSS).
    public var poolPrefault = false
    /// Bytes in front of each slot's payload for in-place header prepending.
    public var poolHeadroom = 64
    /// Datagrams moved per recvmmsg/sendmmsg call.
    public var udpBatch = 32
    /// Send runs of same-size datagrams to one destination as one message (UDP GSO) where the
    /// kernel supports it.
    public var udpSegmentation = true
    /// Kernel buffer size (SO_RCVBUF/SO_SNDBUF, forced where permitted) of the listening UDP
    /// sockets, or nil for the system default. They take every client's burst at once (a key
    /// frame is 50–150 datagrams per camera); the system default (~208 KiB) overflows at 32
    /// allocations × 16 in flight, 256 KiB and more did not in any run (`rtcgate-bench turn`).
    public var socketBufferBytes: Int? = 1 << 20
    /// The same for each relayed address's socket (one peer's burst), nil for the system default.
    public var relaySocketBufferBytes: Int? = 64 << 10
    /// TCP connection records per worker.
    public var tcpMaxConnections = 64
    /// Per-connection receive and send buffer bytes.
    public var tcpBufferBytes = 4096
    /// Seconds of silence after which a TCP connection is closed.
    public var tcpIdleTimeoutSeconds: UInt64 = 300
    /// TURN over TLS (nil: off).
    public var tls: TLSSettings?
    /// TLS listeners per worker (every listening address × every TLS port).
    public var tlsListenerCount: Int { tls.map { listenAddresses.count * $0.ports.count } ?? 0 }
    /// Registrations the worker's event loop can hold.
    public var maxRegistrations: Int {
        listenAddresses.count * (1 + (tcp ? 1 + tcpMaxConnections : 0)) + 8 + (turn.map { 2 * $0.limits.maxAllocations } ?? 0)
            + tlsListenerCount * (1 + (tls?.maxConnections ?? 0))
    }
    /// The TURN relay (nil: STUN only).
    public var turn: TurnSettings?
    /// Workers in all (relay ports are shared out by port number).
    public var workerCount = 1
    /// The Binding responder's settings.
    public var responder = BindingResponderConfig()

    public init() {}

    /// The most kernel memory one worker's UDP sockets may hold in received datagrams, by part:
    /// the kernel charges a socket up to twice the size asked for (data plus its bookkeeping).
    /// Send queues drain as the device takes them and are not counted.
    public var socketBufferParts: [(part: String, bytes: Int)] {
        var parts: [(String, Int)] = []
        if udp, let size = socketBufferBytes {
            parts.append(("listening UDP sockets (\(listenAddresses.count) × 2 × \(size / 1024) KiB)", listenAddresses.count * 2 * size))
        }
        if let turn, let size = relaySocketBufferBytes {
            let families = (turn.relayIPv4 != nil ? 1 : 0) + (turn.relayIPv6 != nil ? 1 : 0)
            let sockets = turn.limits.maxAllocations * max(families, 1)
            parts.append(("relay sockets (\(sockets) × 2 × \(size / 1024) KiB, every allocation bursting at once)", sockets * 2 * size))
        }
        return parts
    }

    /// Bytes one worker reserves at start-up, by part.
    public var reservedBytes: [(part: String, bytes: Int)] {
        let slot = (poolSlotSize + 63) & ~63
        var parts: [(String, Int)] = [
            ("buffer pool (\(poolSlots) × \(slot) B)", poolSlots * (slot + 5)),
            ("datagram batches (2 × \(udpBatch))", 2 * udpBatch * DatagramBatch.bytesPerEntry),
            ("STUN rate table (\(responder.rateTableCapacity) sources)", BindingResponder.reservedBytes(for: responder)),
            ("timers and registrations", 4096 * 48 + maxRegistrations * 16),
        ]
        if let turn {
            let allocations = turn.limits.maxAllocations
            parts.append(("TURN allocations (\(allocations) × \(MemoryLayout<Allocation>.stride) B, inline permissions and channels)",
                          allocations * (MemoryLayout<Allocation>.stride + 1 + 4 + 16) + 2 * allocations * 4))
            parts.append(("TURN relay table (\(turn.ports.count) ports) and relay ring (\(udpBatch) slots from the pool)",
                          turn.ports.count * 32 + 2 * udpBatch * DatagramBatch.bytesPerEntry))
            parts.append(("TURN challenge limiter (\(turn.limits.challengeTableSize) sources)",
                          SourceRateLimiter.reservedBytes(capacity: turn.limits.challengeTableSize)))
        }
        if tcp {
            parts.append(("TCP connections (\(listenAddresses.count) × \(tcpMaxConnections) × 2 × \(tcpBufferBytes) B)",
                          listenAddresses.count * tcpMaxConnections * (2 * tcpBufferBytes + 200)))
        }
        if let tls {
            let connections = tlsListenerCount * tls.maxConnections
            parts.append(("TLS connections (\(tlsListenerCount) listeners × \(tls.maxConnections) × (2 × \(tcpBufferBytes) B + "
                          + "\(TLSSettings.sessionBytes / 1024) KiB OpenSSL))",
                          connections * (2 * tcpBufferBytes + 200 + TLSSettings.sessionBytes)
                          + TLSSessionFactory.reservedBytes()))
        }
        return parts
    }

    /// Checks that the values can work; returns one message per problem.
    public func problems() -> [String] {
        var found: [String] = []
        if listenAddresses.isEmpty { found.append("no listening address") }
        if !udp && !tcp { found.append("both UDP and TCP are disabled") }
        if poolSlotSize - poolHeadroom < 1500 { found.append("pool-slot-size minus headroom must hold a 1500-byte datagram") }
        if udpBatch < 1 || udpBatch > 1024 { found.append("udp-batch must be 1…1024") }
        if udp && poolSlots < 2 * udpBatch { found.append("pool-slots must be at least twice udp-batch (\(2 * udpBatch))") }
        if (tcp || tls != nil) && tcpBufferBytes < 548 { found.append("tcp-buffer-bytes must be at least 548") }
        if let tls, tls.store.context == nil { found.append("TLS is on but no certificate is loaded") }
        if responder.rateTableCapacity < 16 { found.append("stun-rate-table-size must be at least 16") }
        return found
    }
}
