/// Every link the path model knows, in fixed storage: relay↔relay rows as each relay published
/// them (`_cluster/links/{name}`), and client↔relay links from the clients' `LINK_REPORT`s, each
/// with the time it was measured. Relays are named and kept sorted, so every instance numbers
/// them alike; at most `relayCapacity` relays and `clientCapacity` reporting clients.
public struct LinkTable: Sendable {
    /// One measured link and when (Unix seconds) it was measured or expires.
    public struct Entry: Sendable, Equatable {
        public var estimate: LinkEstimate
        public var at: UInt64
    }

    public let relayCapacity: Int
    public let clientCapacity: Int
    /// Relays known (the cluster's instances and the configured external ones), sorted by name.
    public private(set) var relays: [String] = []
    /// Each relay's site (`site=`), by index of `relays`.
    public private(set) var relaySites: [String?] = []
    private var relayRows: [Entry?]  // relayCapacity²: [from * cap + to], as `from` measured it
    private var clientIndex: [String: Int] = [:]
    private var clientIds: [String?]
    private var clientLinks: [Entry?]  // clientCapacity × relayCapacity: `at` = expiry
    /// Client reports refused because the table was full.
    public private(set) var clientTableFull: UInt64 = 0
    /// Changes whenever the relays or their rows change (planners cache the relay edges by it).
    public private(set) var relayVersion: UInt64 = 0

    /// Bytes the tables of a link table with these capacities hold (entries and client ids; the
    /// path search's scratch is ``PathFinder/reservedBytes(capacity:)``).
    public static func reservedBytes(relayCapacity: Int, clientCapacity: Int) -> Int {
        let entry = MemoryLayout<Entry?>.stride
        return relayCapacity * relayCapacity * entry + clientCapacity * relayCapacity * entry
            + clientCapacity * (MemoryLayout<String?>.stride + 48)  // ids and the index's buckets
            + relayCapacity * (MemoryLayout<String>.stride + MemoryLayout<String?>.stride)
    }

    public init(relayCapacity: Int, clientCapacity: Int) {
        self.relayCapacity = relayCapacity
        self.clientCapacity = clientCapacity
        relayRows = [Entry?](repeating: nil, count: relayCapacity * relayCapacity)
        clientIds = [String?](repeating: nil, count: clientCapacity)
        clientLinks = [Entry?](repeating: nil, count: clientCapacity * relayCapacity)
        clientIndex.reserveCapacity(clientCapacity)
    }

