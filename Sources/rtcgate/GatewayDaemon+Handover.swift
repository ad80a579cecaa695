import Control
import Glibc
import Handover
import JSON
import MediaPlane
import Reactor

/// The handover of docs/handover.md, seen from the daemon: starting one (`ctl upgrade`,
/// SIGUSR2), its end on either side, and the successor's readiness check.
extension GatewayDaemon {
    /// The path of the binary that is running, resolved while it still names this binary.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments.first ?? "rtcgate" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The arguments after `run`, without a previous `--takeover SOCKET`.
    static func ownRunArguments() -> [String] {
        let arguments = CommandLine.arguments
        guard let run = arguments.firstIndex(of: "run") else { return [] }
        var rest: [String] = []
        var index = run + 1
        while index < arguments.count {
            if arguments[index] == "--takeover" {
                index += 2
                continue
            }
            if !arguments[index].hasPrefix("--takeover=") { rest.append(arguments[index]) }
            index += 1
        }
        return rest
    }

    /// Closes what the old process handed over and this configuration does not use (the
    /// control socket is kept while a takeover waits for it).
    func closeUnclaimedSockets(keepingControl: Bool) {
        let kinds = Set([InheritedSockets.Kind.udpListener, .streamListener, .lockFile, .relay].map(\.rawValue))
        for entry in InheritedSockets.closeUnclaimed(keepingControl ? kinds : nil) {
            logger.notice("handover: the running rtcgate's \(entry.key) is not in this configuration: closed")
        }
    }

    /// The takeover is over: this process serves the control socket from now on.
    func takeoverCompleted() {
        guard controlServer == nil, let mainLoop else { return }
        do {
            try startManagement(loop: mainLoop)
        } catch {
            logger.error("control socket not served after the handover: \(error)")
        }
        closeUnclaimedSockets(keepingControl: false)
    }

    /// Starts a handover to `binary` (default: the binary this process was started from).
    func upgrade(binary: String?) throws(ControlFailure) -> JSONValue {
        if let coordinator, coordinator.phase != .failed {
            throw ControlFailure(.busy, "a handover to pid \(coordinator.child) is in progress")
        }
        guard takeover == nil || takeoverComplete else { throw ControlFailure(.busy, "this process is still taking over") }
        guard let mainLoop else { throw ControlFailure(.unavailable, "not running") }
        let path = binary ?? executablePath
        do throws(HandoverRefusal) {
            let started = try HandoverCoordinator(daemon: self, loop: mainLoop, binary: path, arguments: runArguments,
                                                  socketPath: handoverSocketPath(), readyTimeoutSeconds: configuration.management.handoverTimeoutSeconds,
                                                  logger: logger)
            coordinator = started
            lastHandover = nil
            return ["started": true, "binary": .string(path), "childPid": .number(JSONNumber(Int(started.child))),
                    "pid": .number(JSONNumber(Int(getpid())))]
        } catch {
            throw ControlFailure(.unavailable, "handover not started: \(error)")
        }
    }

    /// Whether this process hands over (until it fails or commits) or takes over (until complete).
    var handoverInProgress: Bool {
        if let coordinator, coordinator.phase != .failed, coordinator.phase != .committed { return true }
        return !takeoverComplete
    }

    /// Beside the control socket (the runtime directory), else in the state directory, else /tmp.
    private func handoverSocketPath() -> String {
        let control = configuration.management.controlSocket
        let directory: String
        if let slash = control.lastIndex(of: "/"), !control.isEmpty {
            directory = String(control[..<slash]).isEmpty ? "/" : String(control[..<slash])
        } else if !configuration.management.stateDirectory.isEmpty {
            directory = configuration.management.stateDirectory
        } else {
            directory = "/tmp"
        }
        return directory + "/handover-\(getpid()).sock"
    }

