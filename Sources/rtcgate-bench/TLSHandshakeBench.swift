import ArgumentParser
import Glibc

/// `rtcgate-bench tls-handshakes`: full TLS handshakes per second a server completes, or the
/// server memory each open TLS connection holds (`--hold`).
struct TLSHandshakeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls-handshakes",
        abstract: "Closed-loop full TLS handshakes (no resumption), or server memory per held TLS connection.",
        discussion: """
            --connections connectors each repeat: TCP connect → full TLS handshake (no session \
            tickets, no session reuse) → one STUN Binding over it, whose answer proves the server \
            finished its side (--no-confirm skips it) → close, for --duration seconds after --warmup. \
            With --hold N it instead opens N such connections (--connections at a time), keeps them \
            for --duration seconds, and reports the server's RssAnon growth per connection; then \
            closes them. --timeout-ms bounds each connection's set-up. Exit status: 2 on bad \
            set-up, 1 when nothing completed or any connection failed.
            """)

    @Option(help: "TLS (turns:) listener: IPv4:port.")
    var server = "127.0.0.1:5349"

    @Option(help: "Connectors working at once (hold: connections being opened at once).")
    var connections = 8

    @Option(help: "Open this many connections and hold them instead of the closed loop (RssAnon per connection).")
    var hold = 0

    @Flag(help: "Count a handshake done when the client's side is, without a Binding over the connection.")
    var noConfirm = false

    @Flag(help: "Plain TCP connections (a baseline without TLS).")
    var plainTcp = false

    @Option(help: "PEM CA file the server certificate must chain to (default: no certificate check).")
    var ca: String?

    @Option(name: .customLong("tls-version"), help: "1.2 or 1.3 only (default: negotiate either).")
    var tlsVersion: String?

    @OptionGroup var runOptions: RunOptions

    func validate() throws {
        guard (1...1024).contains(connections) else { throw ValidationError("--connections must be 1...1024") }
        guard (0...20_000).contains(hold) else { throw ValidationError("--hold must be 0...20000") }
        guard tlsVersion == nil || tlsVersion == "1.2" || tlsVersion == "1.3" else { throw ValidationError("--tls-version must be 1.2 or 1.3") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        raiseFileLimit(to: UInt64(max(hold, connections)) + 64)
        let endpoint: ServerEndpoint
        do { endpoint = try ServerEndpoint(parsing: server) } catch { throw ValidationError("\(error)") }
        guard !endpoint.isIPv6 else { throw ValidationError("tls-handshakes needs an IPv4 server") }
        let load: HandshakeLoad
        do {
            let tls = plainTcp ? nil : try TLSClientContext(caFile: ca, version: tlsVersion)
            load = try HandshakeLoad(endpoint: endpoint, tls: tls, concurrency: connections, confirm: !noConfirm,
                                     timeoutNanos: runOptions.timeoutNanos, holdTarget: hold)
        } catch {
            writeStandardError("rtcgate-bench tls-handshakes: \(error)\n")
            throw ExitCode(2)
        }
        var report = HandshakeReport(server: server, connections: connections, hold: hold, confirm: !noConfirm)
        let pid = runOptions.serverPid
        if hold == 0 {
            let config = LoadConfig(
                server: endpoint, sockets: connections, window: connections, durationNanos: runOptions.durationNanos,
                warmupNanos: runOptions.warmupNanos, timeoutNanos: runOptions.timeoutNanos, fingerprint: false, serverPid: pid)
            let clock = load.runLoop(config: config)
            report.serverEnd = pid.flatMap { ServerSample.read(pid: $0) }
            report.serverStart = clock.serverStart
            report.elapsedSeconds = Double(monotonicNanos() - clock.actualStart) / 1e9
            report.generatorCPUSeconds = ownCPUSeconds() - clock.cpuStart
        } else {
            report.serverStart = pid.flatMap { ServerSample.read(pid: $0) }
            let cpuStart = ownCPUSeconds()
            let openStart = monotonicNanos()
            // Bounded: a minute plus 50 ms per connection, whatever the server does.
            load.openHeld(deadline: openStart + 60_000_000_000 + UInt64(hold) * 50_000_000)
            report.elapsedSeconds = Double(monotonicNanos() - openStart) / 1e9
            report.generatorCPUSeconds = ownCPUSeconds() - cpuStart
            report.serverOpened = pid.flatMap { ServerSample.read(pid: $0) }
            let end = monotonicNanos() + runOptions.durationNanos
            while monotonicNanos() < end {
                var ts = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                nanosleep(&ts, nil)
            }
            load.checkHeld()
            report.serverEnd = pid.flatMap { ServerSample.read(pid: $0) }
            report.held = load.held
            load.closeAll()
            var ts = timespec(tv_sec: 0, tv_nsec: 500_000_000)
            nanosleep(&ts, nil)
            report.serverAfterClose = pid.flatMap { ServerSample.read(pid: $0) }
        }
        report.counters = load.counters
        report.histogram = load.histogram
        report.protocol = plainTcp ? "tcp" : load.protocolDescription
        print(runOptions.json ? report.json() : report.text())
        if report.failed { throw ExitCode(1) }
    }
}

