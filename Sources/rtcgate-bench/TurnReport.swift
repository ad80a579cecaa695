/// Figures of one `rtcgate-bench turn` run, rendered as text or one JSON object.
struct TurnReport {
    var mode: TurnMode
    var server: String
    var allocations: Int
    var window: Int
    var payload: Int
    /// udp, tcp or tls; `protocol` is what TLS negotiated ("TLSv1.3 TLS_AES_256_GCM_SHA384").
    var transport = "udp"
    var `protocol` = "udp"
    var allocationsOK = 0
    var setupMillis = 0.0
    /// Set-up failures by message (hold mode keeps going; the others stop at the first).
    var setupErrors: [(message: String, count: Int, first: String)] = []
    var deleted = 0
    var deleteErrors = 0
    var load: TurnResult?
    var elapsedSeconds = 0.0
    var generatorCPUSeconds = 0.0
    var serverBeforeSetup: ServerSample?
    /// Load: at the start of the measured interval. Hold: before the allocations were made.
    var serverStart: ServerSample?
    /// Hold: when the holding began (CPU of the holding interval only).
    var holdCPUStart: ServerSample?
    /// At the end of the measured interval / of the holding time.
    var serverEnd: ServerSample?
    var serverAfterDelete: ServerSample?

    init(mode: TurnMode, server: String, allocations: Int, window: Int, payload: Int) {
        self.mode = mode
        self.server = server
        self.allocations = allocations
        self.window = window
        self.payload = payload
    }

    /// Counts a set-up failure; messages differing only in their "allocation N: " prefix are
    /// counted together, labelled with the first such allocation.
    mutating func note(setupError: String) {
        var message = setupError
        var first = ""
        if setupError.hasPrefix("allocation "), let colon = setupError.firstIndex(of: ":"),
           setupError.index(after: colon) < setupError.endIndex {
            message = String(setupError[setupError.index(after: colon)...].drop(while: { $0 == " " }))
            first = String(setupError[..<colon])
        }
        if let i = setupErrors.firstIndex(where: { $0.message == message }) {
            setupErrors[i].count += 1
        } else {
            setupErrors.append((message, 1, first))
        }
    }

    var firstSetupError: String? {
        setupErrors.first.map { $0.first.isEmpty ? $0.message : "\($0.first): \($0.message)" }
    }

    private var counters: TurnCounters { load?.counters ?? TurnCounters() }
    private var roundTrips: UInt64 { counters.roundTrips }
    var roundTripsPerSecond: Double { elapsedSeconds > 0 ? Double(roundTrips) / elapsedSeconds : 0 }
    /// Payload megabits per second, each way.
    var megabits: Double { roundTripsPerSecond * Double(payload) * 8 / 1e6 }

    var serverCPUSeconds: Double? {
        guard let s = mode == .hold ? holdCPUStart : serverStart, let e = serverEnd else { return nil }
        return e.cpuSeconds - s.cpuSeconds
    }
    var serverCores: Double? {
        guard let cpu = serverCPUSeconds, elapsedSeconds > 0 else { return nil }
        return cpu / elapsedSeconds
    }
    var serverCPUMicrosPerRoundTrip: Double? {
        guard let cpu = serverCPUSeconds, roundTrips > 0 else { return nil }
        return cpu * 1e6 / Double(roundTrips)
    }
    var generatorCores: Double { elapsedSeconds > 0 ? generatorCPUSeconds / elapsedSeconds : 0 }

    var failed: Bool {
        if mode == .hold { return allocationsOK < allocations }
        return roundTrips == 0 || counters.invalid > 0 || (load?.invalidDuringWarmup ?? 0) > 0
    }

