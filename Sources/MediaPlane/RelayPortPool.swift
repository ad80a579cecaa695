import Reactor
import STUN
import TURN

/// The relay ports one media worker owns and the UDP sockets bound on them.
///
/// The configured range (`min-port`…`max-port`) is split between workers by port number
/// (`port % workers == id`), so workers never contend for a port. Ports are tried from a random
/// starting point (RFC 8656 §7.2 asks for unpredictable relayed ports); a port some other
/// process holds is skipped. Each open relay socket is registered with the worker's loop.
final class RelayPortPool: RelayAddressProvider {
    /// One open relayed address.
    struct Relay {
        let socket: UDPSocket
        let registration: Registration
        /// Set once the Allocate that opened it has succeeded.
        var allocation: AllocationID?
    }

    private let ports: [UInt16]
    private let relayIPv4: IPAddress?
    private let relayIPv6: IPAddress?
    private let socketBufferBytes: Int?
    private var relays: [Relay?]
    private var cursor: Int
    private unowned let loop: EventLoop
    private let makeHandler: (Int) -> EventHandler
    /// Relays currently open.
    private(set) var openCount = 0
    /// Times no port could be had (508 to the client).
    private(set) var exhaustions: UInt64 = 0

    init(range: ClosedRange<UInt16>, worker: Int, workers: Int, relayIPv4: IPAddress?, relayIPv6: IPAddress?,
         socketBufferBytes: Int?, loop: EventLoop, makeHandler: @escaping (Int) -> EventHandler) {
        ports = range.filter { Int($0) % max(1, workers) == worker % max(1, workers) }
        self.relayIPv4 = relayIPv4
        self.relayIPv6 = relayIPv6
        self.socketBufferBytes = socketBufferBytes
        relays = Array(repeating: nil, count: ports.count)
        cursor = ports.isEmpty ? 0 : Int.random(in: 0..<ports.count)
        self.loop = loop
        self.makeHandler = makeHandler
    }

    /// Ports this worker may use.
    var capacity: Int { ports.count }

    func openRelay(family: RelayFamily, evenPort: Bool) -> TransportAddress? {
        guard let ip = family == .ipv4 ? relayIPv4 : relayIPv6, !ports.isEmpty else {
            exhaustions &+= 1
            return nil
        }
        for step in 0..<ports.count {
            let index = (cursor + step) % ports.count
            guard relays[index] == nil, !evenPort || ports[index] % 2 == 0 else { continue }
            let address = TransportAddress(ip: ip, port: ports[index])
            guard let socket = try? UDPSocket(bindTo: SocketAddress(address), bufferBytes: socketBufferBytes) else { continue }
            guard let registration = try? loop.register(fd: socket.fd, events: EPOLLIN_MASK, handler: makeHandler(index)) else {
                continue
            }
            relays[index] = Relay(socket: socket, registration: registration, allocation: nil)
            cursor = (index + 1) % ports.count
            openCount += 1
            return address
        }
        exhaustions &+= 1
        return nil
    }

    func closeRelay(_ address: TransportAddress) {
        guard let index = self.index(of: address), let relay = relays[index] else { return }
        loop.deregister(relay.registration)
        relays[index] = nil
        openCount -= 1
    }

    /// The relay open on `index` (the handler's number).
    subscript(index: Int) -> Relay? {
        get { relays[index] }
        set { relays[index] = newValue }
    }

    /// The pool index of a relayed address.
    func index(of address: TransportAddress) -> Int? {
        guard let first = ports.first else { return nil }
        let step = ports.count > 1 ? Int(ports[1] - first) : 1
        let offset = Int(address.port) - Int(first)
        guard offset >= 0, offset % step == 0, offset / step < ports.count else { return nil }
        return offset / step
    }
}

/// EPOLLIN as a mask (Glibc imports it as an enum case).
let EPOLLIN_MASK: UInt32 = 0x001