/// Lifts RLIMIT_NOFILE's soft limit towards `wanted` (one socket per allocation or connection).
func raiseFileLimit(to wanted: UInt64) {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < wanted else { return }
    limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}

/// Figures of one `rtcgate-bench tls-handshakes` run, as text or one JSON object.
struct HandshakeReport {
    var server: String
    var connections: Int
    var hold: Int
    var confirm: Bool
    var `protocol` = "?"
    var counters = HandshakeCounters()
    var histogram: LatencyHistogram?
    var elapsedSeconds = 0.0
    var generatorCPUSeconds = 0.0
    var held = 0
    /// Loop: the measured interval's edges. Hold: before opening, after opening, at the end of
    /// the hold, and half a second after closing.
    var serverStart: ServerSample?
    var serverOpened: ServerSample?
    var serverEnd: ServerSample?
    var serverAfterClose: ServerSample?

    var handshakesPerSecond: Double { elapsedSeconds > 0 ? Double(counters.completed) / elapsedSeconds : 0 }
    var serverCPUSeconds: Double? { serverStart.flatMap { s in serverEnd.map { $0.cpuSeconds - s.cpuSeconds } } }
    /// Server CPU ms per completed handshake (loop mode).
    var serverCPUMillisPerHandshake: Double? {
        guard hold == 0, let cpu = serverCPUSeconds, counters.completed > 0 else { return nil }
        return cpu * 1e3 / Double(counters.completed)
    }
    /// Hold: the server's RssAnon (and VmRSS) growth per held connection, KiB.
    var anonPerConnection: Double? {
        guard hold > 0, held > 0, let s = serverStart, let e = serverEnd else { return nil }
        return Double(e.anonKiB - s.anonKiB) / Double(held)
    }
    var rssPerConnection: Double? {
        guard hold > 0, held > 0, let s = serverStart, let e = serverEnd else { return nil }
        return Double(e.rssKiB - s.rssKiB) / Double(held)
    }

    var failed: Bool { counters.completed == 0 || counters.failures > 0 || (hold > 0 && held < hold) }

