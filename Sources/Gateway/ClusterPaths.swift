import Glibc
import JSON
import Logging
import Paths
import Reactor
import Signaling
import STUN
import TURN

/// The path model's shell (docs/paths.md) for one instance: learns the other relays from their
/// cluster presence (`{p}/_cluster/{name}`, which carries each one's STUN/TURN URLs and site),
/// probes them (``RelayProber``), publishes this instance's row of measurements as a retained
/// `{p}/_cluster/links/{name}` every 2 s, and feeds every row it receives, its own
/// included, to the router's ``RelayPaths``.
package final class ClusterPaths: TimerHandler {
    package let relayPaths: RelayPaths
    package let prober: RelayProber?
    private let selfEntry: RelayEntry
    private var peers: [String: RelayEntry] = [:]
    /// `path-external-relay`: always relays, probed like the instances.
    private let externals: [RelayEntry]
    /// `path-relay-networks` (empty: anywhere).
    private let relayNetworks: [AddressRange]
    /// Instance presences refused for an address outside `relayNetworks`.
    package private(set) var outsideNetworks: UInt64 = 0
    private let loop: EventLoop
    private let logger = Logger(label: "rtcgate.paths")
    private var publishTimer: TimerID?
    /// Publishes a retained row (topic, payload); set by the signaling service.
    package var publish: ((_ topic: String, _ payload: [UInt8]) -> Void)?
    /// Called with the other relays' IP addresses whenever they change (to admit them as peers).
    package var onRelayAddresses: (([String]) -> Void)?
    private let linksTopic: String
    /// Rows and presences that could not be read (dropped).
    package private(set) var malformed: UInt64 = 0
    private static let publishIntervalNanos: UInt64 = 2_000_000_000
    /// Largest row accepted (64 relays' entries fit in well under this).
    static let maxRowBytes = 16_384

    /// Rows go to the broker only in a cluster; alone (external relays only) they stay local.
    private let clustered: Bool

    package init(selfEntry: RelayEntry, options: PathOptions, clientCapacity: Int, topicPrefix: String, probeFrom: SocketAddress?,
                 clustered: Bool, loop: EventLoop) {
        self.selfEntry = selfEntry
        self.clustered = clustered
        self.loop = loop
        externals = options.externalRelays.map(\.entry)
        relayNetworks = options.relayNetworks
        relayPaths = RelayPaths(selfEntry: selfEntry, relayCapacity: options.maxRelays, clientCapacity: clientCapacity,
                                policy: options.policy, reportTTL: options.reportTTLSeconds)
        linksTopic = "\(topicPrefix)/_cluster/links/\(selfEntry.name)"
        var prober: RelayProber?
        if let probeFrom {
            do {
                prober = try RelayProber(loop: loop, local: probeFrom, capacity: options.maxRelays - 1, intervalMs: options.probeIntervalMs)
            } catch {
                logger.error("paths: cannot open the probe socket on \(probeFrom.host): \(error); relay links will not be measured")
            }
        } else if clustered {
            logger.warning("paths: no listening address to probe from (wildcard only, or no UDP); relay links will not be measured")
        }
        self.prober = prober
        prober?.onSample = { [unowned self] in self.sampled() }
        if !externals.isEmpty { relaysChanged() }
    }

    /// Which relays were below the minimum quality in the last published row.
    private var excludedAsPublished: [String: Bool] = [:]
    private var lastPublishNanos: UInt64 = 0

    /// After each probe: when a link crossed the minimum quality either way, the row goes out at
    /// once (at most every 0.5 s) instead of at the next 2-s tick, so a path change shows sooner.
    private func sampled() {
        guard let prober else { return }
        var flipped = false
        for target in prober.targets {
            let excluded = (target.window.estimate?.quality ?? 0) < relayPaths.policy.minQuality
            if excluded != (excludedAsPublished[target.name] ?? false) { flipped = true }
        }
        if flipped && MonotonicClock.now() >= lastPublishNanos + 500_000_000 { publishRow() }
    }

    private func publishRow() {
        lastPublishNanos = MonotonicClock.now()
        let payload = ownRow(now: UInt64(time(nil)))
        if clustered {
            // It comes back through the subscription, in the broker's order like everyone's rows,
            // so every instance's table changes at the same point of the message stream.
            publish?(linksTopic, payload)
        } else {
            payload.withUnsafeBytes { row(from: selfEntry.name, payload: $0) }
        }
        excludedAsPublished = [:]
        for target in prober?.targets ?? [] {
            excludedAsPublished[target.name] = (target.window.estimate?.quality ?? 0) < relayPaths.policy.minQuality
        }
    }

    package func stop() {
        prober?.stop()
        if let publishTimer { loop.timers.cancel(publishTimer) }
        publishTimer = nil
    }

    /// The presence payload this instance announces itself with (its relay URLs and site).
    package static func presencePayload(_ entry: RelayEntry) -> [UInt8] {
        var object: [(String, JSONValue)] = [("state", "online"), ("stun", .array(entry.stun.map(JSONValue.string))),
                                             ("turn", .array(entry.turn.map(JSONValue.string)))]
        if let site = entry.site { object.append(("site", .string(site))) }
        return JSONValue.object(object).serialized()
    }

    /// Another instance's presence (`_cluster/{name}`).
    package func presence(of instance: String, online: Bool, payload: UnsafeRawBufferPointer) {
        guard instance != selfEntry.name else { return }
        if online {
            guard payload.count <= 4_096, let value = try? JSONParser.parse(payload),
                  let stun = value["stun"]?.arrayValue?.compactMap(\.stringValue) else {
                malformed &+= 1
                return
            }
            let turn = value["turn"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let entry = RelayEntry(name: instance, site: value["site"]?.stringValue, stun: Array(stun.prefix(4)), turn: Array(turn.prefix(8)))
            if !relayNetworks.isEmpty {
                let host = stun.first.flatMap(Self.address(ofSTUN:)).flatMap { IPAddress($0.host) }
                guard let host, relayNetworks.contains(where: { $0.contains(host) }) else {
                    outsideNetworks &+= 1
                    logger.warning("paths: instance \(instance) announces \(stun.first ?? "no address") outside path-relay-networks; not a relay")
                    return
                }
            }
            guard peers[instance] != entry else { return }
            guard peers[instance] != nil || peers.count < relayPaths.links.relayCapacity else {
                malformed &+= 1  // more instances than path-max-relays: not tracked
                return
            }
            peers[instance] = entry
        } else {
            guard peers.removeValue(forKey: instance) != nil else { return }
        }
        relaysChanged()
    }

    private func relaysChanged() {
        let others = (peers.values.filter { peer in !externals.contains { $0.name == peer.name } } + externals).sorted { $0.name < $1.name }
        let all = [selfEntry] + others
        if !relayPaths.setRelays(all) {
            logger.warning("paths: more relays than path-max-relays; keeping the first", metadata: ["relays": "\(all.count)"])
            relayPaths.setRelays(Array(all.prefix(relayPaths.links.relayCapacity)))
        }
        var targets: [(name: String, address: SocketAddress)] = []
        for entry in others {
            if let url = entry.stun.first, let address = Self.address(ofSTUN: url) { targets.append((entry.name, address)) }
        }
        prober?.setTargets(targets)
        // Its own relay address too: two clients of a call may both allocate on this relay.
        let own = selfEntry.stun.first.flatMap(Self.address(ofSTUN:)).map { [$0.host] } ?? []
        onRelayAddresses?(own + targets.map(\.address.host))
        if publishTimer == nil && !targets.isEmpty {
            publishTimer = loop.timers.schedule(at: MonotonicClock.now() + Self.publishIntervalNanos, handler: self)
        }
    }

    /// `stun:HOST:PORT` → its socket address (literal IPs only).
    static func address(ofSTUN url: String) -> SocketAddress? {
        guard url.hasPrefix("stun:") else { return nil }
        var text = String(url.dropFirst(5))
        if let query = text.firstIndex(of: "?") { text = String(text[..<query]) }
        return SocketAddress(parsing: text, defaultPort: 3478)
    }

    /// A row published by an instance (`_cluster/links/{name}`).
    package func row(from instance: String, payload: UnsafeRawBufferPointer) {
        guard payload.count <= Self.maxRowBytes, let value = try? JSONParser.parse(payload),
              let at = value["at"]?.numberValue?.intValue, at >= 0, let links = value["links"]?.arrayValue else {
            if payload.count > 0 { malformed &+= 1 }  // empty: a cleared retained row
            return
        }
        var row: [(to: String, estimate: LinkEstimate)] = []
        for link in links.prefix(relayPaths.links.relayCapacity) {
            guard let to = link["to"]?.stringValue, let rtt = link["rttUs"]?.numberValue?.intValue,
                  let lossPpm = link["lossPpm"]?.numberValue?.intValue, let jitter = link["jitterUs"]?.numberValue?.intValue else {
                malformed &+= 1
                return
            }
            row.append((to, LinkEstimate(rttMicros: Int64(rtt), loss: Double(lossPpm) / 1_000_000, jitterMicros: Int64(jitter))))
        }
        // Aged by when it arrived here, not by the publisher's clock (which may be off).
        _ = at
        relayPaths.setRow(from: instance, links: row, at: UInt64(max(0, time(nil))))
    }

    /// This instance's row as published.
    package func ownRow(now: UInt64) -> [UInt8] {
        let links: [JSONValue] = (prober?.estimates ?? []).map { link in
            ["to": .string(link.to), "rttUs": .number(JSONNumber(Int(link.estimate.rttMicros))),
             "lossPpm": .number(JSONNumber(Int((link.estimate.loss * 1_000_000).rounded()))),
             "jitterUs": .number(JSONNumber(Int(link.estimate.jitterMicros)))]
        }
        let object: JSONValue = ["from": .string(selfEntry.name), "at": .number(JSONNumber(Int(now))), "links": .array(links)]
        return object.serialized()
    }

    package func timerFired(context: UInt64, now: UInt64) {
        publishTimer = nil
        publishRow()
        if !(prober?.targets.isEmpty ?? true) {
            publishTimer = loop.timers.schedule(at: MonotonicClock.now() + Self.publishIntervalNanos, handler: self)
        }
    }
}
