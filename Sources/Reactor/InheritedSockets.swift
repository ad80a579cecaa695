import Glibc
import Synchronization

/// Sockets handed over by the rtcgate this process replaces (docs/handover.md), waiting to be
/// claimed by the code that would otherwise create them: a UDP or stream listener asks here for
/// its address before binding one, so the new process serves on the very sockets of the old one.
/// Entries are taken in the order they were offered (several workers share an address with
/// SO_REUSEPORT: the n-th to ask gets the old process's n-th). What nobody claims is closed.
public enum InheritedSockets {
    /// What a descriptor is.
    public enum Kind: UInt8, Sendable {
        case udpListener = 1, streamListener = 2, unixListener = 3, lockFile = 4, relay = 5
    }

    /// One descriptor and what it is for: `key` is its address (`SocketAddress.description`),
    /// a Unix socket's or lock file's path, or a relay's address.
    public struct Entry: Sendable, Equatable {
        public var kind: Kind
        public var key: String
        public var fd: Int32
        public init(kind: Kind, key: String, fd: Int32) {
            self.kind = kind
            self.key = key
            self.fd = fd
        }
    }

    private static let entries = Mutex<[Entry]>([])

    /// Adds descriptors received from the old process.
    public static func offer(_ offered: [Entry]) { entries.withLock { $0 += offered } }

    /// The first unclaimed descriptor of `kind` for `key`, now owned by the caller.
    public static func take(_ kind: Kind, _ key: String) -> Int32? {
        entries.withLock { list in
            guard let index = list.firstIndex(where: { $0.kind == kind && $0.key == key }) else { return nil }
            return list.remove(at: index).fd
        }
    }

    /// Descriptors offered and not claimed yet.
    public static var unclaimed: [Entry] { entries.withLock { $0 } }

    /// Closes every unclaimed descriptor of the given kinds; returns them (for the log).
    @discardableResult
    public static func closeUnclaimed(_ kinds: Set<UInt8>? = nil) -> [Entry] {
        entries.withLock { list in
            let closing = list.filter { kinds?.contains($0.kind.rawValue) ?? true }
            list.removeAll { kinds?.contains($0.kind.rawValue) ?? true }
            for entry in closing { close(entry.fd) }
            return closing
        }
    }
}
