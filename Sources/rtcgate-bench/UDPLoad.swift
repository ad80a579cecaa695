import CBenchShim
import CSystem
import Glibc

/// Closed-loop STUN Binding load over UDP: `window` requests in flight spread
/// over `sockets` connected sockets, one thread, epoll, recvmmsg/sendmmsg.
///
/// Each in-flight request owns a *slot*; slots of one socket are contiguous.
/// A transaction id is slot index + global counter, so a response is matched
/// (and its slot retired and immediately reused) without any hashing.
/// All buffers are allocated up front; the loop allocates nothing.
final class UDPLoadGenerator {
    /// Per in-flight request state.
    struct Slot {
        var counter: UInt64 = 0
        var lastLostCounter: UInt64 = 0
        var sentAt: UInt64 = 0
        var socket: Int32 = 0
        var outstanding = false
    }


    private let config: LoadConfig
    private let crc = CRC32()
    private let histogram = LatencyHistogram()
    private var counters = LoadCounters()
    private var fds: [Int32] = []
    private var locals: [LocalAddress] = []
    private var socketFirstSlot: [Int] = []
    private var socketSlotCount: [Int] = []
    private let slotCount: Int
    private let maxSlotsPerSocket: Int
    private let requestSize: Int
    private var nextCounter: UInt64 = 1
    private var epfd: Int32 = -1

    // Pre-allocated buffers.
    private let slots: UnsafeMutablePointer<Slot>
    private let requestArea: UnsafeMutableRawPointer
    private let requestIov: UnsafeMutablePointer<iovec>
    private let sendHeaders: UnsafeMutablePointer<rtcgate_mmsghdr>
    private let pending: UnsafeMutablePointer<Int32>
    private let ring = ReceiveRing()
    private let eventTokens: UnsafeMutablePointer<UInt32>
    private let eventMasks: UnsafeMutablePointer<UInt32>

    init(config: LoadConfig) throws {
        self.config = config
        slotCount = config.window
        maxSlotsPerSocket = (config.window + config.sockets - 1) / config.sockets
        requestSize = StunWire.requestSize(fingerprint: config.fingerprint)
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        requestArea = .allocate(byteCount: slotCount * StunWire.requestStride, alignment: 16)
        requestIov = .allocate(capacity: slotCount)
        sendHeaders = .allocate(capacity: maxSlotsPerSocket)
        sendHeaders.initialize(repeating: rtcgate_mmsghdr(), count: maxSlotsPerSocket)
        pending = .allocate(capacity: maxSlotsPerSocket)
        eventTokens = .allocate(capacity: 256)
        eventMasks = .allocate(capacity: 256)
        epfd = rb_epoll_create()
        guard epfd >= 0 else { throw BenchError.posix("epoll_create1") }
        var first = 0
        for s in 0..<config.sockets {
            let count = config.window / config.sockets + (s < config.window % config.sockets ? 1 : 0)
            let (fd, local) = try config.server.connectedSocket(type: Int32(SOCK_DGRAM.rawValue))
            fds.append(fd); locals.append(local)
            socketFirstSlot.append(first); socketSlotCount.append(count)
            guard rb_epoll_add_in(epfd, fd, UInt32(s)) == 0 else { throw BenchError.posix("epoll_ctl") }
            for i in first..<(first + count) {
                slots[i].socket = Int32(s)
                let buf = requestArea + i * StunWire.requestStride
                StunWire.writeRequestTemplate(buf, slot: UInt32(i), fingerprint: config.fingerprint)
                requestIov[i] = iovec(iov_base: buf, iov_len: requestSize)
            }
            first += count
        }
    }

    deinit {
        for fd in fds { close(fd) }
        if epfd >= 0 { close(epfd) }
        slots.deallocate(); requestArea.deallocate(); requestIov.deallocate()
        sendHeaders.deallocate(); pending.deallocate(); eventTokens.deallocate(); eventMasks.deallocate()
    }

