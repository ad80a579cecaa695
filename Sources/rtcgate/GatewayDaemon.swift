import Control
import Gateway
import Glibc
import Handover
import JSON
import Logging
import MediaPlane
import Reactor
import STUN
import Signaling
import TLS
import TURN

/// Hands an object built on one thread to the thread that will own it from then on.
private struct OwnershipTransfer<Value>: @unchecked Sendable {
    let value: Value
}

/// The running daemon: media workers on their own threads, and the main loop that handles
/// signals, reloads and the periodic counter summary.
final class GatewayDaemon: TimerHandler, ManagedGateway {
    private(set) var configuration: GatewayConfiguration
    private let sources: ConfigSources
    let logger = Logger(label: "rtcgate")
    /// Set by `drain`: new sessions and allocations are refused.
    var isDraining = false
    private(set) var handles: [MediaWorkerHandle] = []
    /// The timer that retires the next REST secret (nil when none is pending).
    var retirementTimer: TimerID?
    /// Why the last reload was refused.
    var lastReloadError: String?
    /// The TLS certificate the workers use (nil without TLS); a reload swaps its content.
    var tlsStore: TLSContextStore?
    /// The counter-summary timer (none while `stats-interval` is 0).
    var summaryTimer: TimerID?
    private var threads: [WorkerThread] = []
    private(set) var mainLoop: EventLoop?
    private(set) var signaling: SignalingService?
    var realm: String { configuration.realm }
    private(set) var metricsListener: MetricsListener?
    private(set) var controlServer: ControlServer?
    private(set) var management: ManagementService?
    /// Replicates the provisioning store to the other instances of a cluster.
    private(set) var replicator: ClusterReplicator?
    /// The provisioning store (nil when `state-dir` is empty).
    private(set) var store: ProvisioningStore?
    /// TURN relay running in the workers (fixed at start-up).
    private(set) var turnRunning = false
    let startedAt = MonotonicClock.now()
    /// The binary this process was started from, as a path (the default of `ctl upgrade`: after
    /// a package upgrade it is the new binary; /proc/self/exe would name the replaced one).
    let executablePath = GatewayDaemon.ownExecutable()
    /// `run`'s arguments, for the successor of a handover.
    let runArguments = GatewayDaemon.ownRunArguments()
    /// The running handover, if any (docs/handover.md).
    var coordinator: HandoverCoordinator?
    /// Set once a successor took over: the shutdown leaves the shared sockets alone.
    private(set) var handedOver = false
    /// The last handover as `ctl status` shows it.
    var lastHandover: JSONValue?
    /// The listening sockets of the workers, in creation order (the offer of a handover).
    private(set) var workerSockets: [InheritedSockets.Entry] = []
    /// Workers built and not yet running on their threads.
    private var builtWorkers: [MediaWorker] = []
    /// The TURN nonce key (carried over by a handover, so nonces stay valid).
    private(set) var nonceSecret: [UInt8] = []
    /// The successor's side of a handover (`run --takeover`), until it completes.
    private(set) var takeover: TakeoverSession?
    /// Counter totals a handover carried over (added to this process's own in `metrics`).
    var carriedCounters: [String: UInt64] = [:]
    /// Whether the listeners answered the successor's readiness probe.
    var listenersAnswer = false

    func markHandedOver() { handedOver = true }
    /// Whether this process is not (or no longer) in the middle of taking over.
    var takeoverComplete: Bool { takeover?.isComplete ?? true }


    init(configuration: GatewayConfiguration, sources: ConfigSources) {
        self.configuration = configuration
        self.sources = sources
    }