    func json() -> String {
        let c = counters
        func latency(_ q: Double) -> String { histogram.map { $0.total == 0 ? "null" : number($0.quantileMicros(q), 1) } ?? "null" }
        func opt(_ v: Double?, _ d: Int) -> String { v.map { number($0, d) } ?? "null" }
        func kb(_ s: ServerSample?, _ anon: Bool) -> String { s.map { "\(anon ? $0.anonKiB : $0.rssKiB)" } ?? "null" }
        let fields: [(String, String)] = [
            ("server", quoted(server)),
            ("mode", quoted(hold > 0 ? "hold" : "loop")),
            ("protocol", quoted(`protocol`)),
            ("connections", "\(connections)"),
            ("hold", "\(hold)"),
            ("confirm", confirm ? "true" : "false"),
            ("duration_s", number(elapsedSeconds, 3)),
            ("handshakes", "\(c.completed)"),
            ("handshakes_per_s", number(handshakesPerSecond, 1)),
            ("failures", "{\"total\":\(c.failures),\"connect\":\(c.connectFailures),\"handshake\":\(c.handshakeFailures),"
                + "\"confirm\":\(c.confirmFailures),\"timeout\":\(c.timeouts),\"closed_while_held\":\(c.closedWhileHeld)}"),
            ("first_error", c.firstError.map(quoted) ?? "null"),
            ("p50_us", latency(0.5)),
            ("p99_us", latency(0.99)),
            ("server_cpu_s", opt(serverCPUSeconds, 3)),
            ("server_cpu_cores", opt(hold == 0 && elapsedSeconds > 0 ? serverCPUSeconds.map { $0 / elapsedSeconds } : nil, 3)),
            ("server_cpu_ms_per_handshake", opt(serverCPUMillisPerHandshake, 4)),
            ("gen_cpu_cores", number(elapsedSeconds > 0 ? generatorCPUSeconds / elapsedSeconds : 0, 3)),
            ("gen_cpu_ms_per_handshake", c.completed > 0 ? number(generatorCPUSeconds * 1e3 / Double(c.completed), 4) : "null"),
            ("held", "\(held)"),
            ("server_anon_kb_start", kb(serverStart, true)),
            ("server_anon_kb_opened", kb(serverOpened, true)),
            ("server_anon_kb_end", kb(serverEnd, true)),
            ("server_anon_kb_after_close", kb(serverAfterClose, true)),
            ("server_rss_kb_start", kb(serverStart, false)),
            ("server_rss_kb_end", kb(serverEnd, false)),
            ("anon_kb_per_connection", opt(anonPerConnection, 2)),
            ("rss_kb_per_connection", opt(rssPerConnection, 2)),
            ("ok", failed ? "false" : "true"),
        ]
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    func text() -> String {
        let c = counters
        var lines = ["rtcgate-bench tls-handshakes → \(server) (\(`protocol`), \(connections) connectors\(confirm ? ", Binding-confirmed" : ""))"]
        if hold == 0 {
            lines.append("  measured      \(number(elapsedSeconds, 2)) s, \(c.completed) handshakes, \(number(handshakesPerSecond, 0))/s")
        } else {
            lines.append("  held          \(held)/\(hold) connections, opened in \(number(elapsedSeconds, 2)) s")
        }
        if let h = histogram, h.total > 0 {
            lines.append("  set-up µs     p50 \(number(h.quantileMicros(0.5), 1))  p99 \(number(h.quantileMicros(0.99), 1))  max \(number(h.maxMicros, 1))")
        }
        lines.append("  failures      \(c.failures) (connect \(c.connectFailures), handshake \(c.handshakeFailures), confirm \(c.confirmFailures), "
                     + "timeout \(c.timeouts), closed while held \(c.closedWhileHeld))\(c.firstError.map { "; first: \($0)" } ?? "")")
        if let per = serverCPUMillisPerHandshake, let cpu = serverCPUSeconds {
            lines.append("  server        \(number(cpu / max(elapsedSeconds, 1e-9), 2)) cores, \(number(per, 3)) CPU ms/handshake")
        }
        if let s = serverStart, let e = serverEnd, hold > 0 {
            lines.append("  server        RssAnon \(s.anonKiB) → \(e.anonKiB) KiB (\(serverAfterClose.map { "\($0.anonKiB)" } ?? "?") after close), "
                         + "\(anonPerConnection.map { number($0, 2) } ?? "?") KiB/connection; VmRSS \(s.rssKiB) → \(e.rssKiB) KiB")
        }
        let per = c.completed > 0 ? ", \(number(generatorCPUSeconds * 1e3 / Double(c.completed), 3)) CPU ms/handshake" : ""
        lines.append("  generator     \(number(elapsedSeconds > 0 ? generatorCPUSeconds / elapsedSeconds : 0, 2)) cores\(per)")
        if failed { lines.append("  FAILED: " + (c.completed == 0 ? "nothing completed" : "\(c.failures) connections failed")) }
        return lines.joined(separator: "\n")
    }
}
