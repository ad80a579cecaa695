import STUN

/// An inclusive range of IP addresses of one family, as written in coturn's `allowed-peer-ip` and
/// `denied-peer-ip` options.
///
/// Three spellings are accepted:
/// - a single address: `10.0.0.5`, `fe80::1`;
/// - a CIDR block: `192.168.0.0/16`, `2001:db8::/32` (host bits are cleared, so `10.1.2.3/8`
///   is `10.0.0.0/8`);
/// - an explicit range `first-last` of one family with `first <= last`:
///   `192.168.1.10-192.168.1.20`.
///
/// Ranges are matched literally: `::ffff:10.0.0.0/104` is an IPv6 range. `PeerPolicy` maps such
/// IPv4-mapped ranges to their IPv4 equivalent when it is configured.
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    /// The lowest address in the range.
    public let first: IPAddress
    /// The highest address in the range (same family as `first`).
    public let last: IPAddress

    /// Creates the range `first...last`; nil if the families differ or `first > last`.
    public init?(first: IPAddress, last: IPAddress) {
        switch (first, last) {
        case (.v4(let low), .v4(let high)):
            guard low <= high else { return nil }
        case (.v6(let lowHigh, let lowLow), .v6(let highHigh, let highLow)):
            guard (lowHigh, lowLow) <= (highHigh, highLow) else { return nil }
        default:
            return nil
        }
        self.first = first
        self.last = last
    }

    /// Creates the CIDR block `network/prefixLength`, clearing any host bits of `network`; nil
    /// if `prefixLength` is negative or longer than the address (32 or 128 bits).
    public init?(network: IPAddress, prefixLength: Int) {
        switch network {
        case .v4(let value):
            guard (0...32).contains(prefixLength) else { return nil }
            let hostMask: UInt32 = prefixLength == 32 ? 0 : UInt32.max >> UInt32(prefixLength)
            self.first = .v4(value & ~hostMask)
            self.last = .v4(value | hostMask)
        case .v6(let high, let low):
            guard (0...128).contains(prefixLength) else { return nil }
            let highHostMask: UInt64 = prefixLength >= 64 ? 0 : UInt64.max >> UInt64(prefixLength)
            let lowHostMask: UInt64 =
                prefixLength <= 64 ? UInt64.max : (prefixLength == 128 ? 0 : UInt64.max >> UInt64(prefixLength - 64))
            self.first = .v6(high & ~highHostMask, low & ~lowHostMask)
            self.last = .v6(high | highHostMask, low | lowHostMask)
        }
    }

    /// Parses `address`, `address/prefix` or `first-last` (surrounding spaces are ignored); nil for
    /// anything else: unparsable addresses, zone indices, mixed families, a prefix longer than the
    /// family allows or spelt with anything but decimal digits, or a reversed range.
    public init?(_ text: String) {
        let spec = text.trimmingSpaces()
        guard !spec.isEmpty else { return nil }
        if let dash = spec.firstIndex(of: "-") {
            let lowText = String(spec[..<dash]).trimmingSpaces()
            let highText = String(spec[spec.index(after: dash)...]).trimmingSpaces()
            guard let low = IPAddress(lowText), let high = IPAddress(highText) else { return nil }
            self.init(first: low, last: high)
        } else if let slash = spec.firstIndex(of: "/") {
            let lengthText = spec[spec.index(after: slash)...]
            guard !lengthText.isEmpty, lengthText.count <= 3,
                lengthText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let length = Int(lengthText),
                let network = IPAddress(String(spec[..<slash]))
            else { return nil }
            self.init(network: network, prefixLength: length)
        } else {
            guard let address = IPAddress(spec) else { return nil }
            self.init(first: address, last: address)
        }
    }

    /// True when the range holds IPv4 addresses.
    @inlinable
    public var isIPv4: Bool { first.isIPv4 }

    /// The prefix length if the range is exactly one CIDR block, otherwise nil.
    public var prefixLength: Int? {
        for length in 0...(isIPv4 ? 32 : 128) {
            if let block = AddressRange(network: first, prefixLength: length), block == self {
                return length
            }
        }
        return nil
    }

    /// True if `ip` is of the range's family and lies within it. Never allocates; an IPv4-mapped
    /// IPv6 address is not an IPv4 address here (see `PeerPolicy` for normalisation).
    @inlinable
    public func contains(_ ip: IPAddress) -> Bool {
        switch (first, last, ip) {
        case (.v4(let low), .v4(let high), .v4(let value)):
            return low <= value && value <= high
        case (.v6(let lowHigh, let lowLow), .v6(let highHigh, let highLow), .v6(let high, let low)):
            return (lowHigh, lowLow) <= (high, low) && (high, low) <= (highHigh, highLow)
        default:
            return false
        }
    }

    /// True if every address of the range is an IPv4-mapped IPv6 address (`::ffff:0:0/96`).
    var isIPv4Mapped: Bool { first.isIPv4MappedIPv6 && last.isIPv4MappedIPv6 }

    /// The IPv4 range of an IPv4-mapped IPv6 range; `self` for any other range.
    var unmapped: AddressRange {
        guard isIPv4Mapped, let range = AddressRange(first: first.unmapped, last: last.unmapped) else { return self }
        return range
    }

    /// `10.0.0.5`, `192.168.0.0/16` or `192.168.1.10-192.168.1.20`.
    public var description: String {
        if first == last { return first.description }
        if let length = prefixLength { return "\(first)/\(length)" }
        return "\(first)-\(last)"
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs (no Foundation in this module).
    fileprivate func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}