    /// Runs until SIGTERM/SIGINT, or until a successor took over; returns the process exit
    /// status. With `takeoverSocket`, this process replaces the running rtcgate listening there
    /// (docs/handover.md).
    func run(takeoverSocket: String? = nil) -> Int32 {
        GatewayLogHandler.sharedLevel.store(GatewayLogHandler.levelCode(configuration.logLevel), ordering: .relaxed)
        SignalSource.blockSignals()
        if let takeoverSocket {
            switch TakeoverSession.begin(path: takeoverSocket, logger: logger) {
            case .refused: return 3
            case .alone: break
            case .offered(let session): takeover = session
            }
        }
        do {
            try openStore()
            var media = try configuration.mediaConfig(provisioned: provisioned())
            if let takeover { try takeover.adapt(&media, workers: configuration.resolvedWorkers) }
            nonceSecret = media.turn?.nonceSecret ?? []
            turnRunning = media.turn != nil
            let loop = try EventLoop(maxRegistrations: 64, timerCapacity: 512)
            mainLoop = loop
            let signals = try SignalSource(loop: loop) { [unowned self] signal in self.handleSignal(signal) }
            try buildWorkers(media)
            try takeover?.receiveState(into: builtWorkers)
            try startWorkerThreads()
            takeover?.reportServing()
            tlsStore = media.tls?.store
            logger.info("rtcgate \(Rtcgate.version) serving STUN", metadata: [
                "listening": "\(workersAddresses(media))",
                "transports": "\([media.udp ? "udp" : nil, media.tcp ? "tcp" : nil, media.tls != nil ? "tls" : nil].compactMap { $0 }.joined(separator: "+"))",
                "tls_ports": "\(media.tls?.ports.map(String.init).joined(separator: ",") ?? "off")",
                "workers": "\(handles.count)",
                "reserved_kib": "\(MemoryReport(configuration: configuration, media: media).reservedBytes / 1024)",
            ])
            if let context = tlsStore?.context { logCertificate(context, event: "TURN over TLS certificate") }
            let handed = takeover?.receiveSignalingState()
            let handedSignaling = handed?["signaling"]
            for (key, value) in handed?["counters"]?.objectValue ?? [] { carriedCounters[key] = value.numberValue.flatMap { UInt64($0.text) } }
            if configuration.signaling.enabled {
                let service = try SignalingService(settings: try configuration.signalingSettings(media: media, provisioned: provisioned()),
                                                   loop: loop)
                signaling = service
                if let handedSignaling, handedSignaling != .null {
                    do {
                        try service.router.restoreHandoverState(handedSignaling, nowMs: MonotonicClock.now() / 1_000_000)
                    } catch {
                        logger.error("handover: signaling state refused (\(error)): signaling starts empty")
                    }
                }
                if let instance = configuration.signaling.clusterInstance, let store {
                    let replicator = ClusterReplicator(
                        instance: instance, topics: service.node.topics, store: store,
                        publishRetained: { [unowned service] topic, payload in
                            service.client.publish(topic: topic, payload: payload, retain: true, expirySeconds: 0)
                        },
                        applied: { [unowned self] in self.applyProvisioning() })
                    self.replicator = replicator
                    service.onClusterState = { [unowned replicator] key, payload in replicator.received(key: key, payload: payload) }
                    service.onConnected = { [unowned replicator, unowned loop] in replicator.connected(loop: loop) }
                }
                service.paths.onRelayAddresses = { [unowned self] hosts in
                    // The cluster's relays reach each other's relayed addresses (docs/paths.md).
                    let ranges = hosts.compactMap { AddressRange($0) }
                    for handle in self.handles { handle.send(.admitPeers(ranges)) }
                    self.logger.info("paths: relays of the cluster admitted as peers", metadata: ["addresses": "\(hosts.joined(separator: ","))"])
                }
                service.start()
                logger.info("signaling plane starting", metadata: [
                    "broker": "\(configuration.signaling.mqttHost ?? ""):\(configuration.signaling.mqttPort)",
                    "clients": "\(service.router.policy.count)",
                    "prefix": "\(configuration.signaling.topicPrefix)",
                ])
            }
            // A successor serves the control socket only once the old process has let go of it
            // (`takeoverCompleted`): until then provisioning stays with the old one.
            if takeover == nil { try startManagement(loop: loop) }
            if let listen = configuration.management.metricsListen {
                metricsListener = try MetricsListener(address: try MetricsListener.address(listen), loop: loop) { [unowned self] in
                    self.metrics().prometheusText
                }
                logger.info("metrics on http://\(listen)/metrics")
            }
            scheduleSummary(loop: loop)
            armSecretRetirement()
            closeUnclaimedSockets(keepingControl: takeover != nil)
            if let takeover {
                takeover.awaitReadiness(daemon: self, loop: loop, timeoutSeconds: configuration.management.handoverTimeoutSeconds)
            } else {
                SystemdNotify.send("READY=1")
            }
            loop.run()
            withExtendedLifetime(signals) {}
        } catch let error as HandoverRefusal {
            logger.critical("cannot take over: \(error)")
            stopWorkers()
            return 3
        } catch let error as ProvisioningError {
            logger.critical("cannot start: provisioning store: \(error)")
            takeover?.giveUp("cannot start: provisioning store: \(error)")
            stopWorkers()
            return 2
        } catch let error as ConfigError {
            logger.critical("configuration invalid: \(error)")
            takeover?.giveUp("configuration invalid: \(error)")
            stopWorkers()
            return 2
        } catch {
            logger.critical("cannot start: \(error)")
            takeover?.giveUp("cannot start: \(error)")
            stopWorkers()
            return 1
        }
        if handedOver {
            // The successor serves on the same sockets: close this process's descriptors only.
            controlServer?.relinquish()
            stopWorkers()
            logSummary(final: true)
            logger.info("rtcgate handed over and stopped")
            return 0
        }
        controlServer?.shutdown()
        stopWorkers()
        logSummary(final: true)
        logger.info("rtcgate stopped")
        return 0
    }