    public func relayIndex(_ name: String) -> Int? {
        var low = 0, high = relays.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if relays[middle] == name { return middle }
            if relays[middle] < name { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }

    /// Replaces the set of relays (names and sites). Links of relays that remain are kept; those
    /// of relays gone are dropped. Returns false (and changes nothing) over capacity.
    @discardableResult
    public mutating func setRelays(_ list: [(name: String, site: String?)]) -> Bool {
        var sorted = list.sorted { $0.name < $1.name }
        sorted = sorted.enumerated().filter { $0.offset == 0 || sorted[$0.offset - 1].name != $0.element.name }.map(\.element)  // one per name
        guard sorted.count <= relayCapacity else { return false }
        let names = sorted.map(\.name)
        guard names != relays else {
            relaySites = sorted.map(\.site)
            relayVersion &+= 1
            return true
        }
        let oldIndex = Dictionary(uniqueKeysWithValues: relays.enumerated().map { ($1, $0) })
        var rows = [Entry?](repeating: nil, count: relayCapacity * relayCapacity)
        var links = [Entry?](repeating: nil, count: clientCapacity * relayCapacity)
        for (new, name) in names.enumerated() {
            guard let old = oldIndex[name] else { continue }
            for (newTo, other) in names.enumerated() {
                if let oldTo = oldIndex[other] { rows[new * relayCapacity + newTo] = relayRows[old * relayCapacity + oldTo] }
            }
            for client in 0..<clientCapacity { links[client * relayCapacity + new] = clientLinks[client * relayCapacity + old] }
        }
        relays = names
        relaySites = sorted.map(\.site)
        relayRows = rows
        relayVersion &+= 1
        clientLinks = links
        return true
    }

    /// `from`'s published row: its measurements of the other relays, taken at `at`. Names not
    /// among the relays are ignored; the row replaces the previous one entirely.
    public mutating func setRow(from: String, links: [(to: String, estimate: LinkEstimate)], at: UInt64) {
        guard let row = relayIndex(from) else { return }
        relayVersion &+= 1
        for to in 0..<relays.count { relayRows[row * relayCapacity + to] = nil }
        for link in links {
            guard let to = relayIndex(link.to), to != row else { continue }
            relayRows[row * relayCapacity + to] = Entry(estimate: link.estimate, at: at)
        }
    }

    /// The link between two relays as the path model uses it: the worse of the two relays'
    /// measurements that are younger than `maxAge` seconds (so one relay that lies its links good
    /// cannot hide what the other measured), or the one there is.
    public func relayLink(_ a: Int, _ b: Int, now: UInt64, maxAge: UInt64) -> LinkEstimate? {
        let fresh = { (entry: Entry?) -> LinkEstimate? in
            guard let entry, now <= entry.at + maxAge else { return nil }
            return entry.estimate
        }
        switch (fresh(relayRows[a * relayCapacity + b]), fresh(relayRows[b * relayCapacity + a])) {
        case (let x?, let y?):
            return LinkEstimate(rttMicros: max(x.rttMicros, y.rttMicros), loss: max(x.loss, y.loss),
                                jitterMicros: max(x.jitterMicros, y.jitterMicros))
        case (let x?, nil): return x
        case (nil, let y?): return y
        case (nil, nil): return nil
        }
    }

    /// The measurement `from` published of `to` (for `ctl links`).
    public func row(from: Int, to: Int) -> Entry? { relayRows[from * relayCapacity + to] }

    /// A client's measurement of a relay, valid until `expires`. False when the relay is unknown
    /// or the client table is full (counted).
    @discardableResult
    public mutating func report(client: String, relay: String, estimate: LinkEstimate, expires: UInt64, now: UInt64) -> Bool {
        guard let r = relayIndex(relay) else { return false }
        guard let c = clientSlot(client, now: now) else {
            clientTableFull &+= 1
            return false
        }
        clientLinks[c * relayCapacity + r] = Entry(estimate: estimate, at: expires)
        return true
    }

    /// What `client` reported of relay `relay` (index), if it has not expired.
    public func clientLink(_ client: String, relay: Int, now: UInt64) -> LinkEstimate? {
        guard let c = clientIndex[client], let entry = clientLinks[c * relayCapacity + relay], now < entry.at else { return nil }
        return entry.estimate
    }

    /// Forgets a client's reports (it was removed).
    public mutating func forget(client: String) {
        guard let c = clientIndex.removeValue(forKey: client) else { return }
        clientIds[c] = nil
        for r in 0..<relayCapacity { clientLinks[c * relayCapacity + r] = nil }
    }

    /// Clients with at least one report that has not expired.
    public func reportingClients(now: UInt64) -> [String] {
        clientIndex.keys.filter { id in (0..<relays.count).contains { clientLink(id, relay: $0, now: now) != nil } }.sorted()
    }

    /// The client's slot: its own, a free one, or one whose reports have all expired.
    private mutating func clientSlot(_ client: String, now: UInt64) -> Int? {
        if let c = clientIndex[client] { return c }
        var free = clientIds.firstIndex { $0 == nil }
        if free == nil {
            free = (0..<clientCapacity).first { c in
                (0..<relayCapacity).allSatisfy { r in clientLinks[c * relayCapacity + r].map { now >= $0.at } ?? true }
            }
            if let stale = free, let old = clientIds[stale] { forget(client: old) }
        }
        guard let slot = free else { return nil }
        clientIds[slot] = client
        clientIndex[client] = slot
        return slot
    }
}
