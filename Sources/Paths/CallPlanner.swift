/// The rules of the path model (docs/paths.md): the minimum quality `t`, what to do when no path
/// meets it, how old a measurement may be, and the edge a client gets to the relays of its own
/// site when it never reported.
public struct PathPolicy: Sendable, Equatable {
    /// `path-min-quality`: edges below it are removed before the search.
    public var minQuality = 0.5
    /// `path-strict`: with no path meeting `minQuality`, refuse (`no-path`) instead of degrading.
    public var strict = false
    /// Relay rows older than this (seconds) are ignored (an instance that stopped publishing).
    public var rowMaxAge: UInt64 = 30
    /// The edge between a client and a relay of its site, when the client has not reported it.
    public var siteDefault = LinkEstimate(rttMicros: 5_000, loss: 0, jitterMicros: 1_000)

    public init() {}
}

/// A call's path through the relays: the relay each end allocates on (the same one when the path
/// crosses one relay), its cost and lowest edge quality, whether it is below the minimum
/// (`degraded`), and the edges the threshold removed (for `ctl path`).
public struct CallPath: Sendable, Equatable {
    public var from: String
    public var to: String
    /// Relay names along the path, from `from`'s end: one or two.
    public var relays: [String]
    public var costMicros: Int64
    public var bottleneck: Double
    public var degraded: Bool
    public var excluded: [ExcludedEdge]

    /// The relay `client` must allocate on: the first relay from its end.
    public func relay(for client: String) -> String? {
        client == from ? relays.first : client == to ? relays.last : nil
    }

    /// The same path described from `client`'s end.
    public func seen(from client: String) -> CallPath {
        guard client == to else { return self }
        return CallPath(from: to, to: from, relays: relays.reversed(), costMicros: costMicros, bottleneck: bottleneck,
                        degraded: degraded, excluded: excluded)
    }
}

/// An edge the minimum quality removed.
public struct ExcludedEdge: Sendable, Equatable {
    public var from: String
    public var to: String
    public var quality: Double
}

/// Chooses call paths over a ``LinkTable``: vertices are the relays (sorted by name) and the call's
/// two clients; relay↔relay edges are the relays' measurements, client↔relay edges the clients'
/// reports or their site's default. A path crosses one or two relays: each client allocates on one
/// relay (TURN), and two relays exchange the media directly. The search always runs from the
/// client whose id sorts first, so both ends of a call get the same path.
public struct CallPlanner: Sendable {
    public private(set) var graph: PathGraph
    private var finder: PathFinder
    /// The relay edges in `graph` are for this (table version, second, relay count).
    private var builtFor: (UInt64, UInt64, Int) = (.max, .max, -1)
    private var builtPolicy: PathPolicy?
    private var relayExcluded: [ExcludedEdge] = []

    public init(relayCapacity: Int) {
        graph = PathGraph(capacity: relayCapacity + 2)
        finder = PathFinder(capacity: relayCapacity + 2)
    }

    /// The path for a call between `a` and `b` (each with its site, if known), or nil when no
    /// relay reaches both (or, with `strict`, none does well enough).
    public mutating func plan(_ a: (id: String, site: String?), _ b: (id: String, site: String?), links: LinkTable,
                              policy: PathPolicy, now: UInt64) -> CallPath? {
        let (first, second) = a.id <= b.id ? (a, b) : (b, a)
        let relayCount = links.relays.count
        guard relayCount > 0, first.id != second.id else { return nil }
        let (source, target) = (relayCount, relayCount + 1)
        // Relay↔relay edges change with the relays' rows (every 2 s at most per relay) and with
        // age (whole seconds): rebuilt only then, so a call costs its two clients' edges and the search.
        if builtFor != (links.relayVersion, now, relayCount) || builtPolicy != policy {
            graph.reset(vertices: relayCount + 2)
            relayExcluded.removeAll(keepingCapacity: true)
            for x in 0..<relayCount {
                for y in (x + 1)..<relayCount {
                    guard let link = links.relayLink(x, y, now: now, maxAge: policy.rowMaxAge) else { continue }
                    graph.setLink(x, y, link)
                    if link.quality < policy.minQuality {
                        relayExcluded.append(ExcludedEdge(from: links.relays[x], to: links.relays[y], quality: link.quality))
                    }
                }
            }
            builtFor = (links.relayVersion, now, relayCount)
            builtPolicy = policy
        } else {
            graph.isolate(source)
            graph.isolate(target)
        }
        graph.setTransit(source, false)
        graph.setTransit(target, false)
        var excluded = relayExcluded
        for x in 0..<relayCount {
            for (vertex, client) in [(source, first), (target, second)] {
                let reported = links.clientLink(client.id, relay: x, now: now)
                let siteLink = client.site != nil && client.site == links.relaySites[x] ? policy.siteDefault : nil
                guard let link = reported ?? siteLink else { continue }
                graph.setLink(vertex, x, link)
                if link.quality < policy.minQuality {
                    excluded.append(ExcludedEdge(from: client.id, to: links.relays[x], quality: link.quality))
                }
            }
        }
        guard let choice = finder.choose(in: graph, from: source, to: target, minQuality: policy.minQuality, maxTransit: 2,
                                         strict: policy.strict) else { return nil }
        var relays = choice.vertices.dropFirst().dropLast().map { links.relays[$0] }
        var path = CallPath(from: first.id, to: second.id, relays: relays, costMicros: choice.costMicros,
                            bottleneck: choice.bottleneck, degraded: choice.degraded, excluded: excluded)
        if first.id != a.id {  // report it from `a`'s end
            relays.reverse()
            path = CallPath(from: a.id, to: b.id, relays: relays, costMicros: path.costMicros, bottleneck: path.bottleneck,
                            degraded: path.degraded, excluded: excluded)
        }
        return path
    }
}