    /// Opens (and locks) the store; a corrupt, newer or locked store stops the start.
    private func openStore() throws(ProvisioningError) {
        let directory = configuration.management.stateDirectory
        guard !directory.isEmpty else { return }
        let opened = try ProvisioningStore(directory: directory)
        store = opened
        let state = opened.state
        logger.info("provisioning store loaded", metadata: [
            "path": "\(opened.filePath)", "revision": "\(state.revision)", "devices": "\(state.devices.count)",
            "turn_users": "\(state.turnUsers.count)", "rest_secrets": "\(state.restSecrets.count)",
        ])
    }

    /// The control socket (and, with the state directory, the provisioning store).
    func startManagement(loop: EventLoop) throws {
        let options = configuration.management
        guard !options.controlSocket.isEmpty else { return }
        let service = ManagementService(gateway: self)
        var settings = ControlServerConfiguration(path: options.controlSocket)
        settings.mode = mode_t(options.controlMode)
        settings.maxClients = options.controlMaxClients
        settings.sendLimitBytes = ManagementOptions.controlSendLimitBytes
        if let group = options.controlGroup {
            guard let gid = ControlAccessPolicy.groupId(named: group) ?? gid_t(group) else {
                throw ConfigError(origin: "control-group", message: "no group '\(group)'")
            }
            settings.access = ControlAccessPolicy(groupId: gid)
        }
        controlServer = try ControlServer(configuration: settings, loop: loop, handler: service)
        management = service
        logger.info("control socket ready", metadata: ["path": "\(options.controlSocket)", "mode": "\(String(options.controlMode, radix: 8))"])
    }

    private func workersAddresses(_ media: MediaWorkerConfig) -> String {
        media.listenAddresses.map(\.description).joined(separator: ",")
    }

    /// Builds the workers (binding, or adopting a handover's sockets) so bind errors surface
    /// before anything runs.
    private func buildWorkers(_ media: MediaWorkerConfig) throws {
        if takeover == nil {
            for address in media.listenAddresses {
                try PortProbe.ensureAvailable(address, udp: media.udp, tcp: media.tcp)
                for port in media.tls?.ports ?? [] { try PortProbe.ensureAvailable(address.withPort(port), udp: false, tcp: true) }
            }
        }
        for id in 0..<configuration.resolvedWorkers {
            let worker = try MediaWorker(id: id, config: media)
            if id == 0 { logSocketBuffers(worker, media: media) }
            handles.append(worker.handle)
            workerSockets += worker.listeningSockets
            builtWorkers.append(worker)
        }
    }

    /// Hands each built worker to its thread, which owns it from then on.
    private func startWorkerThreads() throws {
        for worker in builtWorkers {
            let transfer = OwnershipTransfer(value: worker)
            threads.append(try WorkerThread(name: "rtcgate-media\(worker.handle.id)") { transfer.value.run() })
        }
        builtWorkers.removeAll()
    }

    /// Every socket a successor takes over, in the order it creates them: the workers' listeners,
    /// the control socket, the metrics listener, and the provisioning store's lock.
    func handoverSockets() -> [InheritedSockets.Entry] {
        var entries = workerSockets
        if let controlServer { entries.append(.init(kind: .unixListener, key: configuration.management.controlSocket, fd: controlServer.listeningDescriptor)) }
        if let metricsListener {
            entries.append(.init(kind: .streamListener, key: metricsListener.listener.localAddress.description, fd: metricsListener.listener.descriptor))
        }
        if let store { entries.append(.init(kind: .lockFile, key: store.directory + "/lock", fd: store.lockDescriptor)) }
        return entries
    }

    /// Waits until every worker has run the commands sent so far, so what a reply or log line
    /// says was applied is in force (each worker answers within one loop turn; a wedged one is given 1 s).
    func synchronizeWorkers() {
        for id in MediaWorkerHandle.synchronize(handles) {
            logger.warning("media worker \(id) did not answer within 1 s")
        }
    }

    private func stopWorkers() {
        for handle in handles { handle.waker.stop() }
        for thread in threads { thread.join() }
        threads.removeAll()
    }

