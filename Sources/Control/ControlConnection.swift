import CSystem
import Glibc
import Reactor

/// Why the server closed a control connection.
enum ControlCloseReason: Sendable {
    case peerClosed, readError, writeError, tooLarge, slowConsumer, idle, local
}

/// One record of the control server's fixed connection table. Its buffers are plain arrays that
/// grow with use up to their bounds (a line, the send limit) and are released on close.
/// `generation` changes whenever the record is opened or closed, so a late reply can tell that
/// its connection is gone.
final class ControlConnection: EventHandler {
    let index: Int
    private(set) var generation: UInt32 = 0
    private(set) var fd: Int32 = -1
    private(set) var peer = ControlPeer(pid: 0, uid: 0, gid: 0)
    private(set) var lastActivity: UInt64 = 0
    /// Requests handed to the handler and not answered yet.
    var pendingReplies = 0

    private var inbox: [UInt8] = []
    private var scanned = 0
    private var outbox: [UInt8] = []
    private var outboxStart = 0
    private var registration: Registration?
    private var wantsWrite = false
    /// Set after a final error line or the peer's end of input: read no more, close once the
    /// outbox is flushed (and, after the peer's end of input, every pending reply sent).
    private var closing = false
    private var finalReason = ControlCloseReason.local
    weak var owner: ControlServer?

    init(index: Int) { self.index = index }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    var isOpen: Bool { fd >= 0 }

    func open(fd: Int32, peer: ControlPeer, loop: EventLoop) throws(SystemError) {
        registration = try loop.register(fd: fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, handler: self)
        self.fd = fd
        self.peer = peer
        generation &+= 1
        pendingReplies = 0
        closing = false
        wantsWrite = false
        lastActivity = MonotonicClock.now()
    }

    func handleEvents(_ events: UInt32, loop: EventLoop) {
        guard fd >= 0 else { return }
        if events & EPOLLOUT.rawValue != 0 { flush(loop: loop) }
        guard fd >= 0 else { return }
        if closing {
            // The peer is gone altogether: nothing more can be delivered.
            if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { close(reason: finalReason, loop: loop) }
            return
        }
        if events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 {
            readAvailable(loop: loop)
        }
    }

    private func readAvailable(loop: EventLoop) {
        guard let owner else { return }
        // Bounded: at most 16 reads per readiness event, so one busy client cannot starve others.
        for _ in 0..<16 {
            guard fd >= 0, !closing else { return }
            let n = owner.scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 {
                // End of input: answer what was asked (e.g. `printf … | nc -N -U`), then close.
                // A last line without its newline is still a request.
                if !inbox.isEmpty {
                    let line = inbox
                    inbox = []
                    scanned = 0
                    let generationBefore = generation
                    owner.received(line, on: self, loop: loop)
                    if generation != generationBefore { return }
                }
                return finish(reason: .peerClosed, loop: loop)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                return close(reason: .readError, loop: loop)
            }
            lastActivity = MonotonicClock.now()
            owner.scratch.withUnsafeBytes { inbox.append(contentsOf: $0[0..<n]) }
            deliverLines(owner: owner, loop: loop)
        }
    }

    private func deliverLines(owner: ControlServer, loop: EventLoop) {
        var start = 0
        while fd >= 0, !closing {
            guard let newline = inbox[max(start, scanned)...].firstIndex(of: 0x0A) else {
                if inbox.count - start >= owner.configuration.maxLineBytes {
                    owner.lineTooLarge(self, loop: loop)
                    return
                }
                break
            }
            if newline + 1 - start > owner.configuration.maxLineBytes {
                owner.lineTooLarge(self, loop: loop)
                return
            }
            let generationBefore = generation
            // A copy: the handler may reply at once, and a failed send clears `inbox`.
            let line = Array(inbox[start...newline])
            owner.received(line, on: self, loop: loop)
            if generation != generationBefore { return }  // closed (and maybe reused) by the callback
            start = newline + 1
        }
        guard fd >= 0 else { return }
        inbox.removeSubrange(0..<start)
        scanned = inbox.count
        if inbox.isEmpty { inbox = [] }
    }

