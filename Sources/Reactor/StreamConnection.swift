import CSystem
import Glibc

/// Why a stream connection was closed.
public enum StreamCloseReason: Int, CaseIterable, Sendable {
    case peerClosed, readError, writeError, invalidFrame, frameTooLarge, slowConsumer, idle, local
    /// TLS: the handshake failed (plaintext, garbage, no shared cipher, untrusted), did not
    /// finish in time, or the peer tried to renegotiate.
    case handshakeFailed, handshakeTimeout, renegotiation
    /// TLS: an unfinished handshake closed to make room in a full table.
    case handshakeEvicted
    /// A snake_case label for logs and metrics.
    public var label: String {
        switch self {
        case .peerClosed: "peer_closed"
        case .readError: "read_error"
        case .writeError: "write_error"
        case .invalidFrame: "invalid_frame"
        case .frameTooLarge: "frame_too_large"
        case .slowConsumer: "slow_consumer"
        case .idle: "idle"
        case .local: "local"
        case .handshakeFailed: "handshake_failed"
        case .handshakeTimeout: "handshake_timeout"
        case .renegotiation: "renegotiation"
        case .handshakeEvicted: "handshake_evicted"
        }
    }

    /// The reasons a connection without TLS can close for.
    public static let plainReasons: [StreamCloseReason] = [.peerClosed, .readError, .writeError, .invalidFrame, .frameTooLarge,
                                                            .slowConsumer, .idle, .local]
}

/// Receives the frames of stream connections and hears when they close.
public protocol StreamConnectionDelegate: AnyObject {
    /// One whole frame, valid only during the call.
    func stream(_ connection: StreamConnection, didReceive frame: UnsafeRawBufferPointer)
    /// The connection is closed; its record is about to be reused.
    func streamDidClose(_ connection: StreamConnection, reason: StreamCloseReason)
}

/// One accepted stream (TCP, TLS over TCP, or Unix) with fixed receive and send buffers reserved
/// at start-up. Records are reused: `generation` changes every time the record carries a new
/// connection. With a `StreamSession` (TLS) the record moves plaintext through it.
public final class StreamConnection: EventHandler {
    /// Index of this record in its listener's table.
    public let index: Int
    /// Bumped each time the record is reused, so stale references can be detected.
    public private(set) var generation: UInt32 = 0
    /// The peer's address.
    public private(set) var peer = SocketAddress()
    /// The descriptor while open, -1 when the record is free.
    public private(set) var fd: Int32 = -1
    /// Monotonic time of the last byte received.
    public private(set) var lastActivity: UInt64 = 0
    /// Monotonic time the connection was accepted.
    public private(set) var openedAt: UInt64 = 0
    /// The security layer (TLS), if any.
    public private(set) var session: StreamSession?
    /// Whether the session's handshake is complete (always true without a session).
    public private(set) var handshakeComplete = true
    /// The session needs the socket writable to make progress (handshake or record write).
    private var sessionWantsWrite = false
    /// Listed in the owner's flush queue.
    private var queuedForFlush = false

    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private var received = 0
    private let sendBuffer: UnsafeMutableRawBufferPointer
    private var pendingStart = 0
    private var pendingEnd = 0
    private var registration: Registration?
    private var wantsWrite = false
    private var decide: (UnsafeRawBufferPointer) -> FrameDecision
    weak var owner: StreamListener?

    init(index: Int, receiveBytes: Int, sendBytes: Int, framer: @escaping (UnsafeRawBufferPointer) -> FrameDecision) {
        self.index = index
        receiveBuffer = .allocate(byteCount: receiveBytes, alignment: 16)
        sendBuffer = .allocate(byteCount: sendBytes, alignment: 16)
        // Reserved now, resident only once a connection uses them.
        decide = framer
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        receiveBuffer.deallocate()
        sendBuffer.deallocate()
    }

    /// Whether the record currently carries a connection.
    public var isOpen: Bool { fd >= 0 }

    func open(fd: Int32, peer: SocketAddress, loop: EventLoop, now: UInt64, session: StreamSession? = nil) throws(SystemError) {
        // Registered first: if that fails the record stays free (fd -1), never half open.
        registration = try loop.register(fd: fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, handler: self)
        self.fd = fd
        self.peer = peer
        self.session = session
        handshakeComplete = session == nil
        sessionWantsWrite = false
        queuedForFlush = false
        openedAt = now
        generation &+= 1
        received = 0
        pendingStart = 0
        pendingEnd = 0
        wantsWrite = false
        lastActivity = now
    }

