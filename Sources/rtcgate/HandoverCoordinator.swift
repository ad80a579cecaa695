import CSystem
import Glibc
import Handover
import JSON
import Logging
import MediaPlane
import Reactor

/// The running rtcgate's side of a handover (docs/handover.md): it starts the new binary with
/// `--takeover SOCKET`, offers its listening sockets, pauses its workers and hands their state
/// and relay sockets over, leaves the broker and hands the signaling state over, and exits once
/// the new process is ready, or resumes serving if the new one refuses, fails or dies. Runs on
/// the main loop; every wait is bounded.
final class HandoverCoordinator: EventHandler, TimerHandler {
    enum Phase: String { case starting, offered, paused, serving, committed, failed }

    private unowned let daemon: GatewayDaemon
    private let loop: EventLoop
    private let logger: Logger
    let socketPath: String
    let child: pid_t
    private(set) var phase = Phase.starting
    private var listenFD: Int32
    private var listenRegistration: Registration?
    private var link: HandoverLink?
    private var linkRegistration: Registration?
    private var gate: HandoverGate?
    private var signalingSuspended = false
    private var phaseDeadline: UInt64
    private let readyTimeoutNanos: UInt64
    private(set) var pausedAt: UInt64?
    private(set) var servingAt: UInt64?
    private var childStatus: Int32?

