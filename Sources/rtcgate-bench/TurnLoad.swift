import CBenchShim
import CSystem
import Glibc

/// How the generator relays its payloads.
enum TurnMode: String, CaseIterable {
    /// ChannelData to a bound channel; replies must be ChannelData on the same channel.
    case channel
    /// Send indications after CreatePermission; replies must be Data indications from the echo peer.
    case send
    /// No traffic: hold the allocations for the duration (RSS with N allocations).
    case hold
}

/// Counters of the measured interval of a TURN run.
struct TurnCounters {
    /// Valid round trips.
    var roundTrips: UInt64 = 0
    var sent: UInt64 = 0
    /// Messages outstanding longer than the timeout (then replaced).
    var lost: UInt64 = 0
    /// Replies to messages already counted lost.
    var late: UInt64 = 0
    var sendErrors: UInt64 = 0
    var receiveErrors: UInt64 = 0
    /// Datagrams the echo peer returned, and those it could not (socket buffer full).
    var echoed: UInt64 = 0
    var echoDrops: UInt64 = 0
    /// Open loop (`rate`): messages due that could not go because every slot was in flight.
    var rateSkips: UInt64 = 0
    /// Invalid replies by `TurnWire.Invalid` reason.
    var invalidByReason = [UInt64](repeating: 0, count: TurnWire.Invalid.allCases.count)

    var invalid: UInt64 { invalidByReason.reduce(0, +) }
}

/// Everything a TURN load run measured (after the warm-up).
struct TurnResult {
    var counters: TurnCounters
    var invalidDuringWarmup: UInt64
    var elapsedSeconds: Double
    var histogram: LatencyHistogram
    var generatorCPUSeconds: Double
    var serverStart: ServerSample?
    var serverEnd: ServerSample?
}

/// Closed-loop relay load: `window` payloads in flight per allocation, each over its own
/// client socket, through the server's relay to the echo peer and back. One thread, epoll,
/// recvmmsg/sendmmsg; all buffers allocated up front, nothing allocated per message. Over TCP
/// or TLS (`links`) each allocation is one connection; messages go back to back, ChannelData
/// padded to 4 bytes, and each refill of the window is written with one `send`.
///
/// Slot `a * window + k` is the k-th in-flight message of allocation `a`; its request
/// buffer holds the whole datagram, so a reply is checked byte for byte against it.
final class TurnLoadGenerator {
    struct Slot {
        var counter: UInt64 = 0
        var lastLostCounter: UInt64 = 0
        var sentAt: UInt64 = 0
        var outstanding = false
    }

    static let echoToken = UInt32.max

    private let config: LoadConfig
    private let mode: TurnMode
    private let allocations: Int
    private let window: Int
    private let payload: Int
    private let fds: [Int32]
    private let echo: EchoPeer
    private let histogram = LatencyHistogram()
    private var counters = TurnCounters()
    private var nextCounter: UInt64 = 1
    private var epfd: Int32 = -1
    /// Offset of the payload in a request datagram, message size, buffer stride.
    private let payloadOffset: Int
    private let messageSize: Int
    private let stride: Int

    private let slots: UnsafeMutablePointer<Slot>
    private let requestArea: UnsafeMutableRawPointer
    private let requestIov: UnsafeMutablePointer<iovec>
    private let sendHeaders: UnsafeMutablePointer<rtcgate_mmsghdr>
    private let pending: UnsafeMutablePointer<Int32>
    private let ring = ReceiveRing()
    private let eventTokens: UnsafeMutablePointer<UInt32>
    private let eventMasks: UnsafeMutablePointer<UInt32>
    private let segmenter: SegmentedSender?
    /// Stream transports: allocation a's connection, whether it watches POLLOUT, whether it failed.
    private let links: [StreamLink]?
    private var watchingOutput: [Bool]
    private var broken: [Bool]
    /// Bytes per message on a stream (ChannelData padded), and a staging area for `batchRecords`.
    private let streamSize: Int
    private let batchRecords: Bool
    private let staging: UnsafeMutableRawPointer
    /// Open loop: total messages per second (0: closed loop), the slots free per allocation,
    /// when pacing started and how many messages were due so far.
    private let rate: Double
    private var freeSlots: [[Int32]]
    private var paceStart: UInt64 = 0
    private var paced: UInt64 = 0

