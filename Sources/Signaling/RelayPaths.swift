import JSON
import Paths

/// One measurement in a client's `LINK_REPORT` (docs/signaling.md §7.11): a relay URL the
/// client was given, and the round-trip time, loss and jitter it measured to it.
struct LinkReportItem: Equatable {
    var url: String
    var estimate: LinkEstimate

    /// At most this many links per report.
    static let maxItems = 16

    static func parse(_ body: JSONValue) throws(Refusal) -> [LinkReportItem] {
        func bad(_ message: String) -> Refusal { Refusal(.badRequest, message) }
        guard let list = body["links"]?.arrayValue else { throw bad("field 'body.links' must be an array") }
        guard list.count <= maxItems else { throw bad("field 'body.links' has more than \(maxItems) entries") }
        var items: [LinkReportItem] = []
        for (i, item) in list.enumerated() {
            let path = "body.links[\(i)]"
            guard let url = item["url"]?.stringValue, !url.isEmpty, url.utf8.count <= 256 else {
                throw bad("field '\(path).url' must be a string of 1-256 bytes")
            }
            func number(_ key: String, _ range: ClosedRange<Double>, required: Bool) throws(Refusal) -> Double {
                guard let value = item[key] else {
                    if required { throw bad("field '\(path).\(key)' is missing") }
                    return 0
                }
                guard let n = value.numberValue?.doubleValue, n.isFinite, range.contains(n) else {
                    throw bad("field '\(path).\(key)' must be a number in \(range.lowerBound)...\(range.upperBound)")
                }
                return n
            }
            let rtt = try number("rttMs", 0...60_000, required: true)
            let loss = try number("loss", 0...1, required: true)
            let jitter = try number("jitterMs", 0...60_000, required: false)
            items.append(LinkReportItem(url: url, estimate: LinkEstimate(rttMicros: Int64(rtt * 1_000), loss: loss,
                                                                         jitterMicros: Int64(jitter * 1_000))))
        }
        return items
    }
}

/// One relay of the path model: an rtcgate instance of the cluster (or an external TURN server),
/// the URLs ICE_CONFIG gives for it, and its site.
public struct RelayEntry: Sendable, Equatable {
    public var name: String
    public var site: String?
    public var stun: [String]
    public var turn: [String]
    /// A TURN server outside the cluster (`path-external-relay`): probed, never publishing rows,
    /// with credentials from its own REST secret.
    public var external: Bool

    public init(name: String, site: String?, stun: [String], turn: [String], external: Bool = false) {
        self.name = name
        self.site = site
        self.stun = stun
        self.turn = turn
        self.external = external
    }
}

/// The router's view of the relays and their links (docs/paths.md): which relay each end of a
/// call allocates on. Fed by the shell (relays joining and leaving, the relays' published rows)
/// and by the router (clients' LINK_REPORTs); pure like the router.
public final class RelayPaths {
    /// This instance's relay name.
    public let selfName: String
    public var policy: PathPolicy
    /// How long a client's report counts (`path-report-ttl`), seconds.
    public var reportTTL: UInt64
    public private(set) var links: LinkTable
    public private(set) var relays: [String: RelayEntry] = [:]
    private var planner: CallPlanner
    /// Clients given the relay list (ICE_CONFIG since they last came online): only they may report.
    var informed: Set<String> = []
    /// Reports refused: naming a URL not given, or over the table.
    public private(set) var reportsRefused: UInt64 = 0
    public private(set) var reportsAccepted: UInt64 = 0
    /// Paths chosen for ICE_CONFIG, and those of them degraded.
    public private(set) var pathsChosen: UInt64 = 0
    public private(set) var pathsDegraded: UInt64 = 0

    public init(selfEntry: RelayEntry, relayCapacity: Int, clientCapacity: Int, policy: PathPolicy, reportTTL: UInt64 = 600) {
        selfName = selfEntry.name
        self.policy = policy
        self.reportTTL = reportTTL
        links = LinkTable(relayCapacity: relayCapacity, clientCapacity: clientCapacity)
        planner = CallPlanner(relayCapacity: relayCapacity)
        setRelays([selfEntry])
    }

