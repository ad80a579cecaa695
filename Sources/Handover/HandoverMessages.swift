import Glibc
import Reactor

/// Why this side of a handover gives up; the text goes to the other side and the log.
public struct HandoverRefusal: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The first message (old → new): who is handing over, the layout the successor must match,
/// the nonce key, and the listening sockets (and the store's lock) in creation order.
public struct HandoverOffer {
    public var pid: Int32
    public var version: String
    public var workers: Int
    public var nonceSecret: [UInt8]
    public var sockets: [InheritedSockets.Entry]

    public init(pid: Int32, version: String, workers: Int, nonceSecret: [UInt8], sockets: [InheritedSockets.Entry]) {
        self.pid = pid
        self.version = version
        self.workers = workers
        self.nonceSecret = nonceSecret
        self.sockets = sockets
    }

    public func send(on link: HandoverLink) throws(SystemError) {
        var out = SnapshotWriter()
        out.u32(UInt32(bitPattern: pid))
        out.string(version)
        out.u32(UInt32(workers))
        out.blob(nonceSecret)
        HandoverOffer.write(sockets, &out)
        try link.send(.offer, SnapshotEnvelope.seal(out.bytes), descriptors: sockets.map(\.fd))
    }

    /// Reads an offer; a format this build does not read, or damage, is refused (descriptors closed).
    public static func read(_ message: HandoverMessage) throws(HandoverRefusal) -> HandoverOffer {
        do {
            guard message.step == .offer else { throw HandoverRefusal("expected an offer, got \(message.step)") }
            var reader = SnapshotReader(try SnapshotEnvelope.open(message.payload))
            let pid = Int32(bitPattern: try reader.u32())
            let version = try reader.string()
            let workers = Int(try reader.u32())
            let secret = try reader.blob()
            let sockets = try read(&reader, descriptors: message.descriptors)
            return HandoverOffer(pid: pid, version: version, workers: workers, nonceSecret: secret, sockets: sockets)
        } catch {
            message.descriptors.forEach { close($0) }
            throw HandoverRefusal("\(error)")
        }
    }

    static func write(_ entries: [InheritedSockets.Entry], _ out: inout SnapshotWriter) {
        out.u32(UInt32(entries.count))
        for entry in entries {
            out.u8(entry.kind.rawValue)
            out.string(entry.key)
        }
    }

    /// Entries described in the payload, matched in order with the descriptors that came along.
    static func read(_ reader: inout SnapshotReader, descriptors: [Int32]) throws -> [InheritedSockets.Entry] {
        let count = try reader.count(minimumBytes: 5)
        guard count == descriptors.count else { throw HandoverRefusal("\(count) sockets described, \(descriptors.count) received") }
        var entries: [InheritedSockets.Entry] = []
        for fd in descriptors {
            guard let kind = InheritedSockets.Kind(rawValue: try reader.u8()) else { throw HandoverRefusal("unknown socket kind") }
            entries.append(InheritedSockets.Entry(kind: kind, key: try reader.string(), fd: fd))
        }
        return entries
    }
}

/// The media state (old → new), sent once every worker of the old process has stopped reading:
/// each worker's allocations and the relay sockets they use.
public struct HandoverSnapshot {
    /// When the old process's workers stopped reading (monotonic ns, shared on one machine).
    public var pausedAt: UInt64
    public var workers: [[UInt8]]
    public var relays: [InheritedSockets.Entry]

    public init(pausedAt: UInt64, workers: [[UInt8]], relays: [InheritedSockets.Entry]) {
        self.pausedAt = pausedAt
        self.workers = workers
        self.relays = relays
    }

    public func send(on link: HandoverLink) throws(SystemError) {
        var out = SnapshotWriter()
        out.u64(pausedAt)
        out.u32(UInt32(workers.count))
        for worker in workers { out.blob(worker) }
        HandoverOffer.write(relays, &out)
        try link.send(.snapshot, SnapshotEnvelope.seal(out.bytes), descriptors: relays.map(\.fd))
    }

    public static func read(_ message: HandoverMessage) throws(HandoverRefusal) -> HandoverSnapshot {
        do {
            guard message.step == .snapshot else { throw HandoverRefusal("expected the snapshot, got \(message.step)") }
            var reader = SnapshotReader(try SnapshotEnvelope.open(message.payload))
            let pausedAt = try reader.u64()
            var workers: [[UInt8]] = []
            for _ in 0..<(try reader.count(minimumBytes: 4)) { workers.append(try reader.blob()) }
            let relays = try HandoverOffer.read(&reader, descriptors: message.descriptors)
            guard reader.isAtEnd else { throw HandoverRefusal("bytes after the snapshot") }
            return HandoverSnapshot(pausedAt: pausedAt, workers: workers, relays: relays)
        } catch {
            message.descriptors.forEach { close($0) }
            throw HandoverRefusal("\(error)")
        }
    }
}
