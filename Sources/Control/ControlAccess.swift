import CSystem
import Glibc

/// The process at the other end of a control connection, from `SO_PEERCRED` (pid, uid, gid)
/// and `SO_PEERGROUPS` (supplementary groups).
public struct ControlPeer: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups at connect time (empty where the kernel predates SO_PEERGROUPS).
    public var groups: [UInt32]

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// The credentials of the connected Unix socket `fd`; nil if the kernel does not say.
    public init?(socket fd: Int32) {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard rtcgate_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        self.init(pid: pid, uid: uid, gid: gid, groups: Self.supplementaryGroups(fd))
    }

    /// SO_PEERGROUPS (Linux 4.13+; 59 on every Linux architecture).
    private static func supplementaryGroups(_ fd: Int32) -> [UInt32] {
        var groups = [UInt32](repeating: 0, count: 64)
        for _ in 0..<2 {
            var length = socklen_t(groups.count * 4)
            if getsockopt(fd, SOL_SOCKET, 59, &groups, &length) == 0 { return Array(groups.prefix(Int(length) / 4)) }
            guard errno == ERANGE, Int(length) / 4 > groups.count else { return [] }
            groups = [UInt32](repeating: 0, count: Int(length) / 4)
        }
        return []
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// Who may use the control socket: root, the daemon's own effective uid, processes whose gid or
/// supplementary groups include the configured group, and the listed uids.
public struct ControlAccessPolicy: Sendable, Equatable {
    /// The control group's gid, or nil when none is configured.
    public var groupId: gid_t?
    /// Further uids allowed explicitly.
    public var allowedUids: [uid_t]
    /// Whether root and the daemon's effective uid are always allowed (tests turn it off).
    var trustsRootAndSelf = true

    public init(groupId: gid_t? = nil, allowedUids: [uid_t] = []) {
        self.groupId = groupId
        self.allowedUids = allowedUids
    }

    /// Whether `peer` may issue commands.
    public func allows(_ peer: ControlPeer) -> Bool {
        if trustsRootAndSelf && (peer.uid == 0 || peer.uid == geteuid()) { return true }
        if let groupId, peer.gid == groupId || peer.groups.contains(groupId) { return true }
        return allowedUids.contains(peer.uid)
    }

    /// What a refused peer is told: who is allowed.
    public func refusal(for peer: ControlPeer) -> String {
        var allowed: [String] = []
        if trustsRootAndSelf { allowed.append("root or uid \(geteuid())") }
        if let groupId { allowed.append("group \(Self.groupName(groupId) ?? String(groupId)) (gid \(groupId))") }
        if !allowedUids.isEmpty { allowed.append("uid " + allowedUids.map(String.init).joined(separator: ", ")) }
        let who = allowed.isEmpty ? "nobody" : allowed.joined(separator: ", or ")
        return "uid \(peer.uid) (gid \(peer.gid)) may not use the control socket; allowed: \(who)"
    }

    /// The gid of a group named `name` (from the group database), or nil when there is none.
    public static func groupId(named name: String) -> gid_t? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The name of group `gid`, or nil when the group database has none.
    public static func groupName(_ gid: gid_t) -> String? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrgid_r(gid, &group, &buffer, buffer.count, &result) == 0, result != nil, let name = group.gr_name else {
            return nil
        }
        return String(cString: name)
    }
}
