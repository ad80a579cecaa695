/// Figures of one `rtcgate-bench signal` run, rendered as text or one JSON object.
struct SignalReport {
    var config: SignalConfig
    var connected = 0
    var connectSeconds = 0.0
    /// Clients the direct connection's probe reached (direct baseline only).
    var probed: Int?
    var sessionsOpen: Int?
    var sessionSeconds = 0.0
    var offersSent = 0
    var setupErrors: [String: UInt64] = [:]
    var disconnects = 0
    var direct: PhaseStats?
    var gateway: PhaseStats?
    /// Why the run stopped early, if it did.
    var abort: String?

    init(config: SignalConfig) { self.config = config }

    /// Latency rtcgate adds at quantile `q`: gateway − direct, µs.
    func added(_ q: Double) -> Double? {
        guard let direct, let gateway, direct.histogram.total > 0, gateway.histogram.total > 0 else { return nil }
        return gateway.histogram.quantileMicros(q) - direct.histogram.quantileMicros(q)
    }

    /// Failed: aborted, or a phase that ran delivered nothing.
    var failed: Bool {
        abort != nil || [direct, gateway].contains { $0.map { $0.delivered == 0 } ?? false }
    }

    // MARK: JSON

    func json() -> String {
        let fields: [(String, String)] = [
            ("bench", quoted("signal")),
            ("broker", quoted("127.0.0.1:\(config.brokerPort)")),
            ("clients", "\(config.clients)"),
            ("pairs", "\(config.pairs)"),
            ("rate", number(config.rate, 1)),
            ("per_client_rate", number(config.rate / Double(config.clients), 3)),
            ("duration_s", number(Double(config.durationNanos) / 1e9, 3)),
            ("warmup_s", number(Double(config.warmupNanos) / 1e9, 3)),
            ("connected", "\(connected)"),
            ("connect_s", number(connectSeconds, 3)),
            ("probed", probed.map { "\($0)" } ?? "null"),
            ("sessions_open", sessionsOpen.map { "\($0)" } ?? "null"),
            ("session_setup_s", sessionsOpen == nil ? "null" : number(sessionSeconds, 3)),
            ("offers_sent", "\(offersSent)"),
            ("setup_errors", object(setupErrors)),
            ("disconnects", "\(disconnects)"),
            ("direct", direct.map(phaseJSON) ?? "null"),
            ("gateway", gateway.map(phaseJSON) ?? "null"),
            ("added_p50_us", optional(added(0.5), 1)),
            ("added_p99_us", optional(added(0.99), 1)),
            ("abort", abort.map(quoted) ?? "null"),
            ("ok", failed ? "false" : "true"),
        ]
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    private func phaseJSON(_ p: PhaseStats) -> String {
        let h = p.histogram
        func latency(_ v: Double) -> String { h.total == 0 ? "null" : number(v, 1) }
        let fields: [(String, String)] = [
            ("pairs", "\(p.pairs)"),
            ("offered_rate", number(p.offeredRate, 1)),
            ("sent", "\(p.sent)"),
            ("delivered", "\(p.delivered)"),
            ("lost", "\(p.lost)"),
            ("delivered_per_s", number(p.deliveredPerSecond, 1)),
            ("p50_us", latency(h.quantileMicros(0.5))),
            ("p90_us", latency(h.quantileMicros(0.9))),
            ("p99_us", latency(h.quantileMicros(0.99))),
            ("max_us", latency(h.maxMicros)),
            ("mean_us", latency(h.meanMicros)),
            ("duplicates", "\(p.duplicates)"),
            ("unexpected", "\(p.unexpected)"),
            ("send_drops", "\(p.sendDrops)"),
            ("max_send_lag_us", number(Double(p.maxLagNanos) / 1e3, 1)),
            ("status_errors", object(p.statusErrors)),
            ("rate_limited", "\(p.rateLimited)"),
            ("other_messages", object(p.otherMessages)),
            ("sent_outside_interval", "\(p.sentOutside)"),
            ("delivered_outside_interval", "\(p.deliveredOutside)"),
            ("server_cpu_cores", optional(p.serverCores, 3)),
            ("server_rss_kb", p.serverEnd.map { "\($0.rssKiB)" } ?? "null"),
            ("broker_cpu_cores", optional(p.brokerCores, 3)),
            ("broker_rss_kb", p.brokerEnd.map { "\($0.rssKiB)" } ?? "null"),
            ("gen_cpu_cores", number(p.generatorCores, 3)),
        ]
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    private func object(_ counts: [String: UInt64]) -> String {
        "{" + counts.sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\($0.value)" }.joined(separator: ",") + "}"
    }

    private func optional(_ v: Double?, _ decimals: Int) -> String { v.map { number($0, decimals) } ?? "null" }

    // MARK: Text

    func text() -> String {
        let seconds = Double(config.durationNanos) / 1e9, warmup = Double(config.warmupNanos) / 1e9
        var lines = ["rtcgate-bench signal → 127.0.0.1:\(config.brokerPort) (\(config.clients) clients, \(config.pairs) pairs, "
            + "\(number(config.rate, 0)) msg/s = \(number(config.rate / Double(config.clients), 2))/s per client, "
            + "\(number(seconds, 1)) s after \(number(warmup, 1)) s warm-up)"]
        var setup = "  set-up        \(connected)/\(config.clients) connected in \(number(connectSeconds, 2)) s"
        if let probed { setup += ", \(probed) reached directly" }
        if let sessionsOpen {
            setup += ", \(sessionsOpen)/\(config.pairs) sessions open in \(number(sessionSeconds, 2)) s (\(offersSent) offers)"
        }
        lines.append(setup)
        if let direct { lines += phaseText("direct", direct) }
        if let gateway { lines += phaseText("gateway", gateway) }
        if let p50 = added(0.5), let p99 = added(0.99) {
            lines.append("  added by rtcgate  p50 \(signed(p50)) µs  p99 \(signed(p99)) µs (gateway − direct)")
        }
        if !setupErrors.isEmpty {
            lines.append("  set-up notes  " + setupErrors.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: "; "))
        }
        if disconnects > 0 { lines.append("  disconnects   \(disconnects) (client connections lost or refused)") }
        if let abort { lines.append("  FAILED: \(abort)") }
        else if failed { lines.append("  FAILED: a phase delivered nothing") }
        return lines.joined(separator: "\n")
    }