    /// `fds[a]` is allocation a's client socket (connected to the server, channel 0x4000+a bound
    /// or permission for the echo peer installed); with `links`, `links[a].fd`. `batchRecords`:
    /// one TLS record per refill instead of one per message.
    /// `rate` > 0: open loop, that many messages per second in all, sent whatever the replies
    /// do (paced every millisecond, spread over the allocations); `window` bounds those in flight.
    init(config: LoadConfig, mode: TurnMode, window: Int, payload: Int, fds: [Int32], echo: EchoPeer,
         segmentation: Bool = false, links: [StreamLink]? = nil, batchRecords: Bool = false, rate: Double = 0) throws {
        precondition(mode != .hold)
        precondition(rate == 0 || links == nil, "open loop over UDP only")
        self.rate = rate
        freeSlots = (0..<fds.count).map { _ in rate > 0 ? (0..<Int32(window)).reversed() : [] }
        segmenter = segmentation ? SegmentedSender(capacity: window) : nil
        self.config = config
        self.mode = mode
        self.allocations = fds.count
        self.window = window
        self.payload = payload
        self.fds = fds
        self.echo = echo
        payloadOffset = mode == .channel ? 4 : TurnWire.sendPrefix
        let maxSize = payloadOffset + ((payload + 3) & ~3)
        stride = (maxSize + 63) & ~63
        let slotCount = allocations * window
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        requestArea = .allocate(byteCount: slotCount * stride, alignment: 64)
        requestIov = .allocate(capacity: slotCount)
        sendHeaders = .allocate(capacity: window)
        sendHeaders.initialize(repeating: rtcgate_mmsghdr(), count: window)
        pending = .allocate(capacity: window)
        eventTokens = .allocate(capacity: 256)
        eventMasks = .allocate(capacity: 256)
        self.links = links
        self.batchRecords = batchRecords
        watchingOutput = [Bool](repeating: false, count: fds.count)
        broken = watchingOutput
        streamSize = payloadOffset + ((payload + 3) & ~3)
        staging = .allocate(byteCount: window * stride, alignment: 64)
        for link in links ?? [] { link.reserveOutput(window * (stride + 64) + 16_384) }
        var size = 0
        for a in 0..<allocations {
            for k in 0..<window {
                let buf = requestArea + (a * window + k) * stride
                (buf + payloadOffset + payload).initializeMemory(as: UInt8.self, repeating: 0, count: stride - payloadOffset - payload)
                TurnWire.writePayloadTemplate(buf + payloadOffset, size: payload, allocation: a, slot: k)
                if mode == .channel {
                    TurnWire.writeChannelHeader(buf, channel: UInt16(0x4000 + a), payload: payload)
                    size = 4 + payload
                } else {
                    size = TurnWire.writeSendIndication(buf, peer: echo.address, payload: payload)
                }
                requestIov[a * window + k] = iovec(iov_base: buf, iov_len: size)
            }
        }
        messageSize = size
        epfd = rb_epoll_create()
        guard epfd >= 0 else { throw BenchError.posix("epoll_create1") }
        for a in 0..<allocations {
            guard rb_epoll_add_in(epfd, fds[a], UInt32(a)) == 0 else { throw BenchError.posix("epoll_ctl") }
        }
        guard rb_epoll_add_in(epfd, echo.fd, Self.echoToken) == 0 else { throw BenchError.posix("epoll_ctl") }
    }

    deinit {
        if epfd >= 0 { close(epfd) }
        slots.deallocate(); requestArea.deallocate(); requestIov.deallocate()
        sendHeaders.deallocate(); pending.deallocate(); eventTokens.deallocate(); eventMasks.deallocate()
        staging.deallocate()
    }

    /// Runs warm-up plus measured interval; always returns by the deadline.
    func run() -> TurnResult {
        var invalidDuringWarmup: UInt64 = 0
        if rate == 0 {
            for a in 0..<allocations {
                for k in 0..<window { pending[k] = Int32(k) }
                send(allocation: a, count: window)
            }
        }
        paceStart = monotonicNanos()
        let clock = runClosedLoop(epfd: epfd, config: config, tokens: eventTokens, masks: eventMasks, onMeasurementStart: {
            invalidDuringWarmup = counters.invalid
            counters = TurnCounters()
            histogram.reset()
        }, onEvent: { token in
            if token == Self.echoToken { echo.drain(&counters) } else { drain(allocation: Int(token)) }
        }, onScan: { expireTimeouts(now: $0) }, pace: rate > 0 ? { self.pace(now: $0) } : nil)
        let endTime = monotonicNanos()
        let serverEnd = config.serverPid.flatMap { ServerSample.read(pid: $0) }
        return TurnResult(
            counters: counters, invalidDuringWarmup: invalidDuringWarmup,
            elapsedSeconds: Double(endTime - clock.actualStart) / 1e9, histogram: histogram,
            generatorCPUSeconds: ownCPUSeconds() - clock.cpuStart,
            serverStart: clock.serverStart, serverEnd: serverEnd)
    }