    public func handleEvents(_ events: UInt32, loop: EventLoop) {
        guard fd >= 0 else { return }
        if !handshakeComplete {
            advanceHandshake(loop: loop)
            guard fd >= 0, handshakeComplete else { return }
            readAvailable(loop: loop)  // the client's first records may already be in
            owner?.flushQueued()
            return
        }
        if events & EPOLLOUT.rawValue != 0 { flush(loop: loop) }
        guard fd >= 0 else { return }
        if events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 || sessionWantsWrite {
            readAvailable(loop: loop)
            owner?.flushQueued()  // the replies to everything just read: one record, one write
        }
    }

    private func advanceHandshake(loop: EventLoop) {
        guard let session else { return }
        switch session.handshake() {
        case .done:
            handshakeComplete = true
            lastActivity = MonotonicClock.now()
            owner?.delegateHandshakeComplete(self)
            sessionWantsWrite = false
            if pendingStart < pendingEnd { flush(loop: loop) } else { updateInterest(loop: loop) }
        case .wantRead:
            sessionWantsWrite = false
            updateInterest(loop: loop)
        case .wantWrite:
            sessionWantsWrite = true
            updateInterest(loop: loop)
        case .closed, .failed:
            close(reason: .handshakeFailed, loop: loop)
        }
    }

