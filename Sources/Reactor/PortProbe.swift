import Glibc

/// Checks that a port is free before a group of SO_REUSEPORT sockets binds it.
///
/// SO_REUSEPORT lets any process of the same user join a port silently (and take a share of its
/// traffic), so a second rtcgate — or a coturn left running — would not be detected by the
/// workers' own binds. A plain bind without the option fails with EADDRINUSE if anyone holds it.
public enum PortProbe {
    /// Throws `bind(<address>/udp|tcp): Address already in use` when the port is taken.
    public static func ensureAvailable(_ address: SocketAddress, udp: Bool, tcp: Bool) throws(SystemError) {
        guard address.port != 0 else { return }
        if udp { try probe(address, type: Int32(SOCK_DGRAM.rawValue), label: "udp") }
        if tcp { try probe(address, type: Int32(SOCK_STREAM.rawValue), label: "tcp") }
    }

    private static func probe(_ address: SocketAddress, type: Int32, label: String) throws(SystemError) {
        let fd = socket(address.family, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError("socket") }
        defer { close(fd) }
        if address.family == AF_INET6 { try setSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        if type == Int32(SOCK_STREAM.rawValue) { try setSocketOption(fd, SOL_SOCKET, SO_REUSEADDR, 1) }
        if address.withSockAddr({ bind(fd, $0, $1) }) != 0 { throw SystemError("bind(\(address)/\(label))") }
    }
}
