/// Which rtcgate instance of a cluster speaks to which client.
///
/// Every instance of a cluster receives every client message (and every presence change) and
/// runs the same router over them, so all routers hold the same sessions; each outbound message
/// is published by exactly one instance: the owner of its recipient. Owners are chosen by a
/// stable hash of the client id over the instances currently online (sorted by name), so when
/// an instance goes away its clients move to the others, and every instance agrees on the
/// owner as soon as it has seen the same presence.
public struct ClusterMembership: Sendable, Equatable {
    /// This instance's name.
    public let name: String
    /// Instances online, sorted; always includes this one.
    public private(set) var online: [String]

    public init(name: String) {
        self.name = name
        online = [name]
    }

    /// Records another instance's presence; returns true when the set changed.
    @discardableResult
    public mutating func set(_ instance: String, online isOnline: Bool) -> Bool {
        guard instance != name else { return false }
        let present = online.contains(instance)
        if isOnline && !present {
            online.append(instance)
            online.sort()
            return true
        }
        if !isOnline && present {
            online.removeAll { $0 == instance }
            return true
        }
        return false
    }

    /// The instance that publishes to `clientId`.
    public func owner(of clientId: String) -> String {
        online[Int(Self.hash(clientId) % UInt64(online.count))]
    }

    /// Whether this instance publishes to `clientId`.
    public func owns(_ clientId: String) -> Bool { owner(of: clientId) == name }

    /// FNV-1a over the id's UTF-8 bytes: stable across processes and versions.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}
