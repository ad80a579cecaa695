import CSystem
import Glibc
import Reactor
import STUN
import Synchronization

/// What other threads may touch of a worker: its published counters, live settings and waker.
public final class MediaWorkerHandle: Sendable {
    /// The worker's number (0-based).
    public let id: Int
    /// Stops or wakes the worker's loop.
    public let waker: LoopWaker
    private let published = Mutex(MediaCounters())
    private let pendingRateLimit = Mutex<(rate: UInt32, burst: UInt32)?>(nil)

    init(id: Int, waker: LoopWaker) {
        self.id = id
        self.waker = waker
    }

    /// The counters as of the worker's last publication (at most one publish interval old).
    public var counters: MediaCounters { published.withLock { $0 } }

    /// Asks the worker to apply a new STUN rate limit at its next tick.
    public func setRateLimit(ratePerSecond: UInt32, burst: UInt32) {
        pendingRateLimit.withLock { $0 = (ratePerSecond, burst) }
    }

    func publish(_ counters: MediaCounters) { published.withLock { $0 = counters } }
    func takeRateLimit() -> (rate: UInt32, burst: UInt32)? { pendingRateLimit.withLock { value in defer { value = nil }; return value } }
}

/// One media worker: an event loop, a buffer pool, UDP sockets (SO_REUSEPORT, shared with the
/// other workers) and TCP listeners, and the STUN responder core. Owned by one thread.
public final class MediaWorker: StreamConnectionDelegate, TimerHandler {
    /// The thread-safe face of this worker.
    public let handle: MediaWorkerHandle
    /// The worker's loop.
    public let loop: EventLoop
    /// The UDP addresses actually bound (with kernel-chosen ports resolved).
    public private(set) var boundAddresses: [SocketAddress] = []
    /// The TCP listening addresses actually bound.
    public private(set) var streamAddresses: [SocketAddress] = []

    private let config: MediaWorkerConfig
    private let pool: BufferPool
    private var responder: BindingResponder
    private var counters = MediaCounters()
    private var udpSockets: [UDPSocket] = []
    private var listeners: [StreamListener] = []
    private let receiveBatch: DatagramBatch
    private let sendBatch: DatagramBatch
    private let sendSlots: [BufferSlot]
    private let tcpResponse: UnsafeMutableRawBufferPointer

    /// Binds every socket and reserves all memory; throws when a socket cannot be bound.
    public init(id: Int, config: MediaWorkerConfig) throws(SystemError) {
        self.config = config
        loop = try EventLoop(maxRegistrations: config.maxRegistrations)
        handle = MediaWorkerHandle(id: id, waker: loop.waker)
        pool = BufferPool(capacity: config.poolSlots, slotSize: config.poolSlotSize, headroom: config.poolHeadroom,
                          prefault: config.poolPrefault)
        responder = BindingResponder(config: config.responder)
        receiveBatch = DatagramBatch(capacity: config.udpBatch)
        sendBatch = DatagramBatch(capacity: config.udpBatch)
        var slots: [BufferSlot] = []
        for i in 0..<config.udpBatch {
            guard let rx = pool.acquire(), let tx = pool.acquire() else { throw SystemError("buffer pool too small", code: ENOMEM) }
            receiveBatch.setBuffer(i, pool.payload(of: rx))
            slots.append(tx)
        }
        sendSlots = slots
        tcpResponse = .allocate(byteCount: config.poolSlotSize, alignment: 16)
        counters.poolCapacity = UInt64(pool.capacity)
        for address in config.listenAddresses {
            if config.udp {
                let socket = try UDPSocket(bindTo: address, reusePort: true, bufferBytes: config.socketBufferBytes)
                udpSockets.append(socket)
                boundAddresses.append(socket.localAddress)
                _ = try loop.register(fd: socket.fd, events: EPOLLIN.rawValue, handler: UDPReadiness(worker: self, socket: socket))
            }
            if config.tcp {
                let listener = try StreamListener(
                    bindTo: address, loop: loop, maxConnections: config.tcpMaxConnections,
                    receiveBytes: config.tcpBufferBytes, sendBytes: config.tcpBufferBytes,
                    idleTimeoutSeconds: config.tcpIdleTimeoutSeconds, reusePort: true,
                    framer: { StunStreamFramer().decide($0) })
                listener.delegate = self
                listeners.append(listener)
                streamAddresses.append(listener.localAddress)
            }
        }
        loop.timers.schedule(at: MonotonicClock.now() + config.publishIntervalNanos, handler: self)
    }

