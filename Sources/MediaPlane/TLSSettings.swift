import TLS

/// TURN over TLS (RFC 8656 §3.1): listeners on their own ports, served by the same TurnCore
/// and allocation table as TCP. Nil in `MediaWorkerConfig` when TLS is off (`no-tls`, or no
/// `cert`/`pkey`).
public struct TLSSettings: Sendable {
    /// Ports on every listening address (`tls-listening-port`, `alt-tls-listening-port`).
    public var ports: [UInt16] = [5349]
    /// The certificate in use, shared by all workers and swapped by a reload.
    public var store: TLSContextStore
    /// Connection records per worker and per port (`tls-max-connections`, board profile).
    public var maxConnections = 32
    /// Handshakes per second this worker starts at most (the configured total shared out).
    public var handshakesPerSecond: UInt32 = 100
    /// Handshakes per second and burst per source address.
    public var handshakesPerSourcePerSecond: UInt32 = 20
    public var handshakesPerSourceBurst: UInt32 = 40
    /// A handshake not complete this long after accept is closed.
    public var handshakeTimeoutMillis: UInt64 = 5_000

    /// Private memory one open TLS connection costs beyond its record's buffers: OpenSSL's
    /// `SSL` object and its record buffers (kept, so no packet allocates). Measured growth of
    /// RssAnon per open connection (x86_64, OpenSSL 3.0, TLS 1.3): 24 KiB opened one at a time,
    /// 30 KiB eight at once (`Tests/Bench/turn_tls_vs_coturn.py`, hold-tls); counted as 32 KiB.
    public static let sessionBytes = 32 * 1024

    public init(store: TLSContextStore) { self.store = store }
}