    /// Reads up to `space` bytes of plaintext: from the socket, or through the session.
    private func readSome(_ destination: UnsafeMutableRawPointer, _ space: Int, loop: EventLoop) -> ReadOutcome {
        guard let session else {
            let n = read(fd, destination, space)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed(.peerClosed) }
            if errno == EINTR { return .retry }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .drained }
            return .closed(.readError)
        }
        let result = session.read(into: UnsafeMutableRawBufferPointer(start: destination, count: space))
        if session.renegotiationAttempted { return .closed(.renegotiation) }
        switch result {
        case .done(let n): return .bytes(n)
        case .wantRead:
            if sessionWantsWrite, pendingStart == pendingEnd {
                sessionWantsWrite = false
                updateInterest(loop: loop)
            }
            return .drained
        case .wantWrite:
            sessionWantsWrite = true
            updateInterest(loop: loop)
            return .drained
        case .closed: return .closed(.peerClosed)
        case .failed: return .closed(.readError)
        }
    }

    private enum ReadOutcome { case bytes(Int), drained, retry, closed(StreamCloseReason) }

    private func readAvailable(loop: EventLoop) {
        // Bounded: at most 16 reads per readiness event, so one busy peer cannot starve others;
        // but never leave plaintext inside a session, where epoll cannot see it.
        // Reads served from records already inside the session do not count against the 16
        // (they cost no syscall and epoll cannot report them), up to a hard bound.
        var socketReads = 0
        for _ in 0..<256 {
            guard fd >= 0 else { return }
            let buffered = session?.hasBufferedPlaintext ?? false
            if socketReads >= 16 && !buffered { return }
            if !buffered { socketReads += 1 }
            let space = receiveBuffer.count - received
            if space == 0 {
                close(reason: .frameTooLarge, loop: loop)
                return
            }
            switch readSome(receiveBuffer.baseAddress! + received, space, loop: loop) {
            case .bytes(let n):
                received += n
                lastActivity = MonotonicClock.now()
                deliverFrames(loop: loop)
            case .retry: continue
            case .drained: return
            case .closed(let reason):
                close(reason: reason, loop: loop)
                return
            }
        }
        // Still records inside the session after the hard bound (a peer streaming partial
        // records): come back on the next loop turn through writability.
        if fd >= 0, let session, session.hasBufferedPlaintext {
            sessionWantsWrite = true
            updateInterest(loop: loop)
        }
    }

    private func deliverFrames(loop: EventLoop) {
        var consumed = 0
        while fd >= 0 {
            let pending = UnsafeRawBufferPointer(rebasing: receiveBuffer[consumed..<received])
            switch decide(pending) {
            case .needMore:
                if consumed > 0, consumed < received {
                    memmove(receiveBuffer.baseAddress!, receiveBuffer.baseAddress! + consumed, received - consumed)
                }
                received -= consumed
                return
            case .invalid:
                close(reason: .invalidFrame, loop: loop)
                return
            case .frame(let length):
                let frame = UnsafeRawBufferPointer(rebasing: pending[0..<length])
                consumed += length
                let generationBefore = generation
                owner?.delegateReceive(self, frame)
                if generation != generationBefore { return }  // closed and reused inside the callback
            }
        }
    }

    /// Queues `bytes` for sending. Returns false (and closes the connection as a slow consumer)
    /// when they do not fit the send buffer. Over TLS the bytes wait in the send buffer until
    /// the owner calls `StreamListener.flushQueued()` (after each batch), so a batch of
    /// messages leaves as one record in one write instead of a record and a syscall each.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, loop: EventLoop) -> Bool {
        guard fd >= 0 else { return false }
        if session != nil {
            if sendBuffer.count - (pendingEnd - pendingStart) < bytes.count, handshakeComplete { flush(loop: loop) }
            guard fd >= 0 else { return false }
            if !queuedForFlush {
                queuedForFlush = true
                owner?.queueForFlush(index)
            }
        }
        var offset = 0
        if pendingStart == pendingEnd && handshakeComplete && session == nil {
            while offset < bytes.count {
                guard let n = writeSome(bytes.baseAddress! + offset, bytes.count - offset) else {
                    close(reason: .writeError, loop: loop)
                    return false
                }
                if n == 0 { break }
                offset += n
            }
            if offset == bytes.count { return true }
            pendingStart = 0
            pendingEnd = 0
        }
        let rest = bytes.count - offset
        if sendBuffer.count - pendingEnd < rest, pendingStart > 0 {
            memmove(sendBuffer.baseAddress!, sendBuffer.baseAddress! + pendingStart, pendingEnd - pendingStart)
            pendingEnd -= pendingStart
            pendingStart = 0
        }
        guard sendBuffer.count - pendingEnd >= rest else {
            close(reason: .slowConsumer, loop: loop)
            return false
        }
        (sendBuffer.baseAddress! + pendingEnd).copyMemory(from: bytes.baseAddress! + offset, byteCount: rest)
        pendingEnd += rest
        if session == nil { updateInterest(loop: loop) }
        return true
    }

    /// Writes what `send` queued (TLS); what the socket does not take waits for writability.
    func flushQueued(loop: EventLoop) {
        queuedForFlush = false
        guard fd >= 0, handshakeComplete, pendingStart < pendingEnd else { return }
        flush(loop: loop)
    }

    /// Writes some bytes to the socket or through the session: the count written (0 = would
    /// block), or nil on an error.
    private func writeSome(_ start: UnsafeRawPointer, _ count: Int) -> Int? {
        guard let session else {
            while true {
                let n = Glibc.send(fd, start, count, Int32(MSG_NOSIGNAL))
                if n >= 0 { return n }
                if errno == EINTR { continue }
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
            }
        }
        switch session.write(UnsafeRawBufferPointer(start: start, count: count)) {
        case .done(let n): return n
        case .wantRead, .wantWrite: return 0
        case .closed, .failed: return nil
        }
    }

    private func flush(loop: EventLoop) {
        while pendingStart < pendingEnd {
            guard let n = writeSome(sendBuffer.baseAddress! + pendingStart, pendingEnd - pendingStart) else {
                close(reason: .writeError, loop: loop)
                return
            }
            if n == 0 {
                updateInterest(loop: loop)  // the rest waits for writability
                return
            }
            pendingStart += n
        }
        pendingStart = 0
        pendingEnd = 0
        updateInterest(loop: loop)
    }

    /// Watches for writability while bytes wait or the session needs to write.
    private func updateInterest(loop: EventLoop) {
        let on = pendingStart < pendingEnd || sessionWantsWrite
        guard on != wantsWrite, let registration else { return }
        wantsWrite = on
        let mask = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (on ? EPOLLOUT.rawValue : 0)
        do throws(SystemError) { try loop.modify(registration, events: mask) } catch { close(reason: .writeError, loop: loop) }
    }

    /// Closes the connection and returns the record to its listener.
    public func close(reason: StreamCloseReason = .local, loop: EventLoop) {
        guard fd >= 0 else { return }
        if let registration { loop.deregister(registration) }
        registration = nil
        session?.shutdown()
        session = nil
        Glibc.close(fd)
        fd = -1
        generation &+= 1
        owner?.delegateClosed(self, reason)
    }

    /// Bytes reserved by this record's buffers.
    var reservedBytes: Int { receiveBuffer.count + sendBuffer.count }
}
