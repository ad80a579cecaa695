import CBenchShim
import CSystem
import Glibc

/// STUN Binding load over TCP: one request at a time on each of `sockets`
/// connections, responses framed by the STUN header length (RFC 8489 §6.2.2).
///
/// Simpler than the UDP engine on purpose (lower priority): a connection that
/// fails (EOF, error, framing error, short write) is closed and not reopened;
/// the run goes on with the others and the failures show as receive errors.
final class TCPLoadGenerator {
    /// State of one connection and its single in-flight request.
    struct Connection {
        var fd: Int32
        var local: LocalAddress
        var counter: UInt64 = 0
        var lastLostCounter: UInt64 = 0
        var sentAt: UInt64 = 0
        var filled = 0
        var outstanding = false
        var alive = true
    }

    static let bufferCapacity = 4096

    private let config: LoadConfig
    private let crc = CRC32()
    private let histogram = LatencyHistogram()
    private var counters = LoadCounters()
    private var connections: [Connection] = []
    private let buffers: UnsafeMutableRawPointer
    private let request: UnsafeMutableRawPointer
    private let requestSize: Int
    private var nextCounter: UInt64 = 1
    private var epfd: Int32 = -1
    private let eventTokens: UnsafeMutablePointer<UInt32> = .allocate(capacity: 256)
    private let eventMasks: UnsafeMutablePointer<UInt32> = .allocate(capacity: 256)

    init(config: LoadConfig) throws {
        self.config = config
        requestSize = StunWire.requestSize(fingerprint: config.fingerprint)
        buffers = .allocate(byteCount: config.sockets * Self.bufferCapacity, alignment: 16)
        request = .allocate(byteCount: StunWire.requestStride, alignment: 16)
        epfd = rb_epoll_create()
        guard epfd >= 0 else { throw BenchError.posix("epoll_create1") }
        for c in 0..<config.sockets {
            let (fd, local) = try config.server.connectedSocket(type: Int32(SOCK_STREAM.rawValue))
            connections.append(Connection(fd: fd, local: local))
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            guard poll(&pfd, 1, 2000) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0, soError == 0 else {
                throw BenchError("TCP connect to \(config.server.text) failed: \(String(cString: strerror(soError == 0 ? ETIMEDOUT : soError)))")
            }
            guard rb_epoll_add_in(epfd, fd, UInt32(c)) == 0 else { throw BenchError.posix("epoll_ctl") }
        }
    }

    deinit {
        for c in connections where c.alive { close(c.fd) }
        if epfd >= 0 { close(epfd) }
        buffers.deallocate(); request.deallocate(); eventTokens.deallocate(); eventMasks.deallocate()
    }

    /// Runs warm-up plus measured interval; always returns by the deadline.
    func run() -> LoadResult {
        var invalidDuringWarmup: UInt64 = 0
        for c in 0..<connections.count { sendRequest(c) }
        let clock = runClosedLoop(epfd: epfd, config: config, tokens: eventTokens, masks: eventMasks,
                                  keepGoing: { connections.contains(where: { $0.alive }) }, onMeasurementStart: {
            invalidDuringWarmup = counters.invalid
            counters = LoadCounters()
            histogram.reset()
        }, onEvent: { receive(Int($0)) }, onScan: { now in
            for c in 0..<connections.count where connections[c].alive && connections[c].outstanding
                && now &- connections[c].sentAt > config.timeoutNanos {
                counters.lost += 1
                connections[c].lastLostCounter = connections[c].counter
                sendRequest(c)
            }
        })
        let endTime = monotonicNanos()
        return LoadResult(
            counters: counters, invalidDuringWarmup: invalidDuringWarmup,
            elapsedSeconds: Double(endTime - clock.actualStart) / 1e9, histogram: histogram,
            generatorCPUSeconds: ownCPUSeconds() - clock.cpuStart,
            serverStart: clock.serverStart, serverEnd: config.serverPid.flatMap { ServerSample.read(pid: $0) },
            transport: "tcp", sockets: config.sockets, window: config.sockets)
    }

    private func fail(_ c: Int) {
        counters.receiveErrors += 1
        connections[c].alive = false
        close(connections[c].fd)
    }

    private func sendRequest(_ c: Int) {
        StunWire.writeRequestTemplate(request, slot: UInt32(c), fingerprint: config.fingerprint)
        connections[c].counter = nextCounter
        nextCounter &+= 1
        StunWire.stamp(request, counter: connections[c].counter, crc: config.fingerprint ? crc : nil)
        connections[c].sentAt = monotonicNanos()
        connections[c].outstanding = true
        let written = Glibc.send(connections[c].fd, request, requestSize, Int32(MSG_NOSIGNAL))
        if written == requestSize { counters.sent += 1 } else { counters.sendErrors += 1; fail(c) }
    }

    private func receive(_ c: Int) {
        guard connections[c].alive else { return }
        let buf = buffers + c * Self.bufferCapacity
        let got = recv(connections[c].fd, buf + connections[c].filled, Self.bufferCapacity - connections[c].filled, 0)
        let receivedAt = monotonicNanos()
        if got < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard got > 0 else { fail(c); return }
        connections[c].filled += got
        var start = 0
        var answered = false
        while connections[c].filled - start >= StunWire.headerSize {
            let total = StunWire.headerSize + Int(StunWire.loadBE16(buf + start, 2))
            guard total <= Self.bufferCapacity else { counters.malformed += 1; fail(c); return }
            guard connections[c].filled - start >= total else { break }
            if handle(buf + start, count: total, connection: c, receivedAt: receivedAt) { answered = true }
            start += total
        }
        if start > 0 {
            let rest = connections[c].filled - start
            if rest > 0 { (buf).copyMemory(from: buf + start, byteCount: rest) }
            connections[c].filled = rest
        }
        if answered { sendRequest(c) }
    }

    /// Validates one framed message; true when it answered the outstanding request.
    private func handle(_ p: UnsafeMutableRawPointer, count: Int, connection c: Int, receivedAt: UInt64) -> Bool {
        guard StunWire.headerBodyLength(p, count: count) != nil else { counters.malformed += 1; return false }
        let counter = StunWire.loadBE64(p, 12)
        guard Int(StunWire.loadBE32(p, 8)) == c, connections[c].outstanding, connections[c].counter == counter else {
            if counter != 0 && counter == connections[c].lastLostCounter { counters.late += 1 } else { counters.badTxid += 1 }
            return false
        }
        connections[c].outstanding = false
        guard StunWire.loadBE16(p, 0) == StunWire.bindingSuccess else { counters.notSuccess += 1; return true }
        let verdict = StunWire.validateBody(p, count: count, expected: connections[c].local, crc: crc)
        counters.record(verdict, latencyNanos: receivedAt &- connections[c].sentAt, into: histogram)
        return true
    }
}