    func json() -> String {
        let h = load?.histogram
        func latency(_ q: Double) -> String { h.map { $0.total == 0 ? "null" : number($0.quantileMicros(q), 1) } ?? "null" }
        let c = counters
        let invalid = TurnWire.Invalid.allCases.map { "\"\($0.key)\":\(c.invalidByReason[$0.rawValue])" }.joined(separator: ",")
        let errors = setupErrors.map { "\(quoted($0.message)):\($0.count)" }.joined(separator: ",")
        let fields: [(String, String)] = [
            ("server", quoted(server)),
            ("mode", quoted(mode.rawValue)),
            ("transport", quoted(transport)),
            ("protocol", quoted(`protocol`)),
            ("allocations", "\(allocations)"),
            ("allocations_ok", "\(allocationsOK)"),
            ("window", "\(window)"),
            ("payload", "\(payload)"),
            ("setup_ms", number(setupMillis, 1)),
            ("setup_errors", "{\(errors)}"),
            ("duration_s", number(elapsedSeconds, 3)),
            ("round_trips", "\(c.roundTrips)"),
            ("rtps", number(roundTripsPerSecond, 1)),
            ("mbps", number(megabits, 3)),
            ("p50_us", latency(0.5)),
            ("p90_us", latency(0.9)),
            ("p99_us", latency(0.99)),
            ("p999_us", latency(0.999)),
            ("max_us", h.map { $0.total == 0 ? "null" : number($0.maxMicros, 1) } ?? "null"),
            ("mean_us", h.map { $0.total == 0 ? "null" : number($0.meanMicros, 1) } ?? "null"),
            ("sent", "\(c.sent)"),
            ("lost", "\(c.lost)"),
            ("late", "\(c.late)"),
            ("send_errors", "\(c.sendErrors)"),
            ("receive_errors", "\(c.receiveErrors)"),
            ("echoed", "\(c.echoed)"),
            ("echo_drops", "\(c.echoDrops)"),
            ("rate_skips", "\(c.rateSkips)"),
            ("invalid", "{\"total\":\(c.invalid),\(invalid)}"),
            ("invalid_during_warmup", "\(load?.invalidDuringWarmup ?? 0)"),
            ("server_cpu_cores", optional(serverCores, 3)),
            ("server_cpu_us_per_rt", optional(serverCPUMicrosPerRoundTrip, 3)),
            ("server_rss_kb_before_setup", serverBeforeSetup.map { "\($0.rssKiB)" } ?? "null"),
            ("server_rss_kb_start", serverStart.map { "\($0.rssKiB)" } ?? "null"),
            ("server_rss_kb_end", serverEnd.map { "\($0.rssKiB)" } ?? "null"),
            ("server_anon_kb_start", serverStart.map { "\($0.anonKiB)" } ?? "null"),
            ("server_anon_kb_end", serverEnd.map { "\($0.anonKiB)" } ?? "null"),
            ("server_rss_kb_after_delete", serverAfterDelete.map { "\($0.rssKiB)" } ?? "null"),
            ("server_threads", serverEnd.map { "\($0.threads)" } ?? "null"),
            ("gen_cpu_cores", number(generatorCores, 3)),
            ("gen_cpu_us_per_rt", roundTrips > 0 ? number(generatorCPUSeconds * 1e6 / Double(roundTrips), 3) : "null"),
            ("deleted", "\(deleted)"),
            ("delete_errors", "\(deleteErrors)"),
            ("ok", failed ? "false" : "true"),
        ]
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    func text() -> String {
        var lines: [String] = []
        let shape = mode == .hold ? "" : ", window \(window)/allocation, \(payload)-byte payload"
        lines.append("rtcgate-bench turn → \(server) (\(mode.rawValue) over \(`protocol`), \(allocations) allocations\(shape))")
        lines.append("  set-up        \(allocationsOK)/\(allocations) allocations in \(number(setupMillis, 1)) ms; deleted \(deleted), delete errors \(deleteErrors)")
        for e in setupErrors {
            lines.append("  set-up error  \(e.count)× \(e.message)\(e.first.isEmpty ? "" : " (first: \(e.first))")")
        }
        if let load {
            let h = load.histogram
            let c = load.counters
            lines.append("  measured      \(number(elapsedSeconds, 2)) s, \(c.roundTrips) round trips, \(number(roundTripsPerSecond, 0)) rt/s, \(number(megabits, 1)) Mbit/s payload each way")
            lines.append("  latency µs    p50 \(number(h.quantileMicros(0.5), 1))  p90 \(number(h.quantileMicros(0.9), 1))  p99 \(number(h.quantileMicros(0.99), 1))  p99.9 \(number(h.quantileMicros(0.999), 1))  max \(number(h.maxMicros, 1))  mean \(number(h.meanMicros, 1))")
            lines.append("  lost \(c.lost)  late \(c.late)  send errors \(c.sendErrors)  receive errors \(c.receiveErrors)  echoed \(c.echoed)  echo drops \(c.echoDrops)")
            let reasons = TurnWire.Invalid.allCases.filter { c.invalidByReason[$0.rawValue] > 0 }
                .map { "\($0.key) \(c.invalidByReason[$0.rawValue])" }.joined(separator: ", ")
            lines.append("  invalid \(c.invalid)\(reasons.isEmpty ? "" : " (\(reasons))"); during warm-up \(load.invalidDuringWarmup)")
        } else {
            lines.append("  held          \(number(elapsedSeconds, 2)) s")
        }
        if let start = serverStart, let end = serverEnd {
            var server = "  server        RSS \(start.rssKiB) → \(end.rssKiB) KiB"
            if let after = serverAfterDelete { server += " (\(after.rssKiB) after delete)" }
            server += ", anonymous \(start.anonKiB) → \(end.anonKiB) KiB, \(end.threads) threads"
            if let cores = serverCores { server += ", \(number(cores, 2)) cores" }
            if let per = serverCPUMicrosPerRoundTrip { server += ", \(number(per, 2)) CPU µs/round trip" }
            lines.append(server)
        } else if serverBeforeSetup != nil {
            lines.append("  server        process vanished during the run")
        }
        let genPer = roundTrips > 0 ? generatorCPUSeconds * 1e6 / Double(roundTrips) : 0
        lines.append("  generator     \(number(generatorCores, 2)) cores\(roundTrips > 0 ? ", \(number(genPer, 2)) CPU µs/round trip" : "")")
        if failed {
            lines.append("  FAILED: " + (mode == .hold ? "\(allocations - allocationsOK) allocations failed"
                                         : roundTrips == 0 ? "nothing round-tripped" : "invalid replies seen"))
        }
        return lines.joined(separator: "\n")
    }

    private func optional(_ v: Double?, _ decimals: Int) -> String { v.map { number($0, decimals) } ?? "null" }
}
