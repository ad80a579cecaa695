import Glibc
import Reactor
import STUN
import Synchronization

/// Ports held by EVEN-PORT Allocates (R bit) for a later Allocate with the RESERVATION-TOKEN,
/// shared by every worker: the two Allocates come from different client sockets, which the
/// kernel may hand to different workers. A reserved port is left unbound (probed free when
/// reserved) and bound by whichever worker claims it. Only Allocates touch it, never packets.
public final class RelayReservations: Sendable {
    private struct Entry {
        var token: UInt64
        var address: TransportAddress
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

    /// Holds `address` under a new random token; nil when the table is full.
    func reserve(_ address: TransportAddress, now: UInt64) -> UInt64? {
        var token: UInt64 = 0
        withUnsafeMutableBytes(of: &token) { arc4random_buf($0.baseAddress!, $0.count) }
        return entries.withLock { entries in
            entries.removeAll { $0.expiry <= now }
            guard entries.count < capacity else { return nil }
            entries.append(Entry(token: token, address: address, expiry: now + Self.holdNanos))
            return token
        }
    }

    /// Whether a live reservation holds `port`.
    func isReserved(port: UInt16, now: UInt64) -> Bool {
        entries.withLock { entries in entries.contains { $0.address.port == port && $0.expiry > now } }
    }

    /// Takes the reservation of `token` out of the table.
    func claim(_ token: UInt64, now: UInt64) -> TransportAddress? {
        entries.withLock { entries in
            guard let position = entries.firstIndex(where: { $0.token == token && $0.expiry > now }) else { return nil }
            return entries.remove(at: position).address
        }
    }
}
