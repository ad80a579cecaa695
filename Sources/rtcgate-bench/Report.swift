/// Renders a `LoadResult` as a human-readable summary or as one JSON object
/// (written by hand: no Foundation anywhere in the tool).
struct Report {
    var result: LoadResult
    var server: String
    var fingerprint: Bool

    private var h: LatencyHistogram { result.histogram }
    private var c: LoadCounters { result.counters }

    /// Server CPU µs per answered request, if the server pid was given.
    var serverCPUMicrosPerRequest: Double? {
        guard let cpu = result.serverCPUSeconds, c.responses > 0 else { return nil }
        return cpu * 1e6 / Double(c.responses)
    }

    var serverCores: Double? {
        guard let cpu = result.serverCPUSeconds, result.elapsedSeconds > 0 else { return nil }
        return cpu / result.elapsedSeconds
    }

    var generatorCores: Double { result.elapsedSeconds > 0 ? result.generatorCPUSeconds / result.elapsedSeconds : 0 }

    /// One JSON object on one line.
    func json() -> String {
        let fields: [(String, String)] = [
            ("server", quoted(server)),
            ("transport", quoted(result.transport)),
            ("sockets", "\(result.sockets)"),
            ("window", "\(result.window)"),
            ("fingerprint", fingerprint ? "true" : "false"),
            ("duration_s", number(result.elapsedSeconds, 3)),
            ("requests", "\(c.responses)"),
            ("rps", number(result.requestsPerSecond, 1)),
            ("p50_us", latency(h.quantileMicros(0.50))),
            ("p90_us", latency(h.quantileMicros(0.90))),
            ("p99_us", latency(h.quantileMicros(0.99))),
            ("p999_us", latency(h.quantileMicros(0.999))),
            ("max_us", latency(h.maxMicros)),
            ("mean_us", latency(h.meanMicros)),
            ("sent", "\(c.sent)"),
            ("lost", "\(c.lost)"),
            ("late", "\(c.late)"),
            ("send_errors", "\(c.sendErrors)"),
            ("receive_errors", "\(c.receiveErrors)"),
            ("fingerprinted_responses", "\(c.fingerprinted)"),
            ("invalid", "{\"total\":\(c.invalid),\"bad_txid\":\(c.badTxid),\"bad_address\":\(c.badAddress),"
                + "\"not_success\":\(c.notSuccess),\"malformed\":\(c.malformed),\"bad_fingerprint\":\(c.badFingerprint)}"),
            ("invalid_during_warmup", "\(result.invalidDuringWarmup)"),
            ("server_cpu_cores", optional(serverCores, 3)),
            ("server_cpu_us_per_req", optional(serverCPUMicrosPerRequest, 3)),
            ("server_rss_kb_start", result.serverStart.map { "\($0.rssKiB)" } ?? "null"),
            ("server_rss_kb_end", result.serverEnd.map { "\($0.rssKiB)" } ?? "null"),
            ("server_threads", result.serverEnd.map { "\($0.threads)" } ?? "null"),
            ("gen_cpu_cores", number(generatorCores, 3)),
            ("gen_cpu_us_per_req", c.responses > 0 ? number(result.generatorCPUSeconds * 1e6 / Double(c.responses), 3) : "null"),
            ("ok", result.failed ? "false" : "true"),
        ]
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Multi-line summary for people.
    func text() -> String {
        var lines: [String] = []
        lines.append("rtcgate-bench stun → \(server) (\(result.transport), \(result.sockets) sockets, window \(result.window)\(fingerprint ? ", fingerprint" : ""))")
        lines.append("  measured      \(number(result.elapsedSeconds, 2)) s, \(c.responses) valid responses, \(number(result.requestsPerSecond, 0)) req/s")
        lines.append("  latency µs    p50 \(number(h.quantileMicros(0.5), 1))  p90 \(number(h.quantileMicros(0.9), 1))  p99 \(number(h.quantileMicros(0.99), 1))  p99.9 \(number(h.quantileMicros(0.999), 1))  max \(number(h.maxMicros, 1))  mean \(number(h.meanMicros, 1))")
        lines.append("  lost \(c.lost)  late \(c.late)  send errors \(c.sendErrors)  receive errors \(c.receiveErrors)  with FINGERPRINT \(c.fingerprinted)")
        lines.append("  invalid \(c.invalid) (bad txid \(c.badTxid), bad address \(c.badAddress), not success \(c.notSuccess), malformed \(c.malformed), bad fingerprint \(c.badFingerprint)); during warm-up \(result.invalidDuringWarmup)")
        if let cores = serverCores, let perReq = serverCPUMicrosPerRequest {
            lines.append("  server        \(number(cores, 2)) cores, \(number(perReq, 2)) CPU µs/request, RSS \(result.serverStart?.rssKiB ?? 0) → \(result.serverEnd?.rssKiB ?? 0) KiB, \(result.serverEnd?.threads ?? 0) threads")
        } else if result.serverStart != nil || result.serverEnd != nil {
            lines.append("  server        process vanished during the run")
        }
        let genPerReq = c.responses > 0 ? result.generatorCPUSeconds * 1e6 / Double(c.responses) : 0
        lines.append("  generator     \(number(generatorCores, 2)) cores, \(number(genPerReq, 2)) CPU µs/request")
        if result.failed {
            lines.append("  FAILED: " + (c.responses == 0 ? "no valid response" : "invalid responses seen"))
        }
        return lines.joined(separator: "\n")
    }

    /// Latency figure, or null when nothing was measured.
    private func latency(_ micros: Double) -> String { h.total == 0 ? "null" : number(micros, 1) }

    private func optional(_ v: Double?, _ decimals: Int) -> String { v.map { number($0, decimals) } ?? "null" }
}

/// Fixed-point decimal rendering without Foundation ("null" for non-finite).
func number(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return "\(value)" }
    let n = UInt64(scaled)
    let whole = n / UInt64(scale)
    var text = (value < 0 && n != 0 ? "-" : "") + "\(whole)"
    if decimals > 0 {
        let frac = "\(n % UInt64(scale))"
        text += "." + String(repeating: "0", count: decimals - frac.count) + frac
    }
    return text
}

/// JSON string literal with the mandatory escapes.
func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
