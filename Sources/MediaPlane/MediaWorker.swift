import CSystem
import Glibc
import Reactor
import STUN
import Synchronization
import TLS
import TURN

/// What other threads may touch of a worker: its published counters, live settings and waker.
public final class MediaWorkerHandle: Sendable {
    /// The worker's number (0-based).
    public let id: Int
    /// Stops or wakes the worker's loop.
    public let waker: LoopWaker
    private let published = Mutex(MediaCounters())
    let mailbox: WorkerMailbox
    let nextTicket = Atomic<UInt64>(0)
    /// Set when the worker's `run` has returned.
    public let finished = Atomic<Bool>(false)

    init(id: Int, waker: LoopWaker) throws(SystemError) {
        self.id = id
        self.waker = waker
        mailbox = try WorkerMailbox()
    }

    /// The counters as of the worker's last publication (at most one publish interval old).
    public var counters: MediaCounters { published.withLock { $0 } }

    /// Asks the worker to apply a new STUN rate limit (within one loop turn).
    public func setRateLimit(ratePerSecond: UInt32, burst: UInt32) {
        mailbox.post(.setRateLimit(ratePerSecond: ratePerSecond, burst: burst))
    }

    func publish(_ counters: MediaCounters) { published.withLock { $0 = counters } }
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
    /// The TCP and TLS listening addresses actually bound (TLS ones from `tlsListenerStart`).
    public private(set) var streamAddresses: [SocketAddress] = []
    /// Index of the first TLS listener in `listeners`/`streamAddresses`.
    public private(set) var tlsListenerStart = 0
    /// The kernel's receive and send buffer sizes of the listening UDP sockets, and whether a
    /// requested size was capped by the system maximum (nil without UDP).
    public var socketBuffers: (receiveBytes: Int, sendBytes: Int, capped: Bool)? {
        udpSockets.first.map { ($0.receiveBufferBytes, $0.sendBufferBytes, udpSockets.contains(where: \.bufferCapped)) }
    }

    let config: MediaWorkerConfig
    let pool: BufferPool
    var responder: BindingResponder
    var counters = MediaCounters()
    /// Whether the expiry timer is armed.
    var expiryArmed = false
    /// Whether the drain check (after a handover) is armed.
    var drainCheckArmed = false
    var udpSockets: [UDPSocket] = []
    /// Their registrations with the loop (dropped when a handover leaves this worker draining).
    var udpRegistrations: [Registration] = []
    /// Set while the worker serves only its TCP/TLS connections after a handover, until this time.
    var drainDeadline: UInt64?
    /// Each UDP socket's own address, as the server side of client 5-tuples.
    var udpServerAddresses: [TransportAddress] = []
    var listeners: [StreamListener] = []
    let receiveBatch: DatagramBatch
    let sendBatch: DatagramBatch
    let sendSlots: [BufferSlot]
    let tcpResponse: UnsafeMutableRawBufferPointer
    /// The TURN relay, when configured.
    var turn: TurnRuntime?
    /// Sessions and handshake budgets of the TLS listeners.
    var tlsSessions: TLSSessionFactory?

    /// Binds every socket and reserves all memory; throws when a socket cannot be bound.
    public init(id: Int, config: MediaWorkerConfig) throws(SystemError) {
        self.config = config
        loop = try EventLoop(maxRegistrations: config.maxRegistrations)
        handle = try MediaWorkerHandle(id: id, waker: loop.waker)
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
                let socket = try UDPSocket(bindTo: address, reusePort: true, bufferBytes: config.socketBufferBytes,
                                           segmentation: config.udpSegmentation)
                udpSockets.append(socket)
                boundAddresses.append(socket.localAddress)
                udpServerAddresses.append(TransportAddress(socket.localAddress)!)
                udpRegistrations.append(try loop.register(fd: socket.fd, events: EPOLLIN.rawValue,
                                                          handler: SocketReadiness(worker: self, kind: .listening, index: udpSockets.count - 1)))
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
        tlsListenerStart = listeners.count
        if let tls = config.tls {
            let factory = TLSSessionFactory(store: tls.store, totalPerSecond: tls.handshakesPerSecond,
                                            perSourcePerSecond: tls.handshakesPerSourcePerSecond,
                                            perSourceBurst: tls.handshakesPerSourceBurst)
            tlsSessions = factory
            for address in config.listenAddresses {
                for port in tls.ports {
                    let listener = try StreamListener(
                        bindTo: address.withPort(port), loop: loop, maxConnections: tls.maxConnections,
                        receiveBytes: config.tcpBufferBytes, sendBytes: config.tcpBufferBytes,
                        idleTimeoutSeconds: config.tcpIdleTimeoutSeconds, reusePort: true,
                        sessions: factory, handshakeTimeoutMillis: tls.handshakeTimeoutMillis,
                        framer: { StunStreamFramer().decide($0) })
                    listener.delegate = self
                    listeners.append(listener)
                    streamAddresses.append(listener.localAddress)
                }
            }
        }
        if let settings = config.turn {
            turn = try TurnRuntime(settings: settings, worker: id, workers: config.workerCount, pool: pool, batch: config.udpBatch,
                                   socketBufferBytes: config.relaySocketBufferBytes, segmentation: config.udpSegmentation, prefault: config.poolPrefault, loop: loop,
                                   makeHandler: { [unowned self] index in SocketReadiness(worker: self, kind: .relay, index: index) })
        }
        _ = try loop.register(fd: handle.mailbox.eventFD, events: EPOLLIN.rawValue, handler: MailboxReadiness(worker: self))
    }

