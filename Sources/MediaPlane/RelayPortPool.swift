import CSystem
import Glibc
import Reactor
import STUN
import TURN

/// The relay ports one media worker owns and the UDP sockets bound on them.
///
/// The configured range (`min-port`…`max-port`) is split between workers by port pair
/// (`(port / 2) % workers == id`), so workers never contend for a port and an even port and
/// the odd one after it (EVEN-PORT reservations, RFC 8656 §7.2) belong to the same worker.
/// Ports are tried from a random starting point (RFC 8656 asks for unpredictable relayed
/// ports); a port some other process holds is skipped. Each open relay socket is registered
/// with the worker's loop.
final class RelayPortPool: RelayAddressProvider {
    /// One open relayed address.
    struct Relay {
        let socket: UDPSocket
        let registration: Registration
        /// The allocation it relays for; set by the TURN core (`bind`) once the Allocate that
        /// opened it has succeeded, and gone with the relay when the core closes it.
        fileprivate(set) var allocation: AllocationID?
    }

    private let ports: [UInt16]
    private let range: ClosedRange<UInt16>
    private let reservations: RelayReservations
    private let relayIPv4: IPAddress?
    private let relayIPv6: IPAddress?
    private let socketBufferBytes: Int?
    private let segmentation: Bool
    /// Open relays by port offset in the whole range: a worker may bind a port outside its own
    /// share when it claims another worker's reservation.
    private var relays: [Relay?]
    private var cursor: Int
    private unowned let loop: EventLoop
    private let makeHandler: (Int) -> EventHandler
    /// Times no port could be had (508 to the client).
    private(set) var exhaustions: UInt64 = 0


    init(range: ClosedRange<UInt16>, worker: Int, workers: Int, relayIPv4: IPAddress?, relayIPv6: IPAddress?,
         reservations: RelayReservations, socketBufferBytes: Int?, segmentation: Bool, loop: EventLoop, makeHandler: @escaping (Int) -> EventHandler) {
        let workers = max(1, workers)
        ports = range.filter { Int($0 / 2) % workers == worker % workers }
        self.range = range
        self.reservations = reservations
        self.relayIPv4 = relayIPv4
        self.relayIPv6 = relayIPv6
        self.socketBufferBytes = socketBufferBytes
        self.segmentation = segmentation
        relays = Array(repeating: nil, count: range.count)
        cursor = ports.isEmpty ? 0 : Int.random(in: 0..<ports.count)
        self.loop = loop
        self.makeHandler = makeHandler
    }

    func openRelay(family: RelayFamily, evenPort: Bool, reserveNext: Bool) -> (address: TransportAddress, reservation: UInt64?)? {
        guard let ip = family == .ipv4 ? relayIPv4 : relayIPv6, !ports.isEmpty else {
            exhaustions &+= 1
            return nil
        }
        let now = MonotonicClock.now()
        for step in 0..<ports.count {
            let position = (cursor + step) % ports.count
            let port = ports[position]
            guard let index = index(of: port), relays[index] == nil, !evenPort || port % 2 == 0 else { continue }
            var held: UDPSocket?
            if reserveNext {
                // The next port is bound now and held unwatched until its token is claimed, with
                // the smallest buffers (it is not read: what arrives meanwhile is not wanted).
                guard port < range.upperBound, let next = self.index(of: port + 1), relays[next] == nil,
                      let socket = try? UDPSocket(bindTo: SocketAddress(TransportAddress(ip: ip, port: port + 1)),
                                                  bufferBytes: socketBufferBytes.map { _ in Self.heldBufferBytes }, segmentation: segmentation) else { continue }
                held = socket
            }
            guard bindSocket(ip: ip, port: port) else { continue }
            var token: UInt64?
            if let held {
                guard let reserved = reservations.reserve(TransportAddress(ip: ip, port: port + 1), socket: held, now: now) else {
                    release(index)
                    exhaustions &+= 1
                    return nil
                }
                token = reserved
            }
            cursor = (position + 1) % ports.count
            return (TransportAddress(ip: ip, port: port), token)
        }
        exhaustions &+= 1
        return nil
    }

    func claimReservation(_ token: UInt64) -> TransportAddress? {
        guard let (address, socket) = reservations.claim(token, now: MonotonicClock.now()), let index = self.index(of: address),
              relays[index] == nil, adopt(socket, at: index) else {
            exhaustions &+= 1
            return nil
        }
        if let socketBufferBytes { socket.resizeBuffers(socketBufferBytes) }
        return address
    }

    func closeRelay(_ address: TransportAddress) {
        guard let index = index(of: address) else { return }
        release(index)
    }

    /// Watches a relay socket handed over by the process this one replaces (docs/handover.md).
    /// Takes ownership of `fd` (closed when it cannot be used).
    func adoptInherited(_ address: TransportAddress, fd: Int32, segmentation: Bool) -> Bool {
        guard let index = index(of: address), relays[index] == nil else {
            close(fd)
            return false
        }
        guard let socket = try? UDPSocket(adopting: fd, segmentation: segmentation) else { return false }
        return adopt(socket, at: index)
    }

    /// Releases lapsed EVEN-PORT reservations (any worker may do it).
    func expireReservations(now: UInt64) { reservations.expire(now: now) }

    /// Whether any EVEN-PORT reservation is held (by any worker).
    var holdsReservations: Bool { reservations.count > 0 }

    func setDontFragment(_ address: TransportAddress) {
        guard let index = index(of: address), let relay = relays[index] else { return }
        relay.socket.setDontFragment(address.ip.isIPv4)
    }

    /// The relay open on `index` (the handler's number).
    subscript(index: Int) -> Relay? { relays[index] }

    func bind(_ address: TransportAddress, to id: AllocationID) {
        guard let index = index(of: address), relays[index] != nil else { return }
        relays[index]?.allocation = id
    }

    /// The relay index of a relayed address.
    func index(of address: TransportAddress) -> Int? { index(of: address.port) }

    private func index(of port: UInt16) -> Int? {
        range.contains(port) ? Int(port - range.lowerBound) : nil
    }

    private func bindSocket(ip: IPAddress, port: UInt16) -> Bool {
        guard let index = index(of: port),
              let socket = try? UDPSocket(bindTo: SocketAddress(TransportAddress(ip: ip, port: port)), bufferBytes: socketBufferBytes, segmentation: segmentation) else {
            return false
        }
        return adopt(socket, at: index)
    }

    /// Buffer request for a held reservation (the kernel raises it to its minimum, ~4.5 KiB).
    static let heldBufferBytes = 2_048

    /// Watches a bound relay socket from this worker's loop.
    private func adopt(_ socket: UDPSocket, at index: Int) -> Bool {
        guard let registration = try? loop.register(fd: socket.fd, events: EPOLLIN.rawValue, handler: makeHandler(index)) else {
            return false
        }
        relays[index] = Relay(socket: socket, registration: registration, allocation: nil)
        return true
    }

    private func release(_ index: Int) {
        guard let relay = relays[index] else { return }
        loop.deregister(relay.registration)
        relays[index] = nil
    }
}
