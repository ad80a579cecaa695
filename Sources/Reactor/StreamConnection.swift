import CSystem
import Glibc

/// Why a stream connection was closed.
public enum StreamCloseReason: Int, CaseIterable, Sendable {
    case peerClosed, readError, writeError, invalidFrame, frameTooLarge, slowConsumer, idle, local
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
        }
    }
}

/// Receives the frames of stream connections and hears when they close.
public protocol StreamConnectionDelegate: AnyObject {
    /// One whole frame, valid only during the call.
    func stream(_ connection: StreamConnection, didReceive frame: UnsafeRawBufferPointer)
    /// The connection is closed; its record is about to be reused.
    func streamDidClose(_ connection: StreamConnection, reason: StreamCloseReason)
}

/// One accepted stream (TCP or Unix) with fixed receive and send buffers reserved at start-up.
/// Records are reused: `generation` changes every time the record carries a new connection.
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

    func open(fd: Int32, peer: SocketAddress, loop: EventLoop, now: UInt64) throws(SystemError) {
        self.fd = fd
        self.peer = peer
        generation &+= 1
        received = 0
        pendingStart = 0
        pendingEnd = 0
        wantsWrite = false
        lastActivity = now
        registration = try loop.register(fd: fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, handler: self)
    }

    public func handleEvents(_ events: UInt32, loop: EventLoop) {
        guard fd >= 0 else { return }
        if events & EPOLLOUT.rawValue != 0 { flush(loop: loop) }
        guard fd >= 0 else { return }
        if events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 {
            readAvailable(loop: loop)
        }
    }

    private func readAvailable(loop: EventLoop) {
        // Bounded: at most 16 reads per readiness event, so one busy peer cannot starve others.
        for _ in 0..<16 {
            guard fd >= 0 else { return }
            let space = receiveBuffer.count - received
            if space == 0 {
                close(reason: .frameTooLarge, loop: loop)
                return
            }
            let n = read(fd, receiveBuffer.baseAddress! + received, space)
            if n == 0 {
                close(reason: .peerClosed, loop: loop)
                return
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                close(reason: .readError, loop: loop)
                return
            }
            received += n
            lastActivity = MonotonicClock.now()
            deliverFrames(loop: loop)
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
    /// when they do not fit the send buffer.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, loop: EventLoop) -> Bool {
        guard fd >= 0 else { return false }
        var offset = 0
        if pendingStart == pendingEnd {
            while offset < bytes.count {
                let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                close(reason: .writeError, loop: loop)
                return false
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
        setWriteInterest(true, loop: loop)
        return true
    }

    private func flush(loop: EventLoop) {
        while pendingStart < pendingEnd {
            let n = Glibc.send(fd, sendBuffer.baseAddress! + pendingStart, pendingEnd - pendingStart, Int32(MSG_NOSIGNAL))
            if n > 0 { pendingStart += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            close(reason: .writeError, loop: loop)
            return
        }
        pendingStart = 0
        pendingEnd = 0
        setWriteInterest(false, loop: loop)
    }

    private func setWriteInterest(_ on: Bool, loop: EventLoop) {
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
        Glibc.close(fd)
        fd = -1
        generation &+= 1
        owner?.delegateClosed(self, reason)
    }

    /// Bytes reserved by this record's buffers.
    var reservedBytes: Int { receiveBuffer.count + sendBuffer.count }
}
