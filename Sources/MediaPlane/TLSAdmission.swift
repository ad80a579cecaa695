import Reactor
import STUN
import Synchronization
import TLS

/// The certificate in use, shared by every worker: a reload swaps it, and connections already
/// open keep the one they started with (OpenSSL reference-counts it).
public final class TLSContextStore: Sendable {
    private let current: Mutex<TLSServerContext?>

    public init(_ context: TLSServerContext?) { current = Mutex(context) }

    /// The context new connections use.
    public var context: TLSServerContext? { current.withLock { $0 } }

    /// Replaces the context for new connections.
    public func replace(_ context: TLSServerContext) { current.withLock { $0 = context } }
}

/// Handshake budgets for one worker's TLS listeners: a per-source token bucket (fixed table)
/// and a total one, so a storm of handshakes (each costs a signature) cannot take the CPU that
/// UDP relaying needs. Over either budget the connection is closed at accept, before any
/// cryptography.
public final class TLSSessionFactory: StreamSessionFactory {
    private let store: TLSContextStore
    private var perSource: SourceRateLimiter
    private var totalTokens: Double
    private var totalLast: UInt64 = 0
    private let totalRate: Double
    private let totalBurst: Double

    /// - Parameters:
    ///   - totalPerSecond: handshakes per second this worker starts at most (0 = no limit).
    ///   - perSourcePerSecond: per source address (IPv6 /64), with `perSourceBurst`.
    public init(store: TLSContextStore, totalPerSecond: UInt32, perSourcePerSecond: UInt32, perSourceBurst: UInt32,
                sourceTableSize: Int = 1024) {
        self.store = store
        perSource = SourceRateLimiter(capacity: sourceTableSize, ratePerSecond: perSourcePerSecond, burst: perSourceBurst)
        totalRate = Double(totalPerSecond)
        totalBurst = max(Double(totalPerSecond), 1)
        totalTokens = totalBurst
    }

    /// Bytes the per-source table occupies.
    public static func reservedBytes(sourceTableSize: Int = 1024) -> Int {
        SourceRateLimiter.reservedBytes(capacity: sourceTableSize)
    }

    public func makeSession(fd: Int32, peer: SocketAddress, now: UInt64) -> StreamSessionAdmission {
        if totalRate > 0 {
            let elapsed = Double(now &- totalLast) / 1e9
            totalLast = now
            totalTokens = min(totalBurst, totalTokens + max(elapsed, 0) * totalRate)
            guard totalTokens >= 1 else { return .overBudget }
        }
        if let source = TransportAddress(peer), !perSource.allow(source.ip, now: now) { return .overBudget }
        if totalRate > 0 { totalTokens -= 1 }
        guard let context = store.context, let session = TLSSession(context: context, fd: fd) else { return .unavailable }
        return .session(session)
    }
}
