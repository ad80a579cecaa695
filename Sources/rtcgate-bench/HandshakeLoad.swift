import CBenchShim
import Glibc

/// Counters of a handshake run (the measured interval, or the whole hold).
struct HandshakeCounters {
    /// Connections that completed connect → full handshake (→ Binding answered, when confirming).
    var completed: UInt64 = 0
    var connectFailures: UInt64 = 0
    var handshakeFailures: UInt64 = 0
    /// No valid Binding success over the new connection (closed, error, wrong answer).
    var confirmFailures: UInt64 = 0
    var timeouts: UInt64 = 0
    /// Held connections the server closed before the end.
    var closedWhileHeld: UInt64 = 0
    /// The first failure's reason.
    var firstError: String?

    var failures: UInt64 { connectFailures + handshakeFailures + confirmFailures + timeouts + closedWhileHeld }
}

/// Closed-loop TLS (or TCP) connection set-ups: up to `concurrency` connectors, each doing TCP
/// connect → handshake → (one STUN Binding over it, proving the server finished its side) →
/// close, again and again; or, holding, opening `holdTarget` connections and keeping them.
/// One thread, epoll, non-blocking. Sockets are bound by `connect` itself (no explicit bind),
/// so the kernel may reuse loopback ports in TIME_WAIT and long runs do not run out of ports.
final class HandshakeLoad {
    enum Phase { case idle, connecting, handshaking, confirming, held }

    struct Slot {
        var link: StreamLink?
        var phase = Phase.idle
        var startedAt: UInt64 = 0
        var counter: UInt64 = 0
    }

    private let endpoint: ServerEndpoint
    private let tls: TLSClientContext?
    private let confirm: Bool
    private let timeoutNanos: UInt64
    private let concurrency: Int
    /// Hold mode: connections to open and keep (0: closed loop).
    private let holdTarget: Int
    private(set) var counters = HandshakeCounters()
    let histogram = LatencyHistogram()
    private(set) var slots: [Slot]
    private var started = 0
    private var active = 0
    /// Inside `start`: a failure there does not restart the slot (the next scan does).
    private var starting = false
    private(set) var protocolDescription = "?"
    private let epfd: Int32
    private let tokens: UnsafeMutablePointer<UInt32> = .allocate(capacity: 256)
    private let masks: UnsafeMutablePointer<UInt32> = .allocate(capacity: 256)
    private let request = UnsafeMutableRawPointer.allocate(byteCount: 20, alignment: 8)

    init(endpoint: ServerEndpoint, tls: TLSClientContext?, concurrency: Int, confirm: Bool, timeoutNanos: UInt64,
         holdTarget: Int = 0) throws {
        self.endpoint = endpoint
        self.tls = tls
        self.concurrency = concurrency
        self.confirm = confirm
        self.timeoutNanos = timeoutNanos
        self.holdTarget = holdTarget
        slots = [Slot](repeating: Slot(), count: holdTarget > 0 ? holdTarget : concurrency)
        epfd = rb_epoll_create()
        guard epfd >= 0 else { throw BenchError.posix("epoll_create1") }
    }

    deinit {
        closeAll()
        close(epfd)
        tokens.deallocate(); masks.deallocate(); request.deallocate()
    }

    /// Closed loop for `config`'s warm-up plus duration; returns the clock (counters and
    /// histogram cover the measured interval).
    func runLoop(config: LoadConfig) -> MeasurementClock {
        for s in slots.indices { start(s) }
        return runClosedLoop(epfd: epfd, config: config, tokens: tokens, masks: masks, onMeasurementStart: {
            counters = HandshakeCounters(firstError: counters.firstError)
            histogram.reset()
        }, onEvent: { advance(Int($0)) }, onScan: { expire(now: $0) })
    }

    /// Opens `holdTarget` connections, `concurrency` at a time; returns when all are held or
    /// failed, or at `deadline`.
    func openHeld(deadline: UInt64) {
        while monotonicNanos() < deadline && (started < holdTarget || active > 0) {
            while started < holdTarget && active < concurrency { start(started) }
            let n = rb_epoll_wait(epfd, tokens, masks, 256, 20)
            if n > 0 { for e in 0..<Int(n) { advance(Int(tokens[e])) } }
            expire(now: monotonicNanos())
        }
        for s in slots.indices where slots[s].phase != .idle && slots[s].phase != .held { fail(s, \.timeouts, "hold set-up deadline passed") }
    }

    /// Held connections the server has closed since (read without waiting).
    func checkHeld() {
        for s in slots.indices where slots[s].phase == .held {
            guard let link = slots[s].link else { continue }
            switch link.receive() {
            case .closed, .failed: fail(s, \.closedWhileHeld, "server closed a held connection")
            case .data, .wouldBlock: break
            }
        }
    }

    var held: Int { slots.filter { $0.phase == .held }.count }

    func closeAll() {
        for s in slots.indices { slots[s].link = nil; slots[s].phase = .idle }
        active = 0
    }