    private func phaseText(_ name: String, _ p: PhaseStats) -> [String] {
        let h = p.histogram
        let pad = String(repeating: " ", count: max(1, 14 - name.count))
        var lines = [
            "  \(name)\(pad)sent \(p.sent), delivered \(p.delivered) (\(number(p.deliveredPerSecond, 1)) msg/s), lost \(p.lost), "
                + "duplicates \(p.duplicates); \(p.pairs) pairs at \(number(p.offeredRate, 0)) msg/s",
            "                latency µs p50 \(number(h.quantileMicros(0.5), 1))  p90 \(number(h.quantileMicros(0.9), 1))  "
                + "p99 \(number(h.quantileMicros(0.99), 1))  max \(number(h.maxMicros, 1))  mean \(number(h.meanMicros, 1)); "
                + "send lag max \(number(Double(p.maxLagNanos) / 1e3, 0)) µs",
        ]
        var errors = "                STATUS errors \(p.statusErrors.values.reduce(0, +)) (rate-limited \(p.rateLimited))"
        if !p.statusErrors.isEmpty {
            errors += ": " + p.statusErrors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        if p.sendDrops > 0 { errors += "; publishes refused \(p.sendDrops)" }
        if p.unexpected > 0 { errors += "; unexpected \(p.unexpected)" }
        if !p.otherMessages.isEmpty {
            errors += "; other " + p.otherMessages.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        lines.append(errors)
        var cpu: [String] = []
        if let cores = p.serverCores { cpu.append("rtcgate \(number(cores, 2)) cores, RSS \(p.serverEnd?.rssKiB ?? 0) KiB") }
        if let cores = p.brokerCores { cpu.append("mosquitto \(number(cores, 2)) cores, RSS \(p.brokerEnd?.rssKiB ?? 0) KiB") }
        cpu.append("generator \(number(p.generatorCores, 2)) cores")
        lines.append("                " + cpu.joined(separator: "; "))
        return lines
    }

    private func signed(_ v: Double) -> String { (v >= 0 ? "+" : "") + number(v, 1) }
}
