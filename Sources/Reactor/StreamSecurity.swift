/// What one read, write or handshake step of a secured stream did.
public enum StreamSecurityResult: Equatable, Sendable {
    /// Bytes moved (plaintext), or for `handshake`, the handshake is complete.
    case done(Int)
    /// Nothing more until the socket is readable.
    case wantRead
    /// Nothing more until the socket is writable.
    case wantWrite
    /// The peer closed the session cleanly.
    case closed
    /// A protocol error (bad record, failed handshake, refused renegotiation): close.
    case failed
}

/// A security layer over one accepted stream (TLS), owned by its `StreamConnection` record: the
/// record reads and writes plaintext through it instead of the socket.
public protocol StreamSession: AnyObject {
    /// Advances the handshake; `.done` once it is complete.
    func handshake() -> StreamSecurityResult
    /// Reads plaintext into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamSecurityResult
    /// Writes plaintext from `bytes` (possibly only a part: `.done(n)`).
    func write(_ bytes: UnsafeRawBufferPointer) -> StreamSecurityResult
    /// Whether decrypted bytes are waiting inside the session (the socket may not say so).
    var hasBufferedPlaintext: Bool { get }
    /// Whether the peer tried to renegotiate (refused; the connection is closed).
    var renegotiationAttempted: Bool { get }
    /// Frees the session's state (the socket itself is closed by the record).
    func shutdown()
}

/// Makes sessions for a listener's accepted connections, and decides whether a new
/// connection may start a handshake at all (per-source and total handshake budgets).
public protocol StreamSessionFactory: AnyObject {
    /// A session for `fd` accepted from `peer`, or nil to refuse the connection (counted by
    /// the listener as refused by rate, or as a session failure).
    func makeSession(fd: Int32, peer: SocketAddress, now: UInt64) -> StreamSessionAdmission
}

/// The factory's answer for one accepted connection.
public enum StreamSessionAdmission {
    case session(StreamSession)
    /// Over a handshake budget: the connection is closed at once, counted as rate-refused.
    case overBudget
    /// No session could be made (no certificate loaded, out of memory).
    case unavailable
}
