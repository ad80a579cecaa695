import Glibc
import Reactor
import STUN
import Synchronization

/// Ports held by EVEN-PORT Allocates (R bit) for a later Allocate with the RESERVATION-TOKEN,
/// shared by every worker: the two Allocates come from different client sockets, which the
/// kernel may hand to different workers. The reserved port stays bound (so nothing else can
/// take it) by a socket no loop watches; the worker that claims it takes the socket over and
/// registers it with its own loop. Only Allocates touch this table, never packets.
public final class RelayReservations: Sendable {
    /// A bound, unwatched socket changing hands between workers' threads.
    private struct HeldSocket: @unchecked Sendable {
        let socket: UDPSocket
    }

    private struct Entry: Sendable {
        var token: UInt64
        var address: TransportAddress
        var held: HeldSocket
        var expiry: UInt64
    }

    /// How long a reserved port is held (RFC 8656 §7.2: about 30 seconds).
    public static let holdNanos: UInt64 = 30_000_000_000
    /// Reservations held at once (more are refused: the Allocate gets 508).
    public let capacity: Int
    private let entries: Mutex<[Entry]>

    public init(capacity: Int = 256) {
        self.capacity = capacity
        var initial: [Entry] = []
        initial.reserveCapacity(capacity)
        entries = Mutex(initial)
    }

    /// Holds `socket`, bound on `address`, under a new random token; nil when the table is full.
    func reserve(_ address: TransportAddress, socket: UDPSocket, now: UInt64) -> UInt64? {
        var token: UInt64 = 0
        withUnsafeMutableBytes(of: &token) { arc4random_buf($0.baseAddress!, $0.count) }
        let held = HeldSocket(socket: socket)
        return entries.withLock { entries in
            entries.removeAll { $0.expiry <= now }  // closes the sockets of lapsed reservations
            guard entries.count < capacity else { return nil }
            entries.append(Entry(token: token, address: address, held: held, expiry: now + Self.holdNanos))
            return token
        }
    }

    /// Takes the reservation of `token` (and its socket) out of the table.
    func claim(_ token: UInt64, now: UInt64) -> (address: TransportAddress, socket: UDPSocket)? {
        let entry: Entry? = entries.withLock { entries in
            guard let position = entries.firstIndex(where: { $0.token == token && $0.expiry > now }) else { return nil }
            return entries.remove(at: position)
        }
        return entry.map { ($0.address, $0.held.socket) }
    }

    /// Releases reservations nobody claimed in time.
    func expire(now: UInt64) {
        entries.withLock { entries in entries.removeAll { $0.expiry <= now } }
    }

    /// Reservations held now.
    public var count: Int { entries.withLock { $0.count } }
}
