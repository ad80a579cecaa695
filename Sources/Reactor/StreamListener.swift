import CSystem
import Glibc

/// Counters of a stream listener.
public struct StreamListenerCounters: Sendable, Equatable {
    /// Connections accepted into a free record.
    public var accepted: UInt64 = 0
    /// Connections refused because every record was in use.
    public var refusedFull: UInt64 = 0
    /// Closed connections by reason (indexed by `StreamCloseReason.rawValue`).
    public var closed = [UInt64](repeating: 0, count: StreamCloseReason.allCases.count)
    /// TLS: connections refused at accept because a handshake budget was spent.
    public var refusedRate: UInt64 = 0
    /// TLS: connections refused because no session could be made.
    public var refusedUnavailable: UInt64 = 0
    /// TLS: handshakes completed.
    public var handshakes: UInt64 = 0
}

/// A listening TCP or Unix stream socket with a fixed table of connection records, each with
/// fixed buffers, all reserved at start-up. Idle connections are closed by a periodic sweep.
public final class StreamListener: EventHandler, TimerHandler {
    /// The bound address (with the kernel-chosen port when 0 was asked).
    public let localAddress: SocketAddress
    /// Accept, refusal and close counts.
    public private(set) var counters = StreamListenerCounters()
    /// Receives frames and close notices.
    public weak var delegate: StreamConnectionDelegate?

    private let fd: Int32
    private let connections: [StreamConnection]
    private var freeRecords: [Int]
    private let idleTimeoutNanos: UInt64
    private unowned let loop: EventLoop
    private var registration: Registration?
    /// False once `stopAccepting` ran: the connections live on, the listening socket is not read.
    private var accepting = true
    private let unixPath: String?
    /// TLS: makes each connection's session (nil: plain TCP or Unix).
    private let sessions: StreamSessionFactory?
    private let handshakeTimeoutNanos: UInt64

    /// Binds and listens.
    /// - Parameters:
    ///   - maxConnections: records reserved; connections beyond are accepted and closed at once.
    ///   - receiveBytes: per-connection receive buffer: the largest frame accepted.
    ///   - sendBytes: per-connection send buffer: how far a slow reader may fall behind.
    ///   - idleTimeoutSeconds: a connection silent this long is closed (0 disables).
    ///   - sessions: makes a TLS session for each accepted connection (nil: plain).
    ///   - handshakeTimeoutMillis: a session whose handshake is not complete this long after
    ///     accept is closed.
    public init(bindTo address: SocketAddress, loop: EventLoop, maxConnections: Int, receiveBytes: Int, sendBytes: Int,
                idleTimeoutSeconds: UInt64, reusePort: Bool = false, unixMode: mode_t = 0o660,
                sessions: StreamSessionFactory? = nil, handshakeTimeoutMillis: UInt64 = 5_000,
                framer: @escaping (UnsafeRawBufferPointer) -> FrameDecision) throws(SystemError) {
        let path: String? = address.family == AF_UNIX ? address.host : nil
        if path == nil, let inherited = InheritedSockets.take(.streamListener, address.description) {
            // Handed over by the process this one replaces (docs/handover.md): already listening.
            do throws(SystemError) {
                localAddress = try UDPSocket.localName(of: inherited)
            } catch {
                close(inherited)
                throw error
            }
            fd = inherited
        } else {
            (fd, localAddress) = try Self.bindAndListen(address, path: path, reusePort: reusePort, unixMode: unixMode)
        }
        self.loop = loop
        unixPath = path
        self.sessions = sessions
        handshakeTimeoutNanos = handshakeTimeoutMillis * 1_000_000
        idleTimeoutNanos = idleTimeoutSeconds * 1_000_000_000
        connections = (0..<maxConnections).map {
            StreamConnection(index: $0, receiveBytes: receiveBytes, sendBytes: sendBytes, framer: framer)
        }
        freeRecords = Array((0..<maxConnections).reversed())
        flushQueue.reserveCapacity(maxConnections)
        for connection in connections { connection.owner = self }
        registration = try loop.register(fd: fd, events: EPOLLIN.rawValue, handler: self)
    }

