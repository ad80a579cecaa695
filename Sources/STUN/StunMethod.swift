/// A 12-bit STUN method number (RFC 8489 §18.2, RFC 8656, RFC 6062).
public struct StunMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The method number; only the low 12 bits are meaningful.
    public var rawValue: UInt16

    /// Wraps a method number (masked to 12 bits).
    @inlinable
    public init(rawValue: UInt16) {
        self.rawValue = rawValue & 0x0FFF
    }

    /// Binding (RFC 8489).
    public static let binding = StunMethod(rawValue: 0x001)
    /// Allocate (RFC 8656).
    public static let allocate = StunMethod(rawValue: 0x003)
    /// Refresh (RFC 8656).
    public static let refresh = StunMethod(rawValue: 0x004)
    /// Send (RFC 8656, indication only).
    public static let send = StunMethod(rawValue: 0x006)
    /// Data (RFC 8656, indication only).
    public static let data = StunMethod(rawValue: 0x007)
    /// CreatePermission (RFC 8656).
    public static let createPermission = StunMethod(rawValue: 0x008)
    /// ChannelBind (RFC 8656).
    public static let channelBind = StunMethod(rawValue: 0x009)
    /// Connect (RFC 6062).
    public static let connect = StunMethod(rawValue: 0x00A)
    /// ConnectionBind (RFC 6062).
    public static let connectionBind = StunMethod(rawValue: 0x00B)
    /// ConnectionAttempt (RFC 6062).
    public static let connectionAttempt = StunMethod(rawValue: 0x00C)

    /// The registered name, or the number in hex.
    public var description: String {
        switch self {
        case .binding: return "Binding"
        case .allocate: return "Allocate"
        case .refresh: return "Refresh"
        case .send: return "Send"
        case .data: return "Data"
        case .createPermission: return "CreatePermission"
        case .channelBind: return "ChannelBind"
        case .connect: return "Connect"
        case .connectionBind: return "ConnectionBind"
        case .connectionAttempt: return "ConnectionAttempt"
        default: return "Method(0x\(String(rawValue, radix: 16)))"
        }
    }
}
