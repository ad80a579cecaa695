import Paths
import Signaling
import TURN

/// The path model's settings (docs/paths.md): this relay's site, the minimum link quality, what
/// happens without a good path, how long client reports count, and how many relays it tracks.
package struct PathOptions {
    package var site: String?
    package var minQuality = 0.5
    package var strict = false
    package var reportTTLSeconds: UInt64 = 600
    /// Relays (instances of the cluster) the link table holds (board profile).
    package var maxRelays = 64
    /// Seconds between two probes of one relay link (jittered ±20 %).
    package var probeIntervalMs: UInt64 = 1_000
    /// TURN servers outside the cluster (a cloud relay of last resort), with their REST secrets.
    package var externalRelays: [(entry: RelayEntry, secret: String)] = []
    /// Where the cluster's relays may be (`path-relay-networks`): only announced addresses inside
    /// are probed and admitted as TURN peers. Empty: any address an instance announces.
    package var relayNetworks: [AddressRange] = []

    package init() {}

    package var policy: PathPolicy {
        var policy = PathPolicy()
        policy.minQuality = minQuality
        policy.strict = strict
        return policy
    }
}

extension PathOptions {
    /// `NAME URL… secret=S [site=S]`: URLs are `stun:`/`turn:`/`turns:` with a literal host.
    static func parseExternalRelay(_ value: String) throws(ConfigError) -> (entry: RelayEntry, secret: String) {
        let tokens = value.split(separator: " ").map(String.init)
        guard let name = tokens.first, !name.isEmpty, name.utf8.count <= 32,
              name.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (48...57).contains($0) || (97...122).contains($0) }) else {
            throw ConfigError(origin: "", message: "'\(value)': the relay's name comes first (1-32 of a-z 0-9 - _)")
        }
        var stun: [String] = [], turn: [String] = [], secret: String?, site: String?
        for token in tokens.dropFirst() {
            if token.hasPrefix("secret=") { secret = String(token.dropFirst(7)) }
            else if token.hasPrefix("site=") { site = String(token.dropFirst(5)) }
            else if token.hasPrefix("stun:") { stun.append(token) }
            else if token.hasPrefix("turn:") || token.hasPrefix("turns:") { turn.append(token) }
            else { throw ConfigError(origin: "", message: "'\(token)': expected a stun:/turn:/turns: URL, secret= or site=") }
        }
        guard let secret, secret.utf8.count >= 16 else {
            throw ConfigError(origin: "", message: "\(name): secret= (its TURN REST secret, at least 16 characters) is required")
        }
        guard !stun.isEmpty, !turn.isEmpty else { throw ConfigError(origin: "", message: "\(name): needs a stun: URL (probed) and a turn: URL") }
        return (RelayEntry(name: name, site: site, stun: stun, turn: turn, external: true), secret)
    }
}

extension ConfigOption {
    /// The path model's options.
    static let paths: [ConfigOption] = [
        ConfigOption("site", help: "This relay's site (e.g. a building): clients with the same site= get a default link to it until they report their own.") { config, value throws(ConfigError) in
            guard !value.isEmpty, value.utf8.count <= 64, value.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }) else {
                throw ConfigError(origin: "", message: "'\(value)' must be 1-64 of A-Z a-z 0-9 . - _")
            }
            config.paths.site = value
        },
        ConfigOption("path-min-quality", help: "Minimum quality (0-1) of every link of a call's relay path. Default 0.5.") { config, value throws(ConfigError) in
            guard let q = Double(value), q >= 0, q <= 1 else { throw ConfigError(origin: "", message: "'\(value)' must be a number from 0 to 1") }
            config.paths.minQuality = q
        },
        ConfigOption("path-strict", switch: true, help: "With no relay path meeting path-min-quality, refuse ICE_CONFIG for the call (no-path) instead of giving the best one.") { config, value throws(ConfigError) in
            config.paths.strict = try ConfigValue.boolean(value)
        },
        ConfigOption("path-report-ttl", help: "Seconds a client's LINK_REPORT counts. Default 600.") { config, value throws(ConfigError) in
            config.paths.reportTTLSeconds = try ConfigValue.integer(value, in: 10...86_400)
        },
        ConfigOption("path-max-relays", help: "Relays of the cluster the link table holds (board profile). Default 64.") { config, value throws(ConfigError) in
            config.paths.maxRelays = try ConfigValue.integer(value, in: 1...256)
        },
        ConfigOption("path-external-relay", resetList: { $0.paths.externalRelays = [] }, help: "A TURN server outside the cluster for the path model: NAME stun:HOST:PORT turn:HOST:PORT?transport=udp … secret=REST-SECRET [site=S]; repeatable.") { config, value throws(ConfigError) in
            let relay = try PathOptions.parseExternalRelay(value)
            guard !config.paths.externalRelays.contains(where: { $0.entry.name == relay.entry.name }),
                  relay.entry.name != config.signaling.clusterInstance else {
                throw ConfigError(origin: "", message: "relay name '\(relay.entry.name)' is already used (external relays and instances need distinct names)")
            }
            config.paths.externalRelays.append(relay)
        },
        ConfigOption("path-relay-networks", resetList: { $0.paths.relayNetworks = [] }, help: "Networks the cluster's relays are on (address, CIDR or first-last; repeatable): an instance announcing an address elsewhere is not probed or admitted as a TURN peer. Default: any.") { config, value throws(ConfigError) in
            guard let range = AddressRange(value) else { throw ConfigError(origin: "", message: "'\(value)' is not an address, CIDR or first-last range") }
            config.paths.relayNetworks.append(range)
        },
        ConfigOption("path-probe-interval-ms", help: "Milliseconds between probes of one relay link (jittered ±20 %), at least 1000. Default 1000.") { config, value throws(ConfigError) in
            config.paths.probeIntervalMs = try ConfigValue.integer(value, in: 1_000...60_000)
        },
    ]
}
