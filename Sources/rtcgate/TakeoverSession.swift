import CSystem
import Glibc
import Handover
import JSON
import Logging
import MediaPlane
import Reactor

/// Crashes this process at a named step of a handover when `RTCGATE_HANDOVER_CRASH_AT` names it,
/// or stalls it there for 60 s with `RTCGATE_HANDOVER_STALL_AT` (the suite kills or hangs each
/// side at each step this way; docs/handover.md lists the steps).
enum HandoverFailpoint {
    static func hit(_ step: String) {
        if let value = getenv("RTCGATE_HANDOVER_CRASH_AT"), String(cString: value) == step { kill(getpid(), SIGKILL) }
        if let value = getenv("RTCGATE_HANDOVER_STALL_AT"), String(cString: value) == step { sleep(60) }
    }
}

/// The successor's side of a handover (`rtcgate run --takeover SOCKET`, docs/handover.md): it
/// takes the offer, builds around the inherited sockets, takes the state, serves, proves ready
/// and waits for the old process to leave. If the old process vanishes on the way, this one
/// serves with what it got.
final class TakeoverSession: EventHandler, TimerHandler {
    let link: HandoverLink
    let offer: HandoverOffer
    private let logger: Logger
    /// False once the old process's end of the channel closed.
    private(set) var oldAlive = true
    private(set) var pausedAt: UInt64?
    private(set) var servingAt: UInt64 = 0
    private(set) var restoredAllocations = 0
    private(set) var droppedAllocations = 0
    private var readySent = false
    private var completed = false
    /// Whether the takeover is over (the old process left, or vanished).
    var isComplete: Bool { completed }
    private var registration: Registration?
    private var deadline: UInt64 = 0
    private weak var daemon: GatewayDaemon?
    private weak var loop: EventLoop?

    /// How `begin` went.
    enum Start {
        /// This build cannot take over (the old process was told and serves on): exit.
        case refused
        /// The old process went away before offering anything: start as usual.
        case alone
        case offered(TakeoverSession)
    }

    private init(link: HandoverLink, offer: HandoverOffer, logger: Logger) {
        self.link = link
        self.offer = offer
        self.logger = logger
    }

    /// Connects to the old process and reads its offer.
    static func begin(path: String, logger: Logger) -> Start {
        guard let fd = connect(path) else {
            logger.warning("handover: cannot reach the running rtcgate at \(path): starting on our own")
            return .alone
        }
        let link = HandoverLink(channel: DescriptorChannel(fd: fd))
        let message: HandoverMessage
        do {
            try link.channel.setReceiveTimeout(seconds: 10)
            message = try link.receive()
        } catch {
            logger.warning("handover: no offer from the running rtcgate (\(error)): starting on our own")
            return .alone
        }
        do throws(HandoverRefusal) {
            let offer = try HandoverOffer.read(message)
            InheritedSockets.offer(offer.sockets)  // the store's lock is claimed first
            logger.notice("handover: taking over from rtcgate \(offer.version) (pid \(offer.pid))",
                          metadata: ["sockets": "\(offer.sockets.count)", "workers": "\(offer.workers)"])
            return .offered(TakeoverSession(link: link, offer: offer, logger: logger))
        } catch {
            logger.critical("handover refused: \(error)")
            try? link.send(.refuse, Array(error.description.utf8))
            return .refused
        }
    }

    private static func connect(_ path: String) -> Int32? {
        guard let address = SocketAddress(unixPath: path) else { return nil }
        let deadline = MonotonicClock.now() + 5_000_000_000
        while MonotonicClock.now() < deadline {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { return nil }
            if address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0 { return fd }
            close(fd)
            usleep(20_000)
        }
        return nil
    }

    /// Refuses the handover: the old process serves on.
    func refuse(_ reason: String) -> HandoverRefusal {
        logger.critical("handover refused: \(reason); the running rtcgate (pid \(offer.pid)) keeps serving")
        try? link.send(.refuse, Array(reason.utf8))
        InheritedSockets.closeUnclaimed()
        return HandoverRefusal(reason)
    }

    /// Checks the layout and takes the nonce key, then makes the sockets claimable.
    func adapt(_ media: inout MediaWorkerConfig, workers: Int) throws(HandoverRefusal) {
        guard workers == offer.workers else {
            throw refuse("this configuration runs \(workers) media workers, the running rtcgate \(offer.workers): a handover keeps the workers (restart instead)")
        }
        if media.turn != nil, offer.nonceSecret.count >= 16 { media.turn?.nonceSecret = offer.nonceSecret }
        HandoverFailpoint.hit("new-after-offer")
    }

    /// Asks for the state and restores it into the (not yet running) workers.
    func receiveState(into workers: [MediaWorker]) throws(HandoverRefusal) {
        let message: HandoverMessage
        do {
            try link.channel.setSendTimeout(seconds: 2)
            try link.send(.readyForState)
            message = try link.receive()
        } catch {
            // Silent but there: its workers may still read, so this process must not. Gone: serve.
            if DescriptorChannel.isTimeout(error) { throw refuse("no state from the running rtcgate within 10 s") }
            oldAlive = false
            logger.warning("handover: the running rtcgate went away before its state arrived (\(error)): serving without it")
            InheritedSockets.closeUnclaimed([InheritedSockets.Kind.relay.rawValue])
            return
        }
        let snapshot: HandoverSnapshot
        do {
            snapshot = try HandoverSnapshot.read(message)
        } catch {
            throw refuse(error.description)
        }
        guard snapshot.workers.count == workers.count else {
            snapshot.relays.forEach { close($0.fd) }
            throw refuse("the snapshot has \(snapshot.workers.count) workers, this configuration \(workers.count)")
        }
        InheritedSockets.offer(snapshot.relays)
        for (worker, bytes) in zip(workers, snapshot.workers) {
            do {
                let (restored, dropped) = try worker.restoreHandover(bytes)
                restoredAllocations += restored
                droppedAllocations += dropped
            } catch {
                throw refuse("\(error)")
            }
        }
        let leftover = InheritedSockets.closeUnclaimed([InheritedSockets.Kind.relay.rawValue])
        if droppedAllocations > 0 || !leftover.isEmpty {
            logger.warning("handover: \(droppedAllocations) allocation(s) could not be restored (table full or relay socket missing)")
        }
        pausedAt = snapshot.pausedAt
        HandoverFailpoint.hit("new-after-snapshot")
    }