    private func start(_ s: Int) {
        starting = true
        defer { starting = false }
        if holdTarget > 0 { started += 1 }
        active += 1
        slots[s].startedAt = monotonicNanos()
        slots[s].phase = .connecting
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return fail(s, \.connectFailures, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var server = endpoint.storage
        let rc = withUnsafePointer(to: &server) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, endpoint.length) }
        }
        guard rc == 0 || errno == EINPROGRESS else {
            let why = String(cString: strerror(errno))
            close(fd)
            return fail(s, \.connectFailures, "connect: \(why)")
        }
        do { slots[s].link = try StreamLink(fd: fd, tls: tls) } catch { return fail(s, \.connectFailures, "\(error)") }
        guard rb_epoll_add_in(epfd, fd, UInt32(s)) == 0, rb_epoll_mod(epfd, fd, UInt32(s), 1) == 0 else {
            return fail(s, \.connectFailures, "epoll_ctl: \(String(cString: strerror(errno)))")
        }
    }

    /// Moves slot `s` on after readiness.
    private func advance(_ s: Int) {
        guard s < slots.count, let link = slots[s].link else { return }
        switch slots[s].phase {
        case .connecting:
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(link.fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0, soError == 0 else {
                return fail(s, \.connectFailures, "connect: \(String(cString: strerror(soError)))")
            }
            slots[s].phase = .handshaking
            handshake(s, link)
        case .handshaking:
            handshake(s, link)
        case .confirming:
            if link.hasPendingOutput, case .failed(let why) = link.flush() { return fail(s, \.confirmFailures, why) }
            switch link.receive() {
            case .closed: return fail(s, \.confirmFailures, "server closed the connection before answering a Binding")
            case .failed(let why): return fail(s, \.confirmFailures, why)
            case .data, .wouldBlock: break
            }
            var invalid = false
            guard let frame = link.nextFrame(invalid: &invalid) else {
                if invalid { fail(s, \.confirmFailures, "unframeable answer to a Binding") }
                return
            }
            guard frame.count >= 20, StunWire.loadBE16(frame.start, 0) == StunWire.bindingSuccess,
                  StunWire.loadBE32(frame.start, 8) == UInt32(s), StunWire.loadBE64(frame.start, 12) == slots[s].counter else {
                return fail(s, \.confirmFailures, "Binding over the new connection not answered with its success response")
            }
            complete(s, link)
        case .held:
            switch link.receive() {
            case .closed, .failed: fail(s, \.closedWhileHeld, "server closed a held connection")
            case .data, .wouldBlock: break
            }
        case .idle: break
        }
    }

    private func handshake(_ s: Int, _ link: StreamLink) {
        switch link.handshakeStep() {
        case .done:
            if protocolDescription == "?" { protocolDescription = link.protocolDescription }
            guard confirm else { return complete(s, link) }
            slots[s].phase = .confirming
            slots[s].counter &+= 1
            StunWire.writeRequestTemplate(request, slot: UInt32(s), fingerprint: false)
            StunWire.stamp(request, counter: slots[s].counter, crc: nil)
            guard link.enqueue(request, count: 20) else { return fail(s, \.confirmFailures, "cannot queue a Binding") }
            let step = link.flush()
            if case .failed(let why) = step { return fail(s, \.confirmFailures, why) }
            _ = rb_epoll_mod(epfd, link.fd, UInt32(s), step == .wantWrite ? 1 : 0)
        case .wantRead: _ = rb_epoll_mod(epfd, link.fd, UInt32(s), 0)
        case .wantWrite: _ = rb_epoll_mod(epfd, link.fd, UInt32(s), 1)
        case .failed(let why): fail(s, \.handshakeFailures, why)
        }
    }

    private func complete(_ s: Int, _ link: StreamLink) {
        counters.completed += 1
        histogram.record(nanos: monotonicNanos() &- slots[s].startedAt)
        active -= 1
        if holdTarget > 0 {
            slots[s].phase = .held
            _ = rb_epoll_mod(epfd, link.fd, UInt32(s), 0)
            return
        }
        slots[s].link = nil  // closes the socket (no close_notify, as rtcgate itself closes)
        slots[s].phase = .idle
        start(s)
    }

    /// Counts a failure of slot `s`, closes its connection and (closed loop) starts it again
    /// (unless it failed while starting: then the next scan does).
    private func fail(_ s: Int, _ counter: WritableKeyPath<HandshakeCounters, UInt64>, _ why: String) {
        counters[keyPath: counter] += 1
        if counters.firstError == nil { counters.firstError = why }
        let wasHeld = slots[s].phase == .held
        slots[s].link = nil
        slots[s].phase = .idle
        if !wasHeld { active -= 1 }
        if holdTarget == 0 && !starting { start(s) }
    }

    private func expire(now: UInt64) {
        for s in slots.indices {
            let phase = slots[s].phase
            if phase == .idle {
                if holdTarget == 0 { start(s) }
            } else if phase != .held && now &- slots[s].startedAt > timeoutNanos {
                fail(s, \.timeouts, "connection set-up took longer than the timeout")
            }
        }
    }
}