    /// Queues one line. Returns false (and closes as a slow consumer) when the unsent bytes would
    /// exceed the send limit.
    @discardableResult
    func send(_ bytes: [UInt8], limit: Int, loop: EventLoop) -> Bool {
        guard fd >= 0 else { return false }
        var offset = 0
        if outboxStart == outbox.count {
            offset = writeSome(bytes, from: 0)
            if offset < 0 { close(reason: .writeError, loop: loop); return false }
            if offset == bytes.count { return true }
            outbox = []
            outboxStart = 0
        }
        guard outbox.count - outboxStart + bytes.count - offset <= limit else {
            close(reason: .slowConsumer, loop: loop)
            return false
        }
        if outboxStart > 0 && outboxStart >= outbox.count / 2 {
            outbox.removeSubrange(0..<outboxStart)
            outboxStart = 0
        }
        outbox.append(contentsOf: bytes[offset...])
        setWriteInterest(true, loop: loop)
        return true
    }

    /// Sends a final line, then closes once it is written (at once if nothing is pending).
    func sendFinal(_ bytes: [UInt8], reason: ControlCloseReason, limit: Int, loop: EventLoop) {
        guard send(bytes, limit: limit, loop: loop) else { return }
        finish(reason: reason, loop: loop)
    }

    /// Stops reading; closes now or once the outbox (and, for `.peerClosed`, every pending
    /// reply) is out.
    private func finish(reason: ControlCloseReason, loop: EventLoop) {
        closing = true
        finalReason = reason
        updateInterest(loop: loop)
        closeIfDone(loop: loop)
    }

    private func closeIfDone(loop: EventLoop) {
        guard fd >= 0, closing, outboxStart == outbox.count else { return }
        if finalReason == .peerClosed && pendingReplies > 0 { return }
        close(reason: finalReason, loop: loop)
    }

    /// Called after a reply was queued.
    func replied(loop: EventLoop) { closeIfDone(loop: loop) }

    /// Writes as much of `bytes[from...]` as the socket takes; the new offset, or -1 on error.
    private func writeSome(_ bytes: [UInt8], from start: Int) -> Int {
        var offset = start
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            return -1
        }
        return offset
    }

    private func flush(loop: EventLoop) {
        let offset = writeSome(outbox, from: outboxStart)
        if offset < 0 { return close(reason: .writeError, loop: loop) }
        outboxStart = offset
        guard outboxStart == outbox.count else { return }
        outbox = []
        outboxStart = 0
        setWriteInterest(false, loop: loop)
        closeIfDone(loop: loop)
    }

    private func setWriteInterest(_ on: Bool, loop: EventLoop) {
        guard on != wantsWrite else { return }
        wantsWrite = on
        updateInterest(loop: loop)
    }

    /// Reading stops once closing (so a level-triggered EPOLLIN cannot spin the loop).
    private func updateInterest(loop: EventLoop) {
        guard let registration else { return }
        let mask = (closing ? 0 : EPOLLIN.rawValue | EPOLLRDHUP.rawValue) | (wantsWrite ? EPOLLOUT.rawValue : 0)
        do throws(SystemError) { try loop.modify(registration, events: mask) } catch { close(reason: .writeError, loop: loop) }
    }

    /// Closes the connection, releases its buffers and returns the record to the server.
    func close(reason: ControlCloseReason, loop: EventLoop) {
        guard fd >= 0 else { return }
        if let registration { loop.deregister(registration) }
        registration = nil
        Glibc.close(fd)
        fd = -1
        generation &+= 1
        inbox = []
        scanned = 0
        outbox = []
        outboxStart = 0
        pendingReplies = 0
        owner?.connectionClosed(self, reason: reason)
    }
}