    /// Replaces the relays (this one included). False when there are more than the capacity.
    @discardableResult
    public func setRelays(_ entries: [RelayEntry]) -> Bool {
        guard links.setRelays(entries.map { ($0.name, $0.site) }) else { return false }
        relays = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        return true
    }

    /// A relay's published row of measurements.
    public func setRow(from: String, links row: [(to: String, estimate: LinkEstimate)], at: UInt64) {
        links.setRow(from: from, links: row, at: at)
    }

    /// The path for a call between two clients (sites from their records), as it stands now.
    public func plan(_ a: (id: String, site: String?), _ b: (id: String, site: String?), now: UInt64) -> CallPath? {
        planner.plan(a, b, links: links, policy: policy, now: now)
    }

    /// The path for the call `a` is setting up with `b`: the one chosen when `b` asked within the
    /// last `pinSeconds` (so both ends of a call allocate on the ends of the same path, whatever
    /// changed in between), else a new one, kept for `b`. At most `maxPins` pairs are kept.
    func planForCall(_ a: (id: String, site: String?), _ b: (id: String, site: String?), now: UInt64) -> CallPath? {
        let key = a.id < b.id ? PairKey(low: a.id, high: b.id) : PairKey(low: b.id, high: a.id)
        if let pin = pins[key], pin.expires > now, pin.askedBy != a.id {
            pins[key] = nil
            return pin.path
        }
        guard let path = plan(a, b, now: now) else { return nil }
        if pins.count >= maxPins { pins = pins.filter { $0.value.expires > now } }
        if pins.count < maxPins { pins[key] = Pin(path: path, askedBy: a.id, expires: now + Self.pinSeconds) }
        return path
    }

    struct PairKey: Hashable { var low: String, high: String }
    struct Pin { var path: CallPath, askedBy: String, expires: UInt64 }
    private var pins: [PairKey: Pin] = [:]
    /// How long the path chosen for one end waits for the other end's ICE_CONFIG_REQUEST.
    static let pinSeconds: UInt64 = 30
    private var maxPins: Int { links.clientCapacity }

    /// The relay whose URLs include `url`.
    func relay(forURL url: String) -> String? {
        relays.values.first { $0.stun.contains(url) || $0.turn.contains(url) }?.name
    }

    /// Applies a client's report; returns how many items were accepted. Items naming a URL that is
    /// not one of the relays' (so not one the client was given) are refused and counted.
    func apply(_ items: [LinkReportItem], from client: String, now: UInt64) -> Int {
        var accepted = 0
        for item in items {
            guard let relay = relay(forURL: item.url),
                  links.report(client: client, relay: relay, estimate: item.estimate, expires: now + reportTTL, now: now) else {
                reportsRefused &+= 1
                continue
            }
            accepted += 1
        }
        reportsAccepted &+= UInt64(accepted)
        return accepted
    }

    func counted(_ path: CallPath) {
        pathsChosen &+= 1
        if path.degraded { pathsDegraded &+= 1 }
    }

    /// The `relays` member of ICE_CONFIG: every relay a client may measure and report.
    var relayList: JSONValue {
        .array(relays.keys.sorted().compactMap { name in
            relays[name].map { entry in
                var object: [(String, JSONValue)] = [("name", .string(entry.name)), ("urls", .array((entry.stun + entry.turn).map(JSONValue.string)))]
                if let site = entry.site { object.append(("site", .string(site))) }
                return .object(object)
            }
        })
    }

    /// The relay each client's latest call path gave it (for the pushed credential refresh).
    private(set) var callRelays: [String: String] = [:]

    func rememberCallRelay(_ relay: String, for client: String) {
        guard callRelays[client] != nil || callRelays.count < links.clientCapacity else { return }
        callRelays[client] = relay
    }

    /// The client forgets nothing it measured, but must ask ICE_CONFIG again before reporting;
    /// its calls are over, and so is the relay they gave it.
    func clientWentOffline(_ id: String) {
        informed.remove(id)
        callRelays[id] = nil
    }
}
