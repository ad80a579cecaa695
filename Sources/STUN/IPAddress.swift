import Glibc

/// An IPv4 or IPv6 address as a plain value. `.v4` holds the address as a numeric
/// big-endian value (127.0.0.1 == 0x7F000001); `.v6` holds the high and low 64 bits likewise.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address, e.g. `0x7F000001` for 127.0.0.1.
    case v4(UInt32)
    /// An IPv6 address as (high 64 bits, low 64 bits), e.g. `(0, 1)` for ::1.
    case v6(UInt64, UInt64)

    /// Parses presentation text (`inet_pton`), IPv4 dotted quad or IPv6; nil if neither.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self = withUnsafeBytes(of: &v6) { .v6($0.stunUInt64(at: 0), $0.stunUInt64(at: 8)) }
    }

    /// The presentation form produced by `inet_ntop` ("192.0.2.1", "2001:db8::1").
    public var description: String {
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &text) { out -> String in
            let dst = out.baseAddress!.assumingMemoryBound(to: CChar.self)
            switch self {
            case .v4(let value):
                var raw = in_addr(s_addr: value.bigEndian)
                _ = inet_ntop(AF_INET, &raw, dst, socklen_t(out.count))
            case .v6:
                var raw = in6_addr()
                withUnsafeMutableBytes(of: &raw) { write(to: $0) }
                _ = inet_ntop(AF_INET6, &raw, dst, socklen_t(out.count))
            }
            return String(cString: dst)
        }
    }

    /// True for `.v4`.
    @inlinable
    public var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    /// True for an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    @inlinable
    public var isIPv4MappedIPv6: Bool {
        if case .v6(let high, let low) = self { return high == 0 && low >> 32 == 0xFFFF }
        return false
    }

    /// The embedded IPv4 address of an IPv4-mapped IPv6 address, otherwise `self`.
    @inlinable
    public var unmapped: IPAddress {
        if case .v6(_, let low) = self, isIPv4MappedIPv6 { return .v4(UInt32(truncatingIfNeeded: low)) }
        return self
    }

    /// The STUN address family code: 0x01 for IPv4, 0x02 for IPv6.
    @inlinable
    public var stunFamily: UInt8 {
        isIPv4 ? 0x01 : 0x02
    }

    /// Size of the raw address in bytes (4 or 16).
    @inlinable
    public var byteCount: Int {
        isIPv4 ? 4 : 16
    }

    /// Writes the address in network byte order to `buffer` (which must hold `byteCount` bytes).
    @inlinable
    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int = 0) {
        switch self {
        case .v4(let value):
            buffer.stunStore(value, at: offset)
        case .v6(let high, let low):
            buffer.stunStore(high, at: offset)
            buffer.stunStore(low, at: offset + 8)
        }
    }
}
