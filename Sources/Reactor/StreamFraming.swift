/// What a framer makes of the bytes buffered on a stream so far.
public enum FrameDecision: Equatable, Sendable {
    /// No complete frame yet.
    case needMore
    /// The first `length` bytes are one frame.
    case frame(length: Int)
    /// The bytes cannot start a valid frame: close the stream.
    case invalid
}

/// Splits a byte stream into frames.
public protocol StreamFramer {
    func decide(_ buffered: UnsafeRawBufferPointer) -> FrameDecision
}

/// RFC 8489 §6.2.2 / RFC 8656 §12.5 framing: a stream carries STUN messages (first two bits 00,
/// 20-byte header plus the header's length) and ChannelData messages (first two bits 01, 4-byte
/// header plus length, padded to a multiple of four over streams).
public struct StunStreamFramer: StreamFramer, Sendable {
    public init() {}

    @inlinable
    public func decide(_ buffered: UnsafeRawBufferPointer) -> FrameDecision {
        guard buffered.count >= 4 else { return .needMore }
        let length = Int(buffered[2]) << 8 | Int(buffered[3])
        let total: Int
        switch buffered[0] >> 6 {
        case 0:
            guard length % 4 == 0 else { return .invalid }
            total = 20 + length
        case 1:
            total = 4 + ((length + 3) & ~3)
        default:
            return .invalid
        }
        return buffered.count >= total ? .frame(length: total) : .needMore
    }
}

/// Newline-delimited frames (the control socket's JSON lines). The frame includes the `\n`.
public struct LineFramer: StreamFramer, Sendable {
    public init() {}

    public func decide(_ buffered: UnsafeRawBufferPointer) -> FrameDecision {
        if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) { return .frame(length: newline + 1) }
        return .needMore
    }
}
