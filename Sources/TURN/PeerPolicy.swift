import STUN

/// Which peer addresses clients may reach through the relay (RFC 8656 §21.2.3 spirit; coturn's
/// `allowed-peer-ip` / `denied-peer-ip`, `no-loopback-peers`, `no-multicast-peers`). Without it a
/// TURN relay is an open proxy into the gateway's own networks.
///
/// `evaluate` decides in this order, the first step that decides wins:
/// 1. **Normalise.** Every IPv6 spelling that carries an IPv4 address — mapped `::ffff:a.b.c.d`,
///    compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` and
///    `64:ff9b:1::/48`, 6to4 `2002::/16` — is judged as that IPv4 address (the operator's `denied`
///    list also sees the raw spelling). Teredo and ISATAP addresses carry IPv4 addresses *and* an
///    IPv6 routing prefix; all of them are judged (see `PeerAddressEmbedding`).
/// 2. **Self.** One of `relayAddresses`, or a `protectedPorts` port on a local address (the
///    relay and `localAddresses` IPs, loopback, unspecified): denied, whatever the lists say.
/// 3. **Operator deny.** `denied` matches: denied.
/// 4. **Operator allow.** `allowed` matches: allowed (how a gateway relays to its own LAN).
/// 5. **Defaults.** The first matching `defaultIPv4Rules`/`defaultIPv6Rules` entry decides.
/// 6. Otherwise allowed — except Teredo, which needs an explicit `allowed` entry for its IPv6
///    address (`2001::/32`) because its embedded client address and port are attacker-chosen.
///
/// `evaluate` does arithmetic and linear scans over small arrays only: no allocation, no strings.
public struct PeerPolicy: Sendable {
    /// Ranges the operator admits (step 4); IPv4-mapped IPv6 ranges are stored as IPv4.
    public let allowed: [AddressRange]
    /// Ranges the operator refuses (step 3); IPv4-mapped IPv6 ranges are stored as IPv4.
    public let denied: [AddressRange]
    /// The relay's own transport addresses; port 0 stands for every port of that IP.
    public let relayAddresses: [TransportAddress]
    /// Further addresses of the relay host (LAN, management) on which protected ports are refused.
    public let localAddresses: [IPAddress]
    /// Ports refused on any local address (control, metrics, SSH, ...), sorted and unique.
    public let protectedPorts: [UInt16]

    /// Creates a policy. Mapped (`::ffff:a.b.c.d`) entries are stored as their IPv4 equivalent.
    ///
    /// Note that the relay's relayed addresses share its public IP: list the listener transport
    /// addresses (e.g. `:3478`, `:5349`) rather than the bare IP (port 0) if clients of this relay
    /// must be able to reach each other's relayed addresses (relay-to-relay ICE pairs).
    public init(
        allowed: [AddressRange] = [],
        denied: [AddressRange] = [],
        relayAddresses: [TransportAddress] = [],
        localAddresses: [IPAddress] = [],
        protectedPorts: [UInt16] = []
    ) {
        self.allowed = allowed.map(\.unmapped)
        self.denied = denied.map(\.unmapped)
        self.relayAddresses = relayAddresses.map { TransportAddress(ip: $0.ip.unmapped, port: $0.port) }
        self.localAddresses = localAddresses.map(\.unmapped)
        self.protectedPorts = Array(Set(protectedPorts)).sorted()
    }

    /// Judges the peer of a CreatePermission, ChannelBind or Send/Data exchange.
    @inlinable
    public func evaluate(_ peer: TransportAddress) -> PeerVerdict {
        evaluate(peer.ip, port: peer.port)
    }

