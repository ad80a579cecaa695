/// An IP address and port, e.g. the source of a datagram or a mapped/relayed address.
public struct TransportAddress: Hashable, Sendable, CustomStringConvertible {
    /// The IP address.
    public var ip: IPAddress
    /// The UDP/TCP port.
    public var port: UInt16

    /// Creates a transport address.
    @inlinable
    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    /// "192.0.2.1:3478" for IPv4, "[2001:db8::1]:3478" for IPv6.
    public var description: String {
        switch ip {
        case .v4: return "\(ip):\(port)"
        case .v6: return "[\(ip)]:\(port)"
        }
    }
}