    /// The successor serves: this process lets go of the control socket and the metrics
    /// listener, and stays only while its workers serve the TCP/TLS connections that cannot be
    /// handed over (at most `handover-drain`); `run` then closes this process's descriptors only.
    func finishHandover() {
        markHandedOver()
        lastHandover = coordinator?.report
        controlServer?.relinquish()
        metricsListener?.listener.shutdown()
        signaling?.paths.stop()  // the successor probes the relay links now
        // The store is the new process's now: no more writes from here (REST-secret retirement).
        if let retirementTimer, let mainLoop { mainLoop.timers.cancel(retirementTimer) }
        retirementTimer = nil
        // The workers published their counters as they paused.
        let connections = handles.reduce(UInt64(0)) { $0 + $1.counters.tcpOpen + $1.counters.tls.open }
        if connections > 0 {
            logger.notice("handover: \(connections) TCP/TLS connection(s) stay with this process until they close",
                          metadata: ["at_most_s": "\(configuration.management.handoverDrainSeconds)"])
        }
        watchDrain()
    }

    /// Ends this process once every worker has finished draining (checked every second).
    func watchDrain() {
        guard let mainLoop else { return }
        if handles.allSatisfy({ $0.finished.load(ordering: .acquiring) }) {
            mainLoop.waker.stop()
        } else {
            _ = mainLoop.timers.schedule(at: MonotonicClock.now() + 1_000_000_000, handler: self, context: MainTimer.drainWatch.rawValue)
        }
    }

    /// The handover failed; this process serves on.
    func handoverEnded(failure: String) {
        var report = coordinator?.report.objectValue ?? []
        report.append(("reason", .string(failure)))
        lastHandover = .object(report)
    }

    /// Why the successor is not ready yet (nil: ready): the listeners answer a STUN Binding and
    /// the broker is connected.
    func readinessProblem() -> String? {
        if !listenersAnswer { listenersAnswer = probeListeners() }
        if !listenersAnswer { return "the STUN listeners do not answer" }
        if let signaling, !signaling.client.isConnected {
            return "the broker \(signaling.client.config.host):\(signaling.client.config.port) is not connected"
        }
        return nil
    }

    /// One Binding request to each UDP listening address (loopback for a wildcard), 500 ms each.
    private func probeListeners() -> Bool {
        for address in workerSockets.filter({ $0.kind == .udpListener }).map(\.key) {
            guard var target = SocketAddress(hostPort: address) else { continue }
            if target.host == "0.0.0.0" { target = SocketAddress(ip: "127.0.0.1", port: target.port) ?? target }
            if target.host == "::" { target = SocketAddress(ip: "::1", port: target.port) ?? target }
            if !BindingProbe.answers(target, timeoutMillis: 500) { return false }
        }
        return true
    }

    /// The successor failed its readiness check while the old process waits: stop reading,
    /// tell the old process to resume, and exit.
    func abandonTakeover(reason: String, session: TakeoverSession) {
        logger.critical("handover abandoned: \(reason); the running rtcgate (pid \(session.offer.pid)) resumes")
        for handle in handles { handle.waker.stop() }
        session.giveUp(reason)
        exit(1)
    }
}

/// Sends a STUN Binding request and waits for the matching success response.
enum BindingProbe {
    static func answers(_ target: SocketAddress, timeoutMillis: Int32) -> Bool {
        let fd = socket(target.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var request: [UInt8] = [0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]
        for _ in 0..<12 { request.append(UInt8.random(in: 0...255)) }
        let sent = request.withUnsafeBytes { bytes in target.withSockAddr { sendto(fd, bytes.baseAddress, bytes.count, 0, $0, $1) } }
        guard sent == request.count else { return false }
        let deadline = MonotonicClock.now() + UInt64(timeoutMillis) * 1_000_000
        var reply = [UInt8](repeating: 0, count: 512)
        while MonotonicClock.now() < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let waitMillis = Int32(max(1, (deadline - MonotonicClock.now()) / 1_000_000))
            guard poll(&descriptor, 1, waitMillis) > 0 else { continue }
            let n = recv(fd, &reply, reply.count, 0)
            if n >= 20, reply[0] == 1, reply[1] == 1, Array(reply[8..<20]) == Array(request[8..<20]) { return true }
        }
        return false
    }
}