    /// Runs warm-up plus measured interval; always returns by the deadline.
    func run() -> LoadResult {
        var invalidDuringWarmup: UInt64 = 0
        for s in 0..<fds.count {
            let first = socketFirstSlot[s]
            for k in 0..<socketSlotCount[s] { pending[k] = Int32(first + k) }
            send(socket: s, count: socketSlotCount[s])
        }
        let clock = runClosedLoop(epfd: epfd, config: config, tokens: eventTokens, masks: eventMasks, onMeasurementStart: {
            invalidDuringWarmup = counters.invalid
            counters = LoadCounters()
            histogram.reset()
        }, onEvent: { drain(socket: Int($0)) }, onScan: { expireTimeouts(now: $0) })
        let endTime = monotonicNanos()
        let serverEnd = config.serverPid.flatMap { ServerSample.read(pid: $0) }
        return LoadResult(
            counters: counters, invalidDuringWarmup: invalidDuringWarmup,
            elapsedSeconds: Double(endTime - clock.actualStart) / 1e9, histogram: histogram,
            generatorCPUSeconds: ownCPUSeconds() - clock.cpuStart,
            serverStart: clock.serverStart, serverEnd: serverEnd,
            transport: "udp", sockets: config.sockets, window: config.window)
    }

    /// Receives everything queued on a socket, validates it and refills the window.
    private func drain(socket s: Int) {
        var retired = 0
        let ok = ring.drain(fds[s]) { datagram, length, receivedAt in
            if let slot = handle(datagram, count: length, socket: s, receivedAt: receivedAt) {
                pending[retired] = Int32(slot)
                retired += 1
            }
        }
        if !ok { counters.receiveErrors += 1 }
        if retired > 0 { send(socket: s, count: retired) }
    }

    /// Validates one datagram; returns the retired slot index, if any.
    @inline(__always)
    private func handle(_ p: UnsafeMutableRawPointer, count: Int, socket s: Int, receivedAt: UInt64) -> Int? {
        guard count >= 0, StunWire.headerBodyLength(p, count: count) != nil else {
            counters.malformed += 1
            return nil
        }
        let index = Int(StunWire.loadBE32(p, 8))
        let counter = StunWire.loadBE64(p, 12)
        guard index < slotCount, Int(slots[index].socket) == s else { counters.badTxid += 1; return nil }
        guard slots[index].outstanding, slots[index].counter == counter else {
            if counter != 0 && counter == slots[index].lastLostCounter { counters.late += 1 } else { counters.badTxid += 1 }
            return nil
        }
        slots[index].outstanding = false
        guard StunWire.loadBE16(p, 0) == StunWire.bindingSuccess else { counters.notSuccess += 1; return index }
        let verdict = StunWire.validateBody(p, count: count, expected: locals[s], crc: crc)
        counters.record(verdict, latencyNanos: receivedAt &- slots[index].sentAt, into: histogram)
        return index
    }

    /// Sends fresh requests for the `count` slots listed in `pending`.
    private func send(socket s: Int, count: Int) {
        let now = monotonicNanos()
        let crcForRequests: CRC32? = config.fingerprint ? crc : nil
        for k in 0..<count {
            let i = Int(pending[k])
            slots[i].counter = nextCounter
            nextCounter &+= 1
            slots[i].sentAt = now
            slots[i].outstanding = true
            StunWire.stamp(requestArea + i * StunWire.requestStride, counter: slots[i].counter, crc: crcForRequests)
            sendHeaders[k].msg_hdr.msg_iov = requestIov + i
            sendHeaders[k].msg_hdr.msg_iovlen = 1
        }
        // Unsent slots stay outstanding and are replaced by the timeout scan.
        let done = sendDatagrams(fds[s], sendHeaders, count: count)
        counters.sendErrors += UInt64(count - done)
        counters.sent += UInt64(done)
    }

    /// Counts requests older than the timeout as lost and replaces them.
    private func expireTimeouts(now: UInt64) {
        for s in 0..<fds.count {
            var count = 0
            let first = socketFirstSlot[s]
            for i in first..<(first + socketSlotCount[s]) where slots[i].outstanding {
                if now &- slots[i].sentAt > config.timeoutNanos {
                    counters.lost += 1
                    slots[i].lastLostCounter = slots[i].counter
                    slots[i].outstanding = false
                    pending[count] = Int32(i)
                    count += 1
                }
            }
            if count > 0 { send(socket: s, count: count) }
        }
    }
}
