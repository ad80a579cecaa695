import Control
import JSON
import Paths
import Signaling

/// What `rtcgate ctl links` and `rtcgate ctl path` show (docs/control.md, docs/paths.md).
extension ClusterPaths {
    /// Every relay↔relay edge (both relays' measurements and the one the model uses) and every
    /// client↔relay report, each with its age and whether `path-min-quality` excludes it.
    package func linksReport(now: UInt64) -> JSONValue {
        let links = relayPaths.links, policy = relayPaths.policy
        var rows: [JSONValue] = []
        func row(_ from: String, _ to: String, _ estimate: LinkEstimate, measuredBy: String, age: UInt64?) -> JSONValue {
            var object: [(String, JSONValue)] = [
                ("from", .string(from)), ("to", .string(to)), ("rttMs", Self.decimal(Double(estimate.rttMicros) / 1_000)),
                ("loss", Self.decimal(estimate.loss, places: 4)), ("jitterMs", Self.decimal(Double(estimate.jitterMicros) / 1_000)),
                ("quality", Self.decimal(estimate.quality, places: 3)), ("costMs", Self.decimal(Double(estimate.costMicros) / 1_000)),
                ("excluded", .bool(estimate.quality < policy.minQuality)), ("by", .string(measuredBy)),
            ]
            object.append(("ageSeconds", age.map { .number(JSONNumber(Int($0))) } ?? .null))
            return .object(object)
        }
        for a in links.relays.indices {
            for b in links.relays.indices where a < b {
                guard let used = links.relayLink(a, b, now: now, maxAge: policy.rowMaxAge) else { continue }
                let ages = [links.row(from: a, to: b), links.row(from: b, to: a)].compactMap { $0.map { now - min(now, $0.at) } }
                rows.append(row(links.relays[a], links.relays[b], used, measuredBy: "relays", age: ages.max()))
            }
        }
        for client in links.reportingClients(now: now) {
            for r in links.relays.indices {
                if let estimate = links.clientLink(client, relay: r, now: now) {
                    rows.append(row(client, links.relays[r], estimate, measuredBy: "client", age: nil))
                }
            }
        }
        return ["minQuality": Self.decimal(policy.minQuality, places: 3),
                "relays": .array(links.relays.enumerated().map { i, name in
                    var object: [(String, JSONValue)] = [("name", .string(name))]
                    if let site = links.relaySites[i] { object.append(("site", .string(site))) }
                    return .object(object)
                }),
                "links": .array(rows)]
    }

    /// The path a call between two provisioned clients would take now.
    package func pathReport(from a: String, to b: String, policy: SignalingPolicy, now: UInt64) throws(ControlFailure) -> JSONValue {
        guard let first = policy.record(a) else { throw ControlFailure(.notFound, "no client '\(a)'") }
        guard let second = policy.record(b) else { throw ControlFailure(.notFound, "no client '\(b)'") }
        guard let path = relayPaths.plan((first.id, first.site), (second.id, second.site), now: now) else {
            throw ControlFailure(.notFound, relayPaths.policy.strict
                ? "no relay path between \(a) and \(b) meets path-min-quality (path-strict)"
                : "no relay reaches both \(a) and \(b) (no report, no shared site, no fresh relay links)")
        }
        return ["from": .string(path.from), "to": .string(path.to), "relays": .array(path.relays.map(JSONValue.string)),
                "costMs": Self.decimal(Double(path.costMicros) / 1_000), "bottleneck": Self.decimal(path.bottleneck, places: 3),
                "degraded": .bool(path.degraded),
                "excluded": .array(path.excluded.map { edge in
                    ["from": .string(edge.from), "to": .string(edge.to), "quality": Self.decimal(edge.quality, places: 3),
                     "why": .string("quality below path-min-quality \(relayPaths.policy.minQuality)")]
                })]
    }

    /// A number with at most `places` decimals, as JSON.
    static func decimal(_ value: Double, places: Int = 2) -> JSONValue {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (value * scale).rounded()
        let whole = Int(scaled / scale), fraction = Int(abs(scaled).truncatingRemainder(dividingBy: scale))
        if fraction == 0 { return .number(JSONNumber(whole)) }
        var digits = String(fraction)
        while digits.count < places { digits = "0" + digits }
        while digits.hasSuffix("0") { digits.removeLast() }
        let sign = value < 0 && whole == 0 ? "-" : ""
        return .number(JSONNumber(text: "\(sign)\(whole).\(digits)") ?? JSONNumber(whole))
    }
}

extension MetricsCollector {
    /// The path model: each relay link the model uses (integers: µs, parts per million, ‰), the
    /// prober's and the reports' counters, and the paths chosen.
    package mutating func add(paths: ClusterPaths, now: UInt64) {
        let links = paths.relayPaths.links, policy = paths.relayPaths.policy
        for a in links.relays.indices {
            for b in links.relays.indices where a < b {
                guard let link = links.relayLink(a, b, now: now, maxAge: policy.rowMaxAge) else { continue }
                let labels = [("from", links.relays[a]), ("to", links.relays[b])]
                gauge("path_link_rtt_microseconds", "Smoothed round-trip time of a relay link.", UInt64(link.rttMicros), labels)
                gauge("path_link_loss_ppm", "Probe loss of a relay link, parts per million.", UInt64((link.loss * 1_000_000).rounded()), labels)
                gauge("path_link_jitter_microseconds", "Jitter of a relay link.", UInt64(link.jitterMicros), labels)
                gauge("path_link_quality_permille", "Quality (0-1000) of a relay link; below path-min-quality it is excluded.",
                      UInt64((link.quality * 1_000).rounded()), labels)
            }
        }
        gauge("path_relays", "Relays in the path model (this one included).", UInt64(links.relays.count))
        if let prober = paths.prober {
            counter("path_probes_sent_total", "STUN probes sent to other relays.", prober.probesSent)
            counter("path_probes_answered_total", "Probes answered.", prober.probesAnswered)
            counter("path_probes_lost_total", "Probes not answered within 2 s.", prober.probesLost)
            counter("path_probe_stray_total", "Datagrams on the probe socket that answer no probe in flight (dropped).", prober.strayDatagrams)
        }
        counter("path_reports_accepted_total", "LINK_REPORT entries applied.", paths.relayPaths.reportsAccepted)
        counter("path_reports_refused_total", "LINK_REPORT entries refused (a URL not given, table full).", paths.relayPaths.reportsRefused)
        counter("path_malformed_total", "Relay presences and rows that could not be read.", paths.malformed)
        counter("path_chosen_total", "Relay paths chosen for ICE_CONFIG.", paths.relayPaths.pathsChosen)
        counter("path_degraded_total", "Paths chosen below path-min-quality (no better one).", paths.relayPaths.pathsDegraded)
    }
}
