import STUN

/// The transport between a TURN client and the server.
public enum ClientTransport: UInt8, Hashable, Sendable {
    case udp = 17
    case tcp = 6
}

/// An allocation's identity (RFC 8656 §2): the client's address, the server address it talks to,
/// and the transport between them.
public struct FiveTuple: Hashable, Sendable, CustomStringConvertible {
    public var client: TransportAddress
    public var server: TransportAddress
    public var transport: ClientTransport

    public init(client: TransportAddress, server: TransportAddress, transport: ClientTransport) {
        self.client = client
        self.server = server
        self.transport = transport
    }

    public var description: String { "\(transport == .udp ? "udp" : "tcp") \(client)→\(server)" }
}
