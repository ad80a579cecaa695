import Glibc
import Reactor

/// The steps of a handover (docs/handover.md), as the type byte of each message.
public enum HandoverStep: UInt8, Sendable, CustomStringConvertible {
    /// Old → new: the format, the layout and the listening sockets (with the store's lock).
    case offer = 1
    /// New → old: built around the listening sockets, ready for the state.
    case readyForState = 2
    /// Old → new: the snapshot (sealed) and the relay sockets; the old has stopped reading.
    case snapshot = 3
    /// New → old: the new process's workers read the sockets now.
    case serving = 4
    /// New → old: the readiness check passed (listeners served, broker connected).
    case ready = 5
    /// Old → new: the old process is leaving; the new one owns everything.
    case commit = 6
    /// Old → new: the signaling router's state, once the old process has left the broker.
    case signalingState = 7
    /// Either way: this side gives up (the payload says why); the old one keeps or resumes serving.
    case refuse = 9

    public var description: String {
        switch self {
        case .offer: "offer"
        case .readyForState: "ready-for-state"
        case .snapshot: "snapshot"
        case .serving: "serving"
        case .ready: "ready"
        case .commit: "commit"
        case .signalingState: "signaling-state"
        case .refuse: "refuse"
        }
    }
}

/// One message of the handover: its step, its bytes and the descriptors it carried.
public struct HandoverMessage {
    public var step: HandoverStep
    public var payload: [UInt8]
    public var descriptors: [Int32]
}

/// Typed messages of any size over a `DescriptorChannel`: a payload larger than one frame goes in
/// pieces, each `[step][more][piece]`, with the descriptors on the first.
public final class HandoverLink {
    public let channel: DescriptorChannel
    /// Descriptors one message may carry at most (every relay socket of a full gateway fits).
    public static let maxDescriptors = 1 << 18
    static let pieceBytes = 60_000

    public init(channel: DescriptorChannel) { self.channel = channel }

    public func send(_ step: HandoverStep, _ payload: [UInt8] = [], descriptors: [Int32] = []) throws(SystemError) {
        var offset = 0
        var first = true
        repeat {
            let end = min(payload.count, offset + Self.pieceBytes)
            let more: UInt8 = end < payload.count ? 1 : 0
            try channel.send([step.rawValue, more] + payload[offset..<end], descriptors: first ? descriptors : [])
            first = false
            offset = end
        } while offset < payload.count
    }

    /// The next message (the receive time-out of the channel applies to each piece).
    public func receive() throws(SystemError) -> HandoverMessage {
        var payload: [UInt8] = []
        var descriptors: [Int32] = []
        var step: HandoverStep?
        while true {
            let (bytes, passed) = try channel.receive(maxDescriptors: Self.maxDescriptors - descriptors.count)
            descriptors += passed
            guard bytes.count >= 2, let kind = HandoverStep(rawValue: bytes[0]), step == nil || step == kind else {
                descriptors.forEach { close($0) }
                throw SystemError("handover: malformed message", code: EPROTO)
            }
            step = kind
            payload += bytes[2...]
            if bytes[1] == 0 { return HandoverMessage(step: kind, payload: payload, descriptors: descriptors) }
        }
    }
}

/// Little-endian fields for the snapshot's payload.
public struct SnapshotWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
    public mutating func u32(_ value: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
    public mutating func u64(_ value: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) } }
    public mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    public mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes += value
    }
    public mutating func string(_ value: String) { blob(Array(value.utf8)) }
}

/// Reads what `SnapshotWriter` wrote; any read past the end throws (a damaged snapshot is refused whole).
public struct SnapshotReader {
    /// A read past the end, or a value out of range.
    public struct Malformed: Error, CustomStringConvertible {
        public let what: String
        public init(_ what: String) { self.what = what }
        public var description: String { "malformed snapshot: \(what)" }
    }

    private let bytes: [UInt8]
    public private(set) var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int) throws(Malformed) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw Malformed("truncated at byte \(offset)") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    private mutating func little(_ count: Int) throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        for (i, byte) in try take(count).enumerated() { value |= UInt64(byte) << (8 * i) }
        return value
    }

    public mutating func u8() throws(Malformed) -> UInt8 { UInt8(try little(1)) }
    public mutating func u16() throws(Malformed) -> UInt16 { UInt16(try little(2)) }
    public mutating func u32() throws(Malformed) -> UInt32 { UInt32(try little(4)) }
    public mutating func u64() throws(Malformed) -> UInt64 { try little(8) }
    public mutating func bool() throws(Malformed) -> Bool { try u8() != 0 }
    public mutating func blob() throws(Malformed) -> [UInt8] { Array(try take(Int(try u32()))) }
    public mutating func string() throws(Malformed) -> String { String(decoding: try blob(), as: UTF8.self) }
    /// A count of items that each take at least `minimumBytes`: bounded by what is left.
    public mutating func count(minimumBytes: Int = 1) throws(Malformed) -> Int {
        let n = Int(try u32())
        guard n * max(1, minimumBytes) <= bytes.count - offset else { throw Malformed("count \(n) exceeds the bytes left") }
        return n
    }
}