    /// Creates the private socket (0600) and starts `binary`. Throws why it could not.
    init(daemon: GatewayDaemon, loop: EventLoop, binary: String, arguments: [String], socketPath: String,
         readyTimeoutSeconds: UInt64, logger: Logger) throws(HandoverRefusal) {
        self.daemon = daemon
        self.loop = loop
        self.logger = logger
        self.socketPath = socketPath
        readyTimeoutNanos = readyTimeoutSeconds * 1_000_000_000
        guard access(binary, X_OK) == 0 else { throw HandoverRefusal("\(binary) is not an executable file") }
        guard let address = SocketAddress(unixPath: socketPath) else { throw HandoverRefusal("handover socket path too long: \(socketPath)") }
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HandoverRefusal("socket: \(String(cString: strerror(errno)))") }
        let previous = umask(0o177)
        let bound = address.withSockAddr { bind(fd, $0, $1) }
        umask(previous)
        guard bound == 0, listen(fd, 1) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HandoverRefusal("cannot listen on \(socketPath): \(reason)")
        }
        listenFD = fd
        let argv = [binary, "run"] + arguments + ["--takeover", socketPath]
        guard let pid = Self.spawn(argv) else {
            close(fd)
            unlink(socketPath)
            throw HandoverRefusal("cannot start \(binary): \(String(cString: strerror(errno)))")
        }
        child = pid
        phaseDeadline = MonotonicClock.now() + 30_000_000_000
        listenRegistration = try? loop.register(fd: fd, events: EPOLLIN.rawValue, handler: self)
        _ = loop.timers.schedule(at: MonotonicClock.now() + 50_000_000, handler: self)
        logger.notice("handover: started \(binary) (pid \(pid))", metadata: ["socket": "\(socketPath)"])
    }

    /// posix_spawn with the default signal mask (this process blocks the ones it reads by signalfd).
    private static func spawn(_ argv: [String]) -> pid_t? {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], nil, &attributes, &cArguments, environ)
        if rc != 0 {
            errno = rc
            return nil
        }
        return pid
    }

    /// Gives up at once (this process is asked to stop): the new process is killed, the workers
    /// resume, so the shutdown that follows is an ordinary one.
    func abandon(_ reason: String) { fail(reason) }

    /// What `ctl status` shows while and after it runs.
    var report: JSONValue {
        var members: [(String, JSONValue)] = [("state", .string(phase.rawValue)), ("childPid", .number(JSONNumber(Int(child))))]
        if let pausedAt, let servingAt, servingAt > pausedAt { members.append(("pausedToServingMicros", .number(JSONNumber((servingAt - pausedAt) / 1_000)))) }
        return .object(members)
    }

    // MARK: Events

    func handleEvents(_ events: UInt32, loop: EventLoop) {
        if link == nil {
            accept()
            return
        }
        guard let link else { return }
        let message: HandoverMessage
        do {
            message = try link.receive()
        } catch {
            return fail("the new process closed the handover channel during '\(phase.rawValue)' (\(error))")
        }
        if childStatus != nil && message.step != .refuse {
            return fail("the new process exited during '\(phase.rawValue)'")
        }
        switch (phase, message.step) {
        case (.offered, .readyForState): pause()
        case (.paused, .serving):
            var reader = SnapshotReader(message.payload)
            servingAt = (try? reader.u64()) ?? MonotonicClock.now()
            phase = .serving
            // The new process's own bound starts later (after the signaling state and the
            // broker's set-up): it gives up first, and says so.
            phaseDeadline = MonotonicClock.now() + readyTimeoutNanos + 10_000_000_000
        case (.serving, .ready): commit()
        case (_, .refuse):
            fail("the new process refused: \(String(decoding: message.payload, as: UTF8.self))")
        default:
            message.descriptors.forEach { close($0) }
            fail("unexpected '\(message.step)' during '\(phase.rawValue)'")
        }
    }

    private func accept() {
        let fd = rtcgate_accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        guard fd >= 0 else { return }
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard rtcgate_peer_credentials(fd, &pid, &uid, &gid) == 0, uid == 0 || uid == geteuid(), pid == child else {
            logger.warning("handover: refused a connection from pid \(pid) uid \(uid) (only the started binary, as root or rtcgate's user)")
            close(fd)
            return
        }
        stopListening()
        let link = HandoverLink(channel: DescriptorChannel(fd: fd))
        self.link = link
        do {
            try link.channel.setReceiveTimeout(seconds: 2)
            try link.channel.setSendTimeout(seconds: 2)
            try HandoverOffer(pid: getpid(), version: Rtcgate.version, workers: daemon.handles.count,
                              nonceSecret: daemon.nonceSecret, sockets: daemon.handoverSockets()).send(on: link)
        } catch {
            return fail("cannot send the offer: \(error)")
        }
        HandoverFailpoint.hit("old-after-offer")
        phase = .offered
        phaseDeadline = MonotonicClock.now() + 60_000_000_000
        linkRegistration = try? loop.register(fd: fd, events: EPOLLIN.rawValue, handler: self)
    }

    /// Stops the workers reading, hands their state and relay sockets over, then leaves the
    /// broker and hands the signaling state over.
    private func pause() {
        guard let link else { return }
        let gate = HandoverGate()
        guard let states = MediaWorkerHandle.pauseForHandover(daemon.handles, gate: gate) else {
            return fail("a media worker did not pause within 2 s")
        }
        self.gate = gate
        pausedAt = states.map(\.pausedAt).min()
        phase = .paused
        HandoverFailpoint.hit("old-after-pause")
        do {
            try HandoverSnapshot(pausedAt: pausedAt ?? MonotonicClock.now(), workers: states.map(\.allocations),
                                 relays: states.flatMap(\.relays)).send(on: link)
        } catch {
            return fail(peerRefusal() ?? "cannot send the snapshot: \(error)")
        }
        HandoverFailpoint.hit("old-after-snapshot")
        var state: JSONValue = .null
        if let signaling = daemon.signaling {
            signaling.suspendForHandover()
            signalingSuspended = true
            state = signaling.router.handoverState()
        }
        // The workers published their counters as they paused: no need to ask them.
        let counters = daemon.metrics(fresh: false).carriedCounters.map { ($0.key, JSONValue.number(JSONNumber($0.value))) }
        let handed: JSONValue = ["signaling": state, "counters": .object(counters)]
        do {
            try link.send(.signalingState, SnapshotEnvelope.seal(handed.serialized()))
        } catch {
            return fail(peerRefusal() ?? "cannot send the signaling state: \(error)")
        }
        phaseDeadline = MonotonicClock.now() + 10_000_000_000
        logger.notice("handover: workers stopped reading; state sent", metadata: [
            "allocations": "\(states.reduce(0) { $0 + $1.allocationCount })", "relay_sockets": "\(states.reduce(0) { $0 + $1.relays.count })",
            "sessions": "\(daemon.signaling?.router.liveSessionCount ?? 0)",
        ])
    }

    private func commit() {
        HandoverFailpoint.hit("old-before-commit")
        var status: Int32 = 0
        if waitpid(child, &status, WNOHANG) == child {
            childStatus = status
            return fail("the new process exited right after it said ready")
        }
        do {
            try link?.send(.commit)
        } catch {
            return fail("cannot send the commit: \(error)")
        }
        phase = .committed
        closeLink()
        let micros = pausedAt.flatMap { paused in servingAt.map { $0 > paused ? ($0 - paused) / 1_000 : 0 } }
        logger.notice("handover complete: pid \(child) serves now; this process exits", metadata: [
            "stopped_reading_to_serving_us": "\(micros.map(String.init) ?? "-")",
        ])
        gate?.open(.drain, drainSeconds: daemon.configuration.management.handoverDrainSeconds)
        daemon.finishHandover()
    }

    /// Gives up: the new process is killed (if still there) before the workers read again, so
    /// no socket is ever read by both.
    private func fail(_ reason: String) {
        guard phase != .failed, phase != .committed else { return }
        let wasPaused = gate != nil
        phase = .failed
        stopListening()
        closeLink()
        if childStatus == nil {
            // Stopped first, so systemd hears this process is the main one again before the
            // successor (which may have claimed it) dies; then killed and reaped.
            kill(child, SIGSTOP)
            SystemdNotify.send("MAINPID=\(getpid())")
            kill(child, SIGKILL)
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            childStatus = status
        } else {
            SystemdNotify.send("MAINPID=\(getpid())")
        }
        gate?.open(.resume)
        gate = nil
        if signalingSuspended { daemon.signaling?.resumeAfterHandover() }
        signalingSuspended = false
        logger.error("handover failed: \(reason); this rtcgate keeps serving\(wasPaused ? " (workers resumed)" : "")")
        daemon.handoverEnded(failure: reason)
    }

    func timerFired(context: UInt64, now: UInt64) {
        guard phase != .failed, phase != .committed else { return }
        var status: Int32 = 0
        if childStatus == nil, waitpid(child, &status, WNOHANG) == child {
            childStatus = status
            let how = status & 0x7f == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(status & 0x7f)"
            // A refusal the child sent before exiting is read first.
            if let link, link.channel.hasPendingData { handleEvents(EPOLLIN.rawValue, loop: loop) }
            if phase != .failed { fail("the new process \(how) during '\(phase.rawValue)'") }
            return
        }
        if now >= phaseDeadline { return fail("timed out during '\(phase.rawValue)'") }
        _ = loop.timers.schedule(at: now + 50_000_000, handler: self)
    }

    /// The reason the new process gave, if it refused before closing (read without waiting).
    private func peerRefusal() -> String? {
        guard let link, link.channel.hasPendingData, let message = try? link.receive(), message.step == .refuse else { return nil }
        return "the new process refused: \(String(decoding: message.payload, as: UTF8.self))"
    }

    private func stopListening() {
        if let listenRegistration { loop.deregister(listenRegistration) }
        listenRegistration = nil
        if listenFD >= 0 {
            close(listenFD)
            unlink(socketPath)
            listenFD = -1
        }
    }

    private func closeLink() {
        if let linkRegistration { loop.deregister(linkRegistration) }
        linkRegistration = nil
        link = nil
    }
}

extension DescriptorChannel {
    /// Whether bytes wait to be read (without blocking).
    var hasPendingData: Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0 && descriptor.revents & Int16(POLLIN) != 0
    }
}