    private func handleSignal(_ signal: Int32) {
        switch signal {
        case SIGHUP:
            reload()
        case SIGUSR2:
            logger.notice("signal SIGUSR2: handing over to \(executablePath)")
            do throws(ControlFailure) {
                _ = try upgrade(binary: nil)
            } catch {
                logger.error("handover not started: \(error.message)")
            }
        default:
            logger.notice("signal \(signal == SIGTERM ? "SIGTERM" : "SIGINT"): shutting down")
            // A handover in progress ends first: the new process is killed and the workers resume
            // (old side), or the old process is told to resume (new side).
            if let coordinator, coordinator.phase != .failed, coordinator.phase != .committed {
                coordinator.abandon("stop requested")
            }
            if let takeover, !takeover.isComplete { takeover.giveUp("stop requested") }
            signaling?.shutdown(graceSeconds: configuration.signaling.goAwayGraceSeconds)
            mainLoop?.waker.stop()
        }
    }

    /// Re-reads every source and applies what can change live: log level, STUN rate limit,
    /// summary interval, signaling clients. Anything else needs a restart and is reported as
    /// such. Returns what was applied, or nil when the new configuration is invalid.
    @discardableResult
    func reload() -> JSONValue? {
        let fresh: GatewayConfiguration
        var freshSignaling: SignalingSettings?
        let media: MediaWorkerConfig
        do {
            fresh = try sources.load()
            media = try fresh.mediaConfig(provisioned: provisioned())
            if fresh.signaling.enabled { freshSignaling = try fresh.signalingSettings(media: media, provisioned: provisioned()) }
        } catch {
            lastReloadError = "\(error)"
            logger.error("reload refused, keeping the running configuration: \(error)")
            return nil
        }
        lastReloadError = nil
        if let running = tlsStore, let context = media.tls?.store.context {
            running.replace(context)
            logCertificate(context, event: "certificate loaded for new TLS connections")
        }
        GatewayLogHandler.sharedLevel.store(GatewayLogHandler.levelCode(fresh.logLevel), ordering: .relaxed)
        for handle in handles {
            handle.setRateLimit(ratePerSecond: fresh.media.responder.ratePerSecond, burst: fresh.media.responder.burst)
        }
        let summaryInterval = configuration.statsIntervalSeconds
        var restartFor = configuration.applyLive(from: fresh)
        if configuration.statsIntervalSeconds != summaryInterval, let mainLoop { scheduleSummary(loop: mainLoop) }
        if !turnRunning && fresh.turnEnabled { restartFor.append("TURN (not running since start-up)") }
        applyProvisioning()
        synchronizeWorkers()  // the reply and the log line below mean the new limit is in force
        if let signaling, let freshSignaling { signaling.updatePolicy(freshSignaling.policy) }
        let restartNeeded = !restartFor.isEmpty
        logger.notice("reloaded", metadata: [
            "log_level": "\(fresh.logLevel.rawValue)",
            "stun_rate_limit": "\(fresh.media.responder.ratePerSecond)/s burst \(fresh.media.responder.burst)",
            "signal_clients": "\(configuration.signaling.clients.count)",
            "turn_users": "\(configuration.turn.users.count)",
            "turn_secrets": "\(configuration.turn.staticAuthSecrets.count)",
            "restart_needed": "\(restartNeeded ? "yes (\(restartFor.joined(separator: ", ")) changed)" : "no")",
        ])
        return ["logLevel": .string(fresh.logLevel.rawValue), "signalClients": .number(JSONNumber(configuration.signaling.clients.count)),
                "restartNeeded": .bool(restartNeeded), "restartFor": .array(restartFor.map(JSONValue.string))]
    }

    /// (Re-)arms the counter summary for `stats-interval` from now; none while it is 0.
    private func scheduleSummary(loop: EventLoop) {
        if let summaryTimer { loop.timers.cancel(summaryTimer) }
        summaryTimer = nil
        guard configuration.statsIntervalSeconds > 0 else { return }
        summaryTimer = loop.timers.schedule(at: MonotonicClock.now() + configuration.statsIntervalSeconds * 1_000_000_000,
                                            handler: self, context: MainTimer.summary.rawValue)
    }

    /// Timer contexts of the main loop: the counter summary, and the retirement of REST secrets
    /// at the end of their overlap (armed only while one is pending).
    enum MainTimer: UInt64 { case summary = 0, secretRetirement = 1, drainWatch = 2 }

    func timerFired(context: UInt64, now: UInt64) {
        if context == MainTimer.drainWatch.rawValue { return watchDrain() }
        if context == MainTimer.secretRetirement.rawValue {
            retirementTimer = nil
            armSecretRetirement(retryAfter: pruneRetiredSecrets() ? 0 : 30)
            return
        }
        summaryTimer = nil
        if configuration.statsIntervalSeconds > 0 { logSummary(final: false) }
        if let mainLoop { scheduleSummary(loop: mainLoop) }
    }
}