    /// Tells the old process this one's workers read the sockets now.
    func reportServing() {
        servingAt = MonotonicClock.now()
        guard oldAlive else { return }
        var out = SnapshotWriter()
        out.u64(servingAt)
        do { try link.send(.serving, out.bytes) } catch { oldAlive = false }
        HandoverFailpoint.hit("new-after-serving")
    }

    /// The signaling router's state, once the old process has left the broker (nil: none came).
    func receiveSignalingState() -> JSONValue? {
        guard oldAlive else { return nil }
        do {
            try link.channel.setReceiveTimeout(seconds: 5)
            let message = try link.receive()
            guard message.step == .signalingState else {
                logger.error("handover: expected the signaling state, got \(message.step)")
                return nil
            }
            return try JSONParser.parse(try SnapshotEnvelope.open(message.payload))
        } catch let error as SystemError {
            // Its workers are paused already (it sent the snapshot): a silent old process is
            // not a reader, only a slow one. Signaling then starts empty.
            oldAlive = DescriptorChannel.isTimeout(error)
            logger.warning("handover: no signaling state from the running rtcgate (\(error)): signaling starts empty")
        } catch {
            logger.error("handover: the signaling state cannot be read (\(error)): signaling starts empty")
        }
        return nil
    }

    /// Polls the readiness check every 10 ms until `timeoutSeconds`, and watches the channel.
    func awaitReadiness(daemon: GatewayDaemon, loop: EventLoop, timeoutSeconds: UInt64) {
        self.daemon = daemon
        self.loop = loop
        deadline = MonotonicClock.now() + timeoutSeconds * 1_000_000_000
        if oldAlive { registration = try? loop.register(fd: link.channel.fd, events: EPOLLIN.rawValue, handler: self) }
        _ = loop.timers.schedule(at: MonotonicClock.now(), handler: self)
    }

    func timerFired(context: UInt64, now: UInt64) {
        guard !completed, !readySent, let daemon, let loop else { return }
        if let reason = daemon.readinessProblem() {
            if now < deadline {
                _ = loop.timers.schedule(at: now + 10_000_000, handler: self)
            } else if oldAlive {
                daemon.abandonTakeover(reason: "not ready within the bound: \(reason)", session: self)
            } else {
                logger.warning("handover: not ready yet (\(reason)), but the old process is gone: serving on")
                complete()
            }
            return
        }
        HandoverFailpoint.hit("new-before-ready")
        // systemd learns the new main process before the old one exits (it reads notifications
        // ahead of SIGCHLD), so the service never looks dead in between.
        SystemdNotify.send("MAINPID=\(getpid())")
        readySent = true
        guard oldAlive else { return complete() }
        do { try link.send(.ready) } catch { complete() }
    }

    func handleEvents(_ events: UInt32, loop: EventLoop) {
        let message = try? link.receive()
        if message?.step == .commit || message == nil {
            if let registration { loop.deregister(registration) }
            registration = nil
            oldAlive = false
            if readySent || message?.step == .commit { complete() }
        }
    }

    private func complete() {
        guard !completed else { return }
        completed = true
        if let registration, let loop { loop.deregister(registration) }
        registration = nil
        let micros = pausedAt.map { servingAt > $0 ? (servingAt - $0) / 1_000 : 0 }
        logger.notice("handover complete: took over from rtcgate \(offer.version) (pid \(offer.pid))", metadata: [
            "stopped_reading_to_serving_us": "\(micros.map(String.init) ?? "-")",
            "allocations": "\(restoredAllocations)", "allocations_dropped": "\(droppedAllocations)",
            "sessions": "\(daemon?.signaling?.router.liveSessionCount ?? 0)",
        ])
        daemon?.lastHandover = [
            "state": "took-over", "fromPid": .number(JSONNumber(Int(offer.pid))), "fromVersion": .string(offer.version),
            "pausedToServingMicros": micros.map { .number(JSONNumber($0)) } ?? .null,
            "allocationsRestored": .number(JSONNumber(restoredAllocations)), "allocationsDropped": .number(JSONNumber(droppedAllocations)),
        ]
        SystemdNotify.send("MAINPID=\(getpid())\nREADY=1")
        daemon?.takeoverCompleted()
    }

    /// Tells the old process to resume (this one is leaving); nothing once the takeover is over.
    func giveUp(_ reason: String) {
        guard !completed, oldAlive else { return }
        try? link.send(.refuse, Array(reason.utf8))
    }
}

/// sd_notify(3) without libsystemd: a datagram to `$NOTIFY_SOCKET` (a path, or `@name` for the
/// abstract namespace). Nothing happens outside systemd.
enum SystemdNotify {
    static func send(_ state: String) {
        guard let value = getenv("NOTIFY_SOCKET") else { return }
        var path = String(cString: value)
        guard !path.isEmpty else { return }
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: abstract ? [0] + bytes : bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 1 : 0))
        _ = state.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), 0, $0, length) }
            }
        }
    }
}
