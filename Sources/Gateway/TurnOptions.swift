import Glibc
import MediaPlane
import Reactor
import STUN
import TURN

/// The TURN options as written in the configuration (coturn's names), turned into the workers'
/// `TurnSettings` once every source has been read.
package struct TurnOptions {
    package var relayIPs: [String] = []
    package var minPort: UInt16 = 49152
    package var maxPort: UInt16 = 65535
    package var users: [String] = []
    package var useAuthSecret = false
    package var staticAuthSecrets: [String] = []
    package var allowedPeers: [String] = []
    package var deniedPeers: [String] = []
    package var limits = TurnLimits()
    /// Advertise RFC 8489's security features in challenges (`nonce-security-features`).
    package var securityFeatures = false

    /// The users of the configuration file and of the store, as the workers check them.
    package func credentialStore(realm: String, provisioned: ProvisionedCredentials) -> CredentialStore {
        var store = CredentialStore(realm: realm)
        for line in users { _ = store.addUser(line: line) }
        for user in provisioned.users { _ = store.addUser(name: user.name, key: user.key) }
        return store
    }

    /// Nil when no credential is configured (TURN off: the gateway is a STUN server).
    package func settings(realm: String, listenAddresses: [SocketAddress], always: Bool = false,
                  provisioned: ProvisionedCredentials = ProvisionedCredentials()) throws(ConfigError) -> TurnSettings? {
        if useAuthSecret && staticAuthSecrets.isEmpty && provisioned.secrets.isEmpty {
            throw ConfigError(origin: "use-auth-secret", message: "needs at least one static-auth-secret")
        }
        if !staticAuthSecrets.isEmpty && !useAuthSecret {
            throw ConfigError(origin: "static-auth-secret", message: "set use-auth-secret to enable TURN REST credentials")
        }
        guard !users.isEmpty || useAuthSecret || always || !provisioned.users.isEmpty || !provisioned.secrets.isEmpty else { return nil }
        guard minPort <= maxPort else { throw ConfigError(origin: "min-port", message: "min-port must not exceed max-port") }
        var secret = [UInt8](repeating: 0, count: 32)
        secret.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
        var settings = TurnSettings(realm: realm, nonceSecret: secret)
        settings.limits = limits
        settings.securityFeatures = securityFeatures
        settings.ports = minPort...maxPort
        settings.restSecrets = provisioned.secrets + staticAuthSecrets
        for line in users where !settings.users.addUser(line: line) {
            throw ConfigError(origin: "user", message: "'\(line.prefix { $0 != ":" }):…' is not name:password or name:0x<key>")
        }
        for user in provisioned.users { _ = settings.users.addUser(name: user.name, key: user.key) }
        // Relayed addresses: relay-ip, else the listening addresses that are not wildcards.
        let candidates = relayIPs.isEmpty ? listenAddresses.map(\.host) : relayIPs
        for text in candidates {
            guard let ip = IPAddress(text) else { throw ConfigError(origin: "relay-ip", message: "'\(text)' is not an IP address") }
            switch ip {
            case .v4(0), .v6(0, 0): continue
            case .v4: if settings.relayIPv4 == nil { settings.relayIPv4 = ip }
            case .v6: if settings.relayIPv6 == nil { settings.relayIPv6 = ip }
            }
        }
        guard settings.relayIPv4 != nil || settings.relayIPv6 != nil else {
            throw ConfigError(origin: "relay-ip", message: "TURN needs relay-ip when listening on a wildcard address")
        }
        settings.policy = PeerPolicy(
            allowed: try Self.ranges(allowedPeers, option: "allowed-peer-ip"),
            denied: try Self.ranges(deniedPeers, option: "denied-peer-ip"),
            relayAddresses: listenAddresses.compactMap { TransportAddress($0) },
            protectedPorts: Array(Set(listenAddresses.map(\.port))))
        return settings
    }

    private static func ranges(_ texts: [String], option: String) throws(ConfigError) -> [AddressRange] {
        var ranges: [AddressRange] = []
        for text in texts {
            guard let range = AddressRange(text) else {
                throw ConfigError(origin: option, message: "'\(text)' is not an address, CIDR range or first-last range")
            }
            ranges.append(range)
        }
        return ranges
    }
}