    deinit { tcpResponse.deallocate() }

    /// Runs the loop until the handle's waker is stopped, then publishes final counters.
    public func run() {
        loop.run()
        for listener in listeners { listener.shutdown() }
        publish()
    }

    /// The current counters (only from the worker's own thread, or after `run` returned).
    public var currentCounters: MediaCounters {
        var snapshot = counters
        snapshot.stun = responder.counters
        snapshot.poolExhaustions = pool.exhaustions
        snapshot.poolInUse = UInt64(pool.used)
        for listener in listeners {
            snapshot.tcpAccepted &+= listener.counters.accepted
            snapshot.tcpRefusedFull &+= listener.counters.refusedFull
            for i in snapshot.tcpClosed.indices { snapshot.tcpClosed[i] &+= listener.counters.closed[i] }
            snapshot.tcpOpen &+= UInt64(listener.openConnections)
        }
        return snapshot
    }

    // MARK: UDP

    /// Moves batches until the socket is empty, bounded so TCP and timers still get their turn.
    fileprivate func drain(_ socket: UDPSocket) {
        for _ in 0..<64 {
            let received: Int
            do throws(SystemError) {
                received = try socket.receive(into: receiveBatch, count: receiveBatch.capacity)
            } catch {
                return
            }
            if received == 0 { return }
            counters.udpReceiveCalls &+= 1
            counters.udpDatagramsIn &+= UInt64(received)
            let now = MonotonicClock.now()
            var replies = 0
            for i in 0..<received {
                if receiveBatch.wasTruncated(at: i) {
                    counters.udpTruncated &+= 1
                    continue
                }
                let sourceStorage = receiveBatch.address(at: i)
                guard let source = TransportAddress(UnsafePointer(sourceStorage)) else {
                    counters.udpUnknownFamily &+= 1
                    continue
                }
                let out = pool.payload(of: sendSlots[replies])
                switch responder.handle(receiveBatch.received(at: i), from: source, now: now, into: out) {
                case .reply(let length):
                    sendBatch.setBuffer(replies, start: out.baseAddress!, length: length)
                    sendBatch.setAddress(replies, storage: sourceStorage, length: receiveBatch.addressLength(at: i))
                    replies += 1
                case .drop:
                    break
                }
            }
            if replies > 0 {
                let result = socket.send(sendBatch, count: replies)
                counters.udpDatagramsOut &+= UInt64(result.sent)
                counters.udpSendFailures &+= UInt64(result.failed)
            }
            if received < receiveBatch.capacity { return }
        }
    }

    // MARK: TCP

    public func stream(_ connection: StreamConnection, didReceive frame: UnsafeRawBufferPointer) {
        var storage = connection.peer.storage
        guard let source = TransportAddress(&storage) else { return }
        switch responder.handle(frame, from: source, now: MonotonicClock.now(), into: tcpResponse) {
        case .reply(let length):
            connection.send(UnsafeRawBufferPointer(rebasing: tcpResponse[0..<length]), loop: loop)
        case .drop:
            break
        }
    }

    public func streamDidClose(_ connection: StreamConnection, reason: StreamCloseReason) {}

    // MARK: Timers

    public func timerFired(context: UInt64, now: UInt64) {
        if let limit = handle.takeRateLimit() {
            responder.updateRateLimit(ratePerSecond: limit.rate, burst: limit.burst)
        }
        publish()
        loop.timers.schedule(at: now + config.publishIntervalNanos, handler: self)
    }

    private func publish() { handle.publish(currentCounters) }
}

/// Routes a UDP socket's readiness to its worker.
private final class UDPReadiness: EventHandler {
    unowned let worker: MediaWorker
    let socket: UDPSocket

    init(worker: MediaWorker, socket: UDPSocket) {
        self.worker = worker
        self.socket = socket
    }

    func handleEvents(_ events: UInt32, loop: EventLoop) { worker.drain(socket) }
}