    /// Judges `ip:port`. For permissions (which have no port) pass port 0: protected ports and
    /// port-specific relay addresses then do not match, everything else does.
    public func evaluate(_ ip: IPAddress, port: UInt16) -> PeerVerdict {
        guard case .v6(let high, let low) = ip else { return judge(ip, port: port) }
        switch PeerAddressEmbedding.classify(high: high, low: low) {
        case .none:
            return judge(ip, port: port)

        case .translated(let value):
            let inner = IPAddress.v4(value)
            if let reason = selfDenial(ip, port: port) ?? selfDenial(inner, port: port) { return .denied(reason) }
            if operatorDenies(ip) { return .denied(.operatorDenied) }
            return judgeAfterSelf(inner)

        case .isatap(let value):
            let inner = IPAddress.v4(value)
            if let reason = selfDenial(ip, port: port) ?? selfDenial(inner, port: port) { return .denied(reason) }
            if operatorDenies(ip) || operatorDenies(inner) { return .denied(.operatorDenied) }
            if let reason = denialUnlessAllowed(ip) ?? denialUnlessAllowed(inner) { return .denied(reason) }
            return .allowed

        case .teredo(let server, let client, let clientPort):
            let serverIP = IPAddress.v4(server)
            let clientIP = IPAddress.v4(client)
            if let reason = selfDenial(ip, port: port) ?? selfDenial(serverIP, port: port)
                ?? selfDenial(clientIP, port: clientPort)
            {
                return .denied(reason)
            }
            if operatorDenies(ip) || operatorDenies(serverIP) || operatorDenies(clientIP) {
                return .denied(.operatorDenied)
            }
            if let reason = denialUnlessAllowed(serverIP) ?? denialUnlessAllowed(clientIP) { return .denied(reason) }
            return operatorAllows(ip) ? .allowed : .denied(.teredo)

        case .opaque(let reason):
            if let selfReason = selfDenial(ip, port: port) { return .denied(selfReason) }
            if operatorDenies(ip) { return .denied(.operatorDenied) }
            return operatorAllows(ip) ? .allowed : .denied(reason)
        }
    }

    // MARK: - Steps

    /// Steps 2–5 for a plain address.
    func judge(_ ip: IPAddress, port: UInt16) -> PeerVerdict {
        if let reason = selfDenial(ip, port: port) { return .denied(reason) }
        return judgeAfterSelf(ip)
    }

    /// Steps 3–5 for a plain address.
    func judgeAfterSelf(_ ip: IPAddress) -> PeerVerdict {
        if operatorDenies(ip) { return .denied(.operatorDenied) }
        if let reason = denialUnlessAllowed(ip) { return .denied(reason) }
        return .allowed
    }

    /// Steps 4–5: nil if the operator allows `ip` or no built-in rule denies it.
    func denialUnlessAllowed(_ ip: IPAddress) -> PeerDenialReason? {
        if operatorAllows(ip) { return nil }
        return Self.defaultDenial(of: ip)
    }

    /// Step 2: the relay's own transport addresses and protected ports on local addresses.
    func selfDenial(_ ip: IPAddress, port: UInt16) -> PeerDenialReason? {
        for relay in relayAddresses where relay.ip == ip && (relay.port == 0 || relay.port == port) {
            return .relayAddress
        }
        if port != 0 && protectedPorts.contains(port) && isLocal(ip) { return .protectedPort }
        return nil
    }

    /// True for addresses of this host: relay and local addresses, loopback and unspecified.
    func isLocal(_ ip: IPAddress) -> Bool {
        switch ip {
        case .v4(let value):
            if value >> 24 == 127 || value == 0 { return true }
        case .v6(let high, let low):
            if high == 0 && low <= 1 { return true }
        }
        for relay in relayAddresses where relay.ip == ip { return true }
        return localAddresses.contains(ip)
    }

    /// Step 3.
    func operatorDenies(_ ip: IPAddress) -> Bool {
        for range in denied where range.contains(ip) { return true }
        return false
    }

    /// Step 4.
    func operatorAllows(_ ip: IPAddress) -> Bool {
        for range in allowed where range.contains(ip) { return true }
        return false
    }
}

extension PeerPolicy {
    /// This policy with `extra` ranges admitted as well (step 4, after the operator's `denied`
    /// list, which still wins): the other relays of a cluster, so relay↔relay paths work on the
    /// private addresses the defaults refuse (docs/paths.md).
    public func admitting(_ extra: [AddressRange]) -> PeerPolicy {
        PeerPolicy(allowed: allowed + extra, denied: denied, relayAddresses: relayAddresses, localAddresses: localAddresses,
                   protectedPorts: protectedPorts)
    }
}
