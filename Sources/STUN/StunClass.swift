/// The class of a STUN message (the C1/C0 bits of the message type).
public enum StunClass: UInt8, Sendable, CaseIterable {
    /// A request (0b00).
    case request = 0
    /// An indication (0b01).
    case indication = 1
    /// A success response (0b10).
    case successResponse = 2
    /// An error response (0b11).
    case errorResponse = 3
}