    /// Receives everything queued on an allocation's socket, validates it, refills the window.
    private func drain(allocation a: Int) {
        if let links { return drain(links[a], allocation: a) }
        var retired = 0
        let ok = ring.drain(fds[a]) { datagram, length, receivedAt in
            let k = handle(datagram, count: length, allocation: a, receivedAt: receivedAt)
            if k >= 0 {
                pending[retired] = Int32(k)
                retired += 1
            }
        }
        if !ok { counters.receiveErrors += 1 }
        if retired > 0 { refill(allocation: a, count: retired) }
    }

    /// Closed loop: the retired slots go out again at once. Open loop: they wait for `pace`.
    private func refill(allocation a: Int, count: Int) {
        if rate == 0 { return send(allocation: a, count: count) }
        for j in 0..<count { freeSlots[a].append(pending[j]) }
    }

    /// Open loop: sends what is due by now, spread over the allocations.
    private func pace(now: UInt64) {
        let due = UInt64(Double(now &- paceStart) * rate / 1e9)
        guard due > paced else { return }
        let total = Int(min(due - paced, UInt64(allocations * window)))
        paced = due
        for a in 0..<allocations {
            let quota = total / allocations + (a < total % allocations ? 1 : 0)
            let n = min(quota, freeSlots[a].count)
            for j in 0..<n { pending[j] = freeSlots[a].removeLast() }
            if n > 0 { send(allocation: a, count: n) }
            counters.rateSkips += UInt64(quota - n)
        }
    }

    @inline(__always)
    private func invalid(_ reason: TurnWire.Invalid) -> Int {
        counters.invalidByReason[reason.rawValue] &+= 1
        return -1
    }

    /// Validates one datagram received on allocation `a`'s socket; returns the retired slot
    /// (0..<window) or -1.
    @inline(__always)
    private func handle(_ p: UnsafeMutableRawPointer, count: Int, allocation a: Int, receivedAt: UInt64) -> Int {
        guard count >= 4 else { return invalid(.malformed) }
        let data: UnsafeMutableRawPointer
        if mode == .channel {
            let first = p.load(as: UInt8.self) & 0xC0
            guard first == 0x40 else {
                return invalid(first == 0 && count >= 20 && StunWire.loadBE32(p, 4) == StunWire.magicCookie ? .unexpectedStun : .malformed)
            }
            guard Int(StunWire.loadBE16(p, 0)) == 0x4000 + a else { return invalid(.wrongChannel) }
            let length = Int(StunWire.loadBE16(p, 2))
            guard length == payload, count >= 4 + length, count <= 4 + ((length + 3) & ~3) else { return invalid(.badLength) }
            data = p + 4
        } else {
            switch TurnWire.dataIndicationPayload(p, count: count, peer: echo.address) {
            case .failure(let why): return invalid(why.reason)
            case .success(let found):
                guard found.length == payload else { return invalid(.badLength) }
                data = p + found.offset
            }
        }
        guard Int(StunWire.loadBE32(data, 0)) == a else { return invalid(.wrongAllocation) }
        let k = Int(StunWire.loadBE32(data, 4))
        guard k < window else { return invalid(.corrupt) }
        let i = a * window + k
        let counter = StunWire.loadBE64(data, 8)
        guard slots[i].outstanding, slots[i].counter == counter else {
            if counter != 0 && counter == slots[i].lastLostCounter { counters.late += 1; return -1 }
            return invalid(counter != 0 && counter <= slots[i].counter ? .duplicate : .unknownSequence)
        }
        slots[i].outstanding = false
        guard memcmp(data, requestArea + i * stride + payloadOffset, payload) == 0 else {
            _ = invalid(.corrupt)
            return k
        }
        counters.roundTrips += 1
        histogram.record(nanos: receivedAt &- slots[i].sentAt)
        return k
    }

