import STUN

extension PeerPolicy {
    /// One entry of the built-in table consulted after the operator's lists: addresses in `range`
    /// are denied with `denial`, or explicitly permitted when `denial` is nil (globally reachable
    /// carve-outs of a denied block). The first matching entry wins.
    public struct DefaultRule: Sendable, Hashable, CustomStringConvertible {
        /// The addresses the rule covers.
        public let range: AddressRange
        /// Why they are denied; nil for a carve-out that is allowed.
        public let denial: PeerDenialReason?

        init(_ spec: String, _ denial: PeerDenialReason?) {
            guard let range = AddressRange(spec) else { preconditionFailure("bad built-in range \(spec)") }
            self.range = range
            self.denial = denial
        }

        /// `10.0.0.0/8 -> private_network`.
        public var description: String { "\(range) -> \(denial?.label ?? "allowed")" }
    }

    /// The built-in IPv4 table (IANA IPv4 Special-Purpose Address Registry entries that are not
    /// globally reachable, plus multicast and reserved space), in match order.
    public static let defaultIPv4Rules: [DefaultRule] = [
        DefaultRule("0.0.0.0/8", .unspecified),  // "this network" (RFC 791); 0.0.0.0 reaches the host
        DefaultRule("10.0.0.0/8", .privateNetwork),  // RFC 1918
        DefaultRule("100.64.0.0/10", .sharedAddressSpace),  // CGNAT, RFC 6598
        DefaultRule("127.0.0.0/8", .loopback),  // RFC 1122
        DefaultRule("169.254.0.0/16", .linkLocal),  // RFC 3927; includes cloud metadata 169.254.169.254
        DefaultRule("172.16.0.0/12", .privateNetwork),  // RFC 1918
        DefaultRule("192.0.0.0/24", .ietfProtocolAssignments),  // RFC 6890: DS-Lite, PCP/TURN anycast, NAT64 discovery
        DefaultRule("192.0.2.0/24", .documentation),  // TEST-NET-1, RFC 5737
        DefaultRule("192.88.99.0/24", .reserved),  // deprecated 6to4 relay anycast, RFC 7526
        DefaultRule("192.168.0.0/16", .privateNetwork),  // RFC 1918
        DefaultRule("198.18.0.0/15", .benchmarking),  // RFC 2544
        DefaultRule("198.51.100.0/24", .documentation),  // TEST-NET-2, RFC 5737
        DefaultRule("203.0.113.0/24", .documentation),  // TEST-NET-3, RFC 5737
        DefaultRule("224.0.0.0/4", .multicast),  // RFC 5771
        DefaultRule("255.255.255.255", .broadcast),  // limited broadcast, RFC 919 (before 240/4)
        DefaultRule("240.0.0.0/4", .reserved),  // RFC 1112
    ]

    /// The built-in IPv6 table, in match order. IPv4-mapped, -compatible, SIIT, NAT64, 6to4,
    /// Teredo and ISATAP addresses never get here as such: their embedded IPv4 address is judged
    /// (see `PeerPolicy.evaluate`).
    public static let defaultIPv6Rules: [DefaultRule] = [
        DefaultRule("::/128", .unspecified),  // RFC 4291
        DefaultRule("::1/128", .loopback),  // RFC 4291
        DefaultRule("100::/64", .discardOnly),  // RFC 6666
        DefaultRule("2001:2::/48", .benchmarking),  // RFC 5180
        DefaultRule("2001:3::/32", nil),  // AMT, RFC 7450: globally reachable
        DefaultRule("2001:4:112::/48", nil),  // AS112-v6, RFC 7535: globally reachable
        DefaultRule("2001:20::/28", nil),  // ORCHIDv2, RFC 7343: globally reachable
        DefaultRule("2001:30::/28", nil),  // DRIP DETs, RFC 9374: globally reachable
        DefaultRule("2001::/23", .ietfProtocolAssignments),  // RFC 2928; incl. PCP/TURN anycast 2001:1::1-2
        DefaultRule("2001:db8::/32", .documentation),  // RFC 3849
        DefaultRule("3fff::/20", .documentation),  // RFC 9637
        DefaultRule("fc00::/7", .uniqueLocal),  // RFC 4193
        DefaultRule("fe80::/10", .linkLocal),  // RFC 4291
        DefaultRule("fec0::/10", .siteLocal),  // RFC 3879, deprecated but still routed in places
        DefaultRule("ff00::/8", .multicast),  // RFC 4291
        // Everything outside global unicast 2000::/3 is reserved or unallocated by IANA, including
        // the rest of ::/96 (`::1:2:3:4`), 64:ff9b::/32 beyond the /96, 100:0:0:1::/64 (dummy
        // prefix), 5f00::/16 (SRv6 SIDs, RFC 9602) and fe00::/9.
        DefaultRule("::/3", .reserved),
        DefaultRule("4000::/2", .reserved),
        DefaultRule("8000::/1", .reserved),
    ]

    /// Both tables, IPv4 first.
    public static var defaultRules: [DefaultRule] { defaultIPv4Rules + defaultIPv6Rules }

    /// The built-in verdict on a plain (already normalised) address: the denial of the first
    /// matching rule, nil if none matches or the match is a carve-out. Never allocates.
    static func defaultDenial(of ip: IPAddress) -> PeerDenialReason? {
        let rules = ip.isIPv4 ? defaultIPv4Rules : defaultIPv6Rules
        for rule in rules where rule.range.contains(ip) {
            return rule.denial
        }
        return nil
    }
}
