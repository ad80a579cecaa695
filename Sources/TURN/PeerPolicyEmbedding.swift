import STUN

/// How a peer address carries an IPv4 address, and therefore which addresses `PeerPolicy` judges.
///
/// Every IPv6 spelling that makes some box on the path deliver to an IPv4 address is found here,
/// so that `::ffff:127.0.0.1`, `::127.0.0.1`, `2002:7f00:1::`, `64:ff9b::7f00:1`, ... are judged as
/// 127.0.0.1 and not as "some global IPv6 address".
enum PeerAddressEmbedding: Equatable, Sendable {
    /// No embedded IPv4 address: the address is judged as it is.
    case none
    /// The address *is* the embedded IPv4 address for routing purposes and is judged only as that:
    /// IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96` (deprecated, RFC 4291 §2.5.5.1; not
    /// `::` and `::1`), SIIT `::ffff:0:0:0/96` (RFC 2765), NAT64 `64:ff9b::/96` (RFC 6052),
    /// local-use NAT64 `64:ff9b:1::/48` in its /96 layout (RFC 8215), and 6to4 `2002::/16`
    /// (RFC 3056, bits 16–47).
    case translated(UInt32)
    /// ISATAP (RFC 5214): interface identifier `[02]00:5efe:a.b.c.d` under any /64. The prefix
    /// and the IPv4 address both matter (the site's ISATAP router tunnels to the IPv4 address),
    /// so both must pass.
    case isatap(UInt32)
    /// Teredo `2001:0::/32` (RFC 4380): server IPv4 in bits 32–63, client IPv4 and port
    /// obfuscated (bitwise NOT) in bits 96–127 and 80–95.
    case teredo(server: UInt32, client: UInt32, clientPort: UInt16)
    /// An embedding whose IPv4 address cannot be located; denied unless the operator allows the
    /// raw address.
    case opaque(PeerDenialReason)

    /// Classifies an IPv6 address given as (high 64 bits, low 64 bits). Pure arithmetic.
    static func classify(high: UInt64, low: UInt64) -> PeerAddressEmbedding {
        let low32 = UInt32(truncatingIfNeeded: low)
        let interfaceHigh = UInt32(truncatingIfNeeded: low >> 32)
        if high == 0 {
            switch interfaceHigh {
            case 0xFFFF: return .translated(low32)  // ::ffff:a.b.c.d
            case 0xFFFF_0000: return .translated(low32)  // ::ffff:0:a.b.c.d
            case 0 where low32 > 1: return .translated(low32)  // ::a.b.c.d
            default: return .none  // ::, ::1 and the rest of ::/96 judged as IPv6
            }
        }
        if high == 0x0064_FF9B_0000_0000 && interfaceHigh == 0 {
            return .translated(low32)  // 64:ff9b::/96
        }
        if high >> 16 == 0x0064_FF9B_0001 {  // 64:ff9b:1::/48
            if high & 0xFFFF == 0 && interfaceHigh == 0 { return .translated(low32) }
            return .opaque(.nat64LocalUse)
        }
        if high >> 48 == 0x2002 {  // 2002:AABB:CCDD::/48
            return .translated(UInt32(truncatingIfNeeded: high >> 16))
        }
        if high >> 32 == 0x2001_0000 {  // 2001:0:SSSS:SSSS:flags:~port:~CCCC:~CCCC
            return .teredo(
                server: UInt32(truncatingIfNeeded: high),
                client: ~low32,
                clientPort: ~UInt16(truncatingIfNeeded: interfaceHigh))
        }
        if interfaceHigh & 0xFCFF_FFFF == 0x0000_5EFE {  // ::0000:5efe:a.b.c.d, u/g bits ignored
            return .isatap(low32)
        }
        return .none
    }
}