    /// Sends fresh messages for the `count` slots of allocation `a` listed in `pending`.
    private func send(allocation a: Int, count: Int) {
        let now = monotonicNanos()
        for j in 0..<count {
            let i = a * window + Int(pending[j])
            slots[i].counter = nextCounter
            nextCounter &+= 1
            slots[i].sentAt = now
            slots[i].outstanding = true
            let buf = requestArea + i * stride
            StunWire.storeBE64(buf + payloadOffset, 8, slots[i].counter)
            StunWire.storeBE64(buf + payloadOffset, 16, now)
            if mode == .send { StunWire.storeBE64(buf, 12, slots[i].counter) }
            sendHeaders[j].msg_hdr.msg_iov = requestIov + i
            sendHeaders[j].msg_hdr.msg_iovlen = 1
        }
        if let links { return send(links[a], allocation: a, count: count) }
        // Unsent slots stay outstanding and are replaced by the timeout scan.
        var done = 0
        var segmented: Int?
        if let segmenter {
            for j in 0..<count { segmenter.gather[j] = requestIov[a * window + Int(pending[j])] }
            segmented = segmenter.send(fds[a], vectors: segmenter.gather, count: count)
        }
        if let segmented, let segmenter, segmenter.enabled || segmented == count {
            done = segmented
        } else {
            // No segmentation (off, or a single datagram), or refused part-way: resume one by one.
            done = segmented ?? 0
            done += sendDatagrams(fds[a], sendHeaders + done, count: count - done)
        }
        counters.sendErrors += UInt64(count - done)
        counters.sent += UInt64(done)
    }

    /// Stream: flushes what waits, reads and validates every whole frame, refills the window.
    private func drain(_ link: StreamLink, allocation a: Int) {
        guard !broken[a] else { return }
        if link.hasPendingOutput { flush(link, allocation: a) }
        var retired = 0
        var more = true
        while more && !broken[a] {
            let received = link.receive()
            more = link.mayHaveMore
            let receivedAt = monotonicNanos()
            var unframeable = false
            while let frame = link.nextFrame(invalid: &unframeable) {
                let k = handle(frame.start, count: frame.count, allocation: a, receivedAt: receivedAt)
                if k >= 0 { pending[retired] = Int32(k); retired += 1 }
            }
            if unframeable { _ = invalid(.malformed) }
            switch received {
            case .closed, .failed: counters.receiveErrors += 1; markBroken(a)
            case .data, .wouldBlock: if unframeable { markBroken(a) }
            }
        }
        if retired > 0 && !broken[a] { send(allocation: a, count: retired) }
    }

    /// Stream: queues the slots listed in `pending` (records per message or one per batch) and flushes.
    private func send(_ link: StreamLink, allocation a: Int, count: Int) {
        var done = 0
        if !broken[a] && batchRecords {
            for j in 0..<count {
                (staging + j * streamSize).copyMemory(from: requestArea + (a * window + Int(pending[j])) * stride, byteCount: streamSize)
            }
            if link.enqueue(staging, count: count * streamSize) { done = count }
        } else if !broken[a] {
            for j in 0..<count where link.enqueue(requestArea + (a * window + Int(pending[j])) * stride, count: streamSize) { done += 1 }
        }
        counters.sendErrors += UInt64(count - done)
        counters.sent += UInt64(done)
        flush(link, allocation: a)
    }

    /// Sends what the link holds; watches POLLOUT while some waits.
    private func flush(_ link: StreamLink, allocation a: Int) {
        guard !broken[a] else { return }
        let step = link.flush()
        if case .failed = step { counters.sendErrors += 1; return markBroken(a) }
        let waiting = step == .wantWrite
        if waiting != watchingOutput[a] {
            watchingOutput[a] = waiting
            _ = rb_epoll_mod(epfd, link.fd, UInt32(a), waiting ? 1 : 0)
        }
    }

    /// A connection that failed stops taking part (its slots then count as lost and send errors).
    private func markBroken(_ a: Int) {
        broken[a] = true
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fds[a], nil)
    }

    /// Counts messages older than the timeout as lost and replaces them.
    private func expireTimeouts(now: UInt64) {
        for a in 0..<allocations {
            var count = 0
            for k in 0..<window {
                let i = a * window + k
                // (`now` may predate a send made since: an open-loop tick sends before the scan)
                if slots[i].outstanding && now > slots[i].sentAt &+ config.timeoutNanos {
                    counters.lost += 1
                    slots[i].lastLostCounter = slots[i].counter
                    slots[i].outstanding = false
                    pending[count] = Int32(k)
                    count += 1
                }
            }
            if count > 0 { refill(allocation: a, count: count) }
        }
    }
}
