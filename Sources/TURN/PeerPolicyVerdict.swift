/// The outcome of `PeerPolicy.evaluate`: whether a client may reach a peer through the relay.
public enum PeerVerdict: Hashable, Sendable, CustomStringConvertible {
    /// The peer may be given a permission / channel / Send indication.
    case allowed
    /// The peer is refused (RFC 8656: 403 Forbidden), for the given reason.
    case denied(PeerDenialReason)

    /// True for `.allowed`.
    @inlinable
    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }

    /// The denial reason, nil when allowed.
    @inlinable
    public var denialReason: PeerDenialReason? {
        if case .denied(let reason) = self { return reason }
        return nil
    }

    /// `allowed` or `denied(<label>)`.
    public var description: String {
        switch self {
        case .allowed: return "allowed"
        case .denied(let reason): return "denied(\(reason.label))"
        }
    }
}

/// Why `PeerPolicy` refused a peer address. The first three come from the relay's configuration;
/// the rest name the special-purpose block (IANA IPv4/IPv6 Special-Purpose Address Registries,
/// RFC 6890) the peer — or the IPv4 address embedded in it — falls in.
public enum PeerDenialReason: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// One of the relay's own transport addresses (listeners, relayed addresses configured as such).
    case relayAddress
    /// A protected port (control, metrics, ...) on a local address of the relay host.
    case protectedPort
    /// Matched the operator's `denied` list.
    case operatorDenied

    /// `0.0.0.0/8` ("this network", RFC 791/1122; Linux connects 0.0.0.0 to the host) or `::/128`.
    case unspecified
    /// `127.0.0.0/8` or `::1/128`.
    case loopback
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    case privateNetwork
    /// `100.64.0.0/10`, carrier-grade NAT shared address space (RFC 6598).
    case sharedAddressSpace
    /// `169.254.0.0/16` (RFC 3927) or `fe80::/10` (RFC 4291).
    case linkLocal
    /// `fec0::/10`, deprecated site-local unicast (RFC 3879); still routed inside some sites.
    case siteLocal
    /// `fc00::/7`, unique local addresses (RFC 4193).
    case uniqueLocal
    /// `192.0.0.0/24` or `2001::/23`: IETF protocol assignments (RFC 6890), e.g. DS-Lite, NAT64
    /// discovery, PCP and TURN anycast.
    case ietfProtocolAssignments
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` (RFC 5737), `2001:db8::/32`
    /// (RFC 3849), `3fff::/20` (RFC 9637).
    case documentation
    /// `198.18.0.0/15` (RFC 2544) or `2001:2::/48` (RFC 5180).
    case benchmarking
    /// `224.0.0.0/4` (RFC 5771) or `ff00::/8` (RFC 4291).
    case multicast
    /// `255.255.255.255`, limited broadcast (RFC 919).
    case broadcast
    /// `100::/64`, discard-only (RFC 6666).
    case discardOnly
    /// Reserved or unallocated space: `240.0.0.0/4` (RFC 1112), the deprecated 6to4 relay anycast
    /// `192.88.99.0/24` (RFC 7526), and IPv6 outside global unicast `2000::/3`.
    case reserved
    /// Teredo (`2001::/32`, RFC 4380) whose embedded addresses are fine but which the operator has
    /// not allowed explicitly: the client IPv4 address and port in a Teredo address are chosen by
    /// whoever wrote the address, so the relay cannot know where a Teredo relay would deliver.
    case teredo
    /// `64:ff9b:1::/48` (RFC 8215, not globally reachable) in a layout other than the `/96` one,
    /// where the embedded IPv4 address cannot be located without knowing the local NAT64 setup.
    case nat64LocalUse

    /// A snake_case name for metrics and logs, e.g. `private_network`. Never allocates.
    public var label: String {
        switch self {
        case .relayAddress: return "relay_address"
        case .protectedPort: return "protected_port"
        case .operatorDenied: return "operator_denied"
        case .unspecified: return "unspecified"
        case .loopback: return "loopback"
        case .privateNetwork: return "private_network"
        case .sharedAddressSpace: return "shared_address_space"
        case .linkLocal: return "link_local"
        case .siteLocal: return "site_local"
        case .uniqueLocal: return "unique_local"
        case .ietfProtocolAssignments: return "ietf_protocol_assignments"
        case .documentation: return "documentation"
        case .benchmarking: return "benchmarking"
        case .multicast: return "multicast"
        case .broadcast: return "broadcast"
        case .discardOnly: return "discard_only"
        case .reserved: return "reserved"
        case .teredo: return "teredo"
        case .nat64LocalUse: return "nat64_local_use"
        }
    }

    /// Same as `label`.
    public var description: String { label }
}