    /// A new listening socket on `address`.
    private static func bindAndListen(_ address: SocketAddress, path: String?, reusePort: Bool,
                                      unixMode: mode_t) throws(SystemError) -> (Int32, SocketAddress) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError("socket(stream)") }
        do throws(SystemError) {
            if address.family != AF_UNIX {
                try setSocketOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
                if reusePort { try setSocketOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
                if address.family == AF_INET6 { try setSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            } else if let path {
                try removeStaleUnixSocket(path)
            }
            if address.withSockAddr({ Glibc.bind(fd, $0, $1) }) != 0 { throw SystemError("bind(\(address))") }
            if let path, chmod(path, unixMode) != 0 { throw SystemError("chmod(\(path))") }
            if listen(fd, 128) != 0 { throw SystemError("listen(\(address))") }
            return (fd, address.family == AF_UNIX ? address : try UDPSocket.localName(of: fd))
        } catch {
            close(fd)
            throw error
        }
    }

    /// The listening descriptor (handed to the successor in a handover; still owned here).
    public var descriptor: Int32 { fd }

    /// Whether the once-a-second idle sweep is armed: only while connections are open, so an
    /// idle listener never wakes its loop.
    private var sweepArmed = false

    private func armSweep(now: UInt64) {
        guard idleTimeoutNanos > 0 || sessions != nil, !sweepArmed, registration != nil, openConnections > 0 else { return }
        sweepArmed = loop.timers.schedule(at: now + 1_000_000_000, handler: self) != nil
    }

    deinit {
        close(fd)
        if let unixPath { unlink(unixPath) }
    }

    /// Stops accepting and leaves the open connections as they are (a handover: the successor
    /// reads the listening socket now, this process serves its connections until they close).
    public func stopAccepting() {
        guard accepting, let registration else { return }
        loop.deregister(registration)
        accepting = false
    }

    /// Stops listening and closes every connection.
    public func shutdown() {
        if accepting, let registration { loop.deregister(registration) }
        registration = nil
        accepting = false
        for connection in connections where connection.isOpen { connection.close(reason: .local, loop: loop) }
    }

    /// Whether `connection` is one of this listener's records.
    public func owns(_ connection: StreamConnection) -> Bool { connection.owner === self }

    /// Connections currently open.
    public var openConnections: Int { connections.count - freeRecords.count }

    /// Bytes reserved by the connection table.
    public var reservedBytes: Int { connections.reduce(0) { $0 + $1.reservedBytes } }

    public func handleEvents(_ events: UInt32, loop: EventLoop) {
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    rtcgate_accept4(fd, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if client < 0 { return }  // EAGAIN, or a transient error such as EMFILE/ECONNABORTED
            if freeRecords.isEmpty, sessions != nil { evictOldestHandshake() }
            guard let record = freeRecords.popLast() else {
                counters.refusedFull &+= 1
                close(client)
                continue
            }
            if localAddress.family != AF_UNIX { try? setSocketOption(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
            let now = MonotonicClock.now()
            let peer = SocketAddress(storage: storage, length: length)
            var session: StreamSession?
            if let sessions {
                switch sessions.makeSession(fd: client, peer: peer, now: now) {
                case .session(let made): session = made
                case .overBudget:
                    counters.refusedRate &+= 1
                    freeRecords.append(record)
                    close(client)
                    continue
                case .unavailable:
                    counters.refusedUnavailable &+= 1
                    freeRecords.append(record)
                    close(client)
                    continue
                }
            }
            do throws(SystemError) {
                try connections[record].open(fd: client, peer: peer, loop: loop, now: now, session: session)
                counters.accepted &+= 1
                armSweep(now: now)
            } catch {
                session?.shutdown()
                close(client)
                freeRecords.append(record)
            }
        }
    }

    /// A full TLS table makes room by closing its oldest unfinished handshake (a client that
    /// connected and said nothing must not hold a record against new clients until its timeout).
    private func evictOldestHandshake() {
        var oldest: StreamConnection?
        for connection in connections where connection.isOpen && !connection.handshakeComplete {
            if oldest == nil || connection.openedAt < oldest!.openedAt { oldest = connection }
        }
        oldest?.close(reason: .handshakeEvicted, loop: loop)
    }

    public func timerFired(context: UInt64, now: UInt64) {
        for connection in connections where connection.isOpen {
            if !connection.handshakeComplete, now &- connection.openedAt > handshakeTimeoutNanos {
                connection.close(reason: .handshakeTimeout, loop: loop)
            } else if idleTimeoutNanos > 0, now &- connection.lastActivity > idleTimeoutNanos {
                connection.close(reason: .idle, loop: loop)
            }
        }
        sweepArmed = false
        armSweep(now: now)
    }

    func delegateReceive(_ connection: StreamConnection, _ frame: UnsafeRawBufferPointer) {
        delegate?.stream(connection, didReceive: frame)
    }

    /// TLS records waiting for `flushQueued` (indices; capacity reserved at start-up).
    private var flushQueue: [Int] = []

    func queueForFlush(_ index: Int) { flushQueue.append(index) }

    /// Sends what connections queued since the last call (TLS: one record per connection).
    public func flushQueued() {
        guard !flushQueue.isEmpty else { return }
        for index in flushQueue { connections[index].flushQueued(loop: loop) }
        flushQueue.removeAll(keepingCapacity: true)
    }

    func delegateHandshakeComplete(_ connection: StreamConnection) {
        counters.handshakes &+= 1
    }

    func delegateClosed(_ connection: StreamConnection, _ reason: StreamCloseReason) {
        counters.closed[reason.rawValue] &+= 1
        freeRecords.append(connection.index)
        delegate?.streamDidClose(connection, reason: reason)
    }

    /// Removes a leftover socket file from an earlier run, refusing to touch anything else or a
    /// socket that another process still answers on.
    private static func removeStaleUnixSocket(_ path: String) throws(SystemError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw SystemError("bind(\(path)): exists and is not a socket", code: EEXIST) }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(probe) }
        if let address = SocketAddress(unixPath: path), address.withSockAddr({ connect(probe, $0, $1) }) == 0 {
            throw SystemError("bind(\(path)): another process is listening", code: EADDRINUSE)
        }
        unlink(path)
    }
}
