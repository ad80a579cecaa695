import ArgumentParser
import Glibc

/// `rtcgate-bench signal`: open-loop MQTT signaling load through rtcgate, against the broker hop
/// alone as the baseline.
struct SignalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signal",
        abstract: "Open-loop MQTT signaling load: CANDIDATES through rtcgate vs. the broker hop alone.",
        discussion: """
            Connects --clients clients (pairs bench-d-NNNN / bench-v-NNNN, broker user = client id) to \
            the broker on 127.0.0.1, each publishing a retained {"state":"online"} status with an \
            offline Last Will. direct: the --gateway-user connection publishes the messages straight \
            to the receivers' down topics (the broker hop alone). gateway: each viewer first OFFERs \
            (~4 KB SDP) and its device ANSWERs (~3 KB); then both sides publish CANDIDATES on their up \
            topics and rtcgate forwards them. Either way --rate messages/s in all, spread evenly over \
            the pairs and over time on a fixed schedule (alternating directions), with the send time in \
            the body; latency is from that time to receipt. A message not received 2 s after the \
            measured interval (or --timeout-ms, if longer) is lost. both: direct first, then gateway, \
            same clients and rate. On a broker listener with use_username_as_clientid the gateway \
            user's client id becomes its username and takes over rtcgate's own connection: give the \
            baseline a listener without it (--gateway-port), as Tests/Bench/signal_bench.sh does. \
            Exit status: 2 when set-up fails, 1 when a phase delivered nothing.
            """)

    @Option(name: .customLong("broker-port"), help: "Broker port on 127.0.0.1 for the clients.")
    var brokerPort = 1883

    @Option(help: "Clients (even): --clients/2 device/viewer pairs.")
    var clients = 100

    @Option(name: .customLong("client-password"), help: "Broker password of every bench client.")
    var clientPassword = "bench"

    @Option(name: .customLong("gateway-user"), help: "Broker user that may write <prefix>/down/# (direct baseline).")
    var gatewayUser = "rtcgate"

    @Option(name: .customLong("gateway-password"), help: "Its password.")
    var gatewayPassword: String?

    @Option(name: .customLong("gateway-port"), help: "Broker port for the gateway user's connection (default: --broker-port).")
    var gatewayPort: Int?

    @Option(name: .customLong("gateway-client-id"), help: "MQTT client id of the gateway user's connection.")
    var gatewayClientId = "rtcgate-bench-direct"

    @Option(help: "Messages per second in all (open loop).")
    var rate = 1000.0

    @Option(help: "gateway, direct or both (direct first, then gateway).")
    var mode = "both"

    @Option(help: "Topic prefix.")
    var prefix = "rtc/v1"

    @Option(name: .customLong("broker-pid"), help: "Broker process to sample CPU/RSS of (/proc).")
    var brokerPid: Int32?

    @OptionGroup var runOptions: RunOptions

    /// rtcgate's CANDIDATES bucket is 20/s (burst 40) per client; stay clear of it.
    static let maxPerClientRate = 18.0

    func validate() throws {
        guard clients >= 2, clients <= 20_000, clients % 2 == 0 else { throw ValidationError("--clients must be even, 2...20000") }
        guard rate > 0, rate <= 1_000_000 else { throw ValidationError("--rate must be in (0, 1000000]") }
        let perClient = rate / Double(clients)
        guard perClient <= Self.maxPerClientRate else {
            throw ValidationError("--rate \(number(rate, 0)) over \(clients) clients is \(number(perClient, 1)) messages/s per client; "
                + "rtcgate allows 20/s of CANDIDATES per client, so the bench keeps to \(Int(Self.maxPerClientRate)): "
                + "use at least \(Int((rate / Self.maxPerClientRate).rounded(.up) + 1) / 2 * 2) clients or a lower rate")
        }
        guard ["gateway", "direct", "both"].contains(mode) else { throw ValidationError("--mode must be gateway, direct or both") }
        guard (1...65_535).contains(brokerPort), (1...65_535).contains(gatewayPort ?? brokerPort) else {
            throw ValidationError("ports must be 1...65535")
        }
        guard !prefix.isEmpty, !prefix.contains("+"), !prefix.contains("#"), !prefix.hasSuffix("/") else {
            throw ValidationError("--prefix must be a topic without wildcards or a trailing /")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        raiseFileLimitToHard()
        let config = SignalConfig(
            brokerPort: brokerPort, clients: clients, clientPassword: clientPassword, gatewayUser: gatewayUser,
            gatewayPassword: gatewayPassword, gatewayPort: gatewayPort ?? brokerPort, gatewayClientId: gatewayClientId,
            rate: rate, durationNanos: runOptions.durationNanos, warmupNanos: runOptions.warmupNanos,
            drainNanos: max(2_000_000_000, runOptions.timeoutNanos), prefix: prefix,
            serverPid: runOptions.serverPid, brokerPid: brokerPid)
        let fleet: SignalFleet
        do { fleet = try SignalFleet(config: config) } catch { try fail("\(error)") }
        var report = SignalReport(config: config)

        var t = fleet.now()
        report.connected = fleet.connectAll(timeoutNanos: 10_000_000_000 + UInt64(clients) * 10_000_000)
        report.connectSeconds = Double(fleet.now() - t) / 1e9
        if report.connected == 0 {
            report.abort = "no client connected to 127.0.0.1:\(brokerPort)"
                + (fleet.peers.first?.lastDisconnect.map { " (\($0))" } ?? "")
        }

        if report.abort == nil, mode != "gateway" {
            do {
                let probed = try fleet.connectGatewayAndProbe(timeoutNanos: 10_000_000_000 + UInt64(clients) * 5_000_000)
                report.probed = probed
                let pairs = (0..<config.pairs).filter { fleet.device($0).probed && fleet.viewer($0).probed }
                if pairs.isEmpty {
                    report.abort = probed == 0 && fleet.gateway?.isConnected != true
                        ? "the gateway user \(gatewayUser) could not connect to 127.0.0.1:\(config.gatewayPort)"
                        : "no pair reachable through the broker (\(probed) clients probed)"
                } else {
                    report.direct = fleet.runPhase(.direct, pairs: pairs)
                }
            } catch {
                report.abort = "gateway user connection: \(error)"
            }
        }

        if report.abort == nil, mode != "direct" {
            t = fleet.now()
            let open = fleet.openSessions(timeoutNanos: 15_000_000_000 + UInt64(config.pairs) * 20_000_000)
            report.sessionSeconds = Double(fleet.now() - t) / 1e9
            report.sessionsOpen = open.count
            report.offersSent = fleet.offersSent
            if open.isEmpty {
                report.abort = "no session opened through rtcgate (is it running, connected, with the bench clients provisioned?)"
            } else {
                report.gateway = fleet.runPhase(.gateway, pairs: open)
            }
        }

        fleet.finish(endSessions: report.sessionsOpen.map { $0 > 0 } ?? false)
        report.setupErrors = fleet.setupErrors
        report.disconnects = fleet.disconnects
        print(runOptions.json ? report.json() : report.text())
        if report.abort != nil { throw ExitCode(2) }
        if report.failed { throw ExitCode(1) }
    }

    private func fail(_ message: String) throws -> Never {
        writeStandardError("rtcgate-bench signal: \(message)\n")
        throw ExitCode(2)
    }

    /// Lifts RLIMIT_NOFILE's soft limit to the hard limit (libmosquitto uses 3 descriptors per
    /// client: its socket and a socket pair).
    private func raiseFileLimitToHard() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}