    deinit { tcpResponse.deallocate() }

    /// Runs the loop until the handle's waker is stopped, then publishes final counters.
    public func run() {
        loop.run()
        for listener in listeners { listener.shutdown() }
        publish()
        handle.finished.store(true, ordering: .releasing)
    }

    /// The current counters (only from the worker's own thread, or after `run` returned).
    public var currentCounters: MediaCounters {
        var snapshot = counters
        snapshot.stun = responder.counters
        snapshot.poolExhaustions = pool.exhaustions
        snapshot.poolInUse = UInt64(pool.used)
        snapshot.addSegmentation(of: sendBatch)
        if let turn {
            snapshot.addSegmentation(of: turn.peerBatch)
            snapshot.turn = turn.core.counters
            snapshot.turnAllocations = UInt64(turn.core.allocations.count)
            snapshot.turnRelayExhaustions = turn.relays.exhaustions
            snapshot.turnRelaySendFailures = turn.relaySendFailures
        }
        for listener in listeners[..<tlsListenerStart] {
            snapshot.tcpAccepted &+= listener.counters.accepted
            snapshot.tcpRefusedFull &+= listener.counters.refusedFull
            for i in snapshot.tcpClosed.indices { snapshot.tcpClosed[i] &+= listener.counters.closed[i] }
            snapshot.tcpOpen &+= UInt64(listener.openConnections)
        }
        for listener in listeners[tlsListenerStart...] { snapshot.tls.add(listener) }
        return snapshot
    }

    // MARK: TCP

    public func stream(_ connection: StreamConnection, didReceive frame: UnsafeRawBufferPointer) {
        var storage = connection.peer.storage
        guard let source = TransportAddress(&storage), let server = listenerAddress(of: connection) else { return }
        let tuple = FiveTuple(client: source, server: server, transport: .tcp)
        if let length = handleClientMessage(frame, from: tuple, now: MonotonicClock.now(), into: tcpResponse, connection: connection) {
            connection.send(UnsafeRawBufferPointer(rebasing: tcpResponse[0..<length]), loop: loop)
        }
        flushToPeers()  // the frame's bytes are only valid during this call
        // (TLS replies leave when the connection has read everything: StreamListener.flushQueued)
    }

    /// Sends the TLS records queued while handling a batch.
    func flushStreams() {
        var index = tlsListenerStart
        while index < listeners.count {
            listeners[index].flushQueued()
            index += 1
        }
    }

    public func streamDidClose(_ connection: StreamConnection, reason: StreamCloseReason) {
        turn?.connectionClosed(connection)
        if drainDeadline != nil { endDrainIfDone(now: MonotonicClock.now()) }
    }

    /// The listening address a connection came in on (the server side of its 5-tuple).
    private func listenerAddress(of connection: StreamConnection) -> TransportAddress? {
        for (index, listener) in listeners.enumerated() where listener.owns(connection) {
            return TransportAddress(streamAddresses[index])
        }
        return nil
    }

    // MARK: Timers

    /// The expiry timer runs once a second while TURN holds allocations or EVEN-PORT
    /// reservations, and not at all otherwise: an idle worker sleeps in epoll_wait. Counters are
    /// published when the main thread asks (`MediaWorkerHandle.synchronize`), not on a beat.
    public func timerFired(context: UInt64, now: UInt64) {
        if context == Self.drainTimer {
            drainCheckArmed = false
            return endDrainIfDone(now: now)
        }
        expiryArmed = false
        turn?.expire(now: now)
        armExpiryIfNeeded(now: now)
    }

    /// Arms the expiry timer if TURN holds something that can expire and it is not armed.
    func armExpiryIfNeeded(now: UInt64) {
        guard !expiryArmed, let turn, turn.holdsExpiringState else { return }
        expiryArmed = loop.timers.schedule(at: now + Self.expiryIntervalNanos, handler: self) != nil
    }

    /// How often expired allocations and reservations are swept while there are any.
    static let expiryIntervalNanos: UInt64 = 1_000_000_000

    func publish() { handle.publish(currentCounters) }
}
