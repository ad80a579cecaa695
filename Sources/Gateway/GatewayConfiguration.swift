import Glibc
import Logging
import MediaPlane
import TURN
import Reactor
import STUN

/// Everything `rtcgate run` needs, from the board profile, then the configuration file, then
/// command-line flags (later sources override earlier ones; list options are replaced whole).
package struct GatewayConfiguration {
    package var listeningIPs: [String] = ["0.0.0.0"]
    package var listeningPort: UInt16 = 3478
    package var realm = "rtcgate.local"
    package var workers = 0  // 0: one per core
    package var logLevel: Logger.Level = .info
    package var statsIntervalSeconds: UInt64 = 60
    package var media: MediaWorkerConfig = {
        var media = MediaWorkerConfig()
        media.responder.software = BindingDefaults.software
        return media
    }()
    /// The TURN relay's settings as configured (coturn's names); TURN runs when a user or a
    /// REST secret is configured.
    package var turn = TurnOptions()
    /// TURN over TLS.
    package var tls = TLSOptions()
    /// The signaling plane (MQTT); runs when `mqtt-host` is set.
    package var signaling = SignalingOptions()
    /// The path model: site, minimum link quality, client reports (docs/paths.md).
    package var paths = PathOptions()
    /// The management plane (control socket, provisioning store, metrics).
    package var management = ManagementOptions()
    /// The board's memory budget for rtcgate (check-config compares the peak with it).
    package var memoryBudgetMiB: Int?
    /// Where each option's value came from, for `check-config`.
    package var origins: [String: String] = [:]

    /// The worker count after resolving 0 to the number of cores.
    package var resolvedWorkers: Int {
        if workers > 0 { return workers }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Applies entries in order; unknown keys and bad values are errors, never ignored.
    package mutating func apply(_ entries: [ConfigEntry]) throws(ConfigError) {
        var listResets: Set<String> = []
        for entry in entries {
            guard let option = ConfigOption.byName[entry.key] else {
                throw ConfigError(origin: entry.origin, message: "unknown option '\(entry.key)'")
            }
            if let reset = option.resetList, !listResets.contains(option.name) {
                listResets.insert(option.name)
                reset(&self)
            }
            do throws(ConfigError) {
                try option.apply(&self, entry.value)
            } catch {
                throw ConfigError(origin: entry.origin, message: "\(entry.key): \(error.message)")
            }
            origins[option.name] = entry.origin
        }
    }

    /// Whether the workers run the TURN relay.
    package var turnEnabled: Bool { !turn.users.isEmpty || turn.useAuthSecret || management.turnAlways }

    /// The signaling plane's settings, pointing ICE_CONFIG at this gateway's STUN/TURN.
    package func signalingSettings(media: MediaWorkerConfig, provisioned: ProvisionedCredentials = ProvisionedCredentials())
        throws(ConfigError) -> SignalingSettings {
        try signaling.settings(listen: media.listenAddresses, udp: media.udp, tcp: media.tcp, tlsPorts: media.tls?.ports ?? [], turn: turn,
                               turnRelay: media.turn != nil, paths: paths, provisioned: provisioned)
    }

    /// The media workers' configuration, with listening addresses resolved.
    package func mediaConfig(provisioned: ProvisionedCredentials = ProvisionedCredentials()) throws(ConfigError) -> MediaWorkerConfig {
        var config = media
        config.listenAddresses = []
        for ip in listeningIPs {
            guard let address = SocketAddress(ip: ip, port: listeningPort) else {
                throw ConfigError(origin: origins["listening-ip"] ?? "listening-ip", message: "'\(ip)' is not a numeric IPv4 or IPv6 address")
            }
            config.listenAddresses.append(address)
        }
        config.workerCount = resolvedWorkers
        config.turn = try turn.settings(realm: realm, listenAddresses: config.listenAddresses, always: management.turnAlways,
                                        provisioned: provisioned)
        config.tls = config.turn == nil ? nil : try tls.settings(workers: config.workerCount)
        let problems = config.problems()
        if let first = problems.first { throw ConfigError(origin: "configuration", message: problems.count == 1 ? first : problems.joined(separator: "; ")) }
        return config
    }
}

/// One configuration option: its name (as in the file and as `--name` flag), help and effect.
package struct ConfigOption: Sendable {
    package let name: String
    package let aliases: [String]
    package let help: String
    /// For a list option: empties the list, so a later source replaces it rather than adding.
    package let resetList: (@Sendable (inout GatewayConfiguration) -> Void)?
    /// A switch: `--name` alone means true.
    package let isSwitch: Bool
    package let apply: @Sendable (inout GatewayConfiguration, String) throws(ConfigError) -> Void

    package init(_ name: String, aliases: [String] = [], resetList: (@Sendable (inout GatewayConfiguration) -> Void)? = nil,
         switch isSwitch: Bool = false, help: String,
         apply: @escaping @Sendable (inout GatewayConfiguration, String) throws(ConfigError) -> Void) {
        self.name = name
        self.aliases = aliases
        self.help = help
        self.resetList = resetList
        self.isSwitch = isSwitch
        self.apply = apply
    }

    /// The option list for `--help`.
    package static var helpText: String {
        var text = "Settings (each works as '--name value' and as 'name = value' in a configuration file):\n"
        for option in all {
            let names = ([option.name] + option.aliases).map { "--\($0)" }.joined(separator: ", ")
            text += "  \(names)\(option.isSwitch ? "" : " <value>")\n      \(option.help)\n"
        }
        return text
    }

    /// Turns `--name value`, `--name=value` and `--switch` arguments into entries.
    package static func entries(fromArguments arguments: [String]) throws(ConfigError) -> [ConfigEntry] {
        var entries: [ConfigEntry] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            let bytes = Array(argument.utf8)
            guard bytes.count > 2, bytes[0] == UInt8(ascii: "-"), bytes[1] == UInt8(ascii: "-") else {
                throw ConfigError(origin: argument, message: "expected a setting such as --listening-port 3478")
            }
            var nameBytes = bytes[2...]
            var value: String?
            if let equals = nameBytes.firstIndex(of: UInt8(ascii: "=")) {
                value = String(decoding: nameBytes[(equals + 1)...], as: UTF8.self)
                nameBytes = nameBytes[..<equals]
            }
            let name = ConfigFile.normalizedKey(nameBytes) ?? String(decoding: nameBytes, as: UTF8.self)
            guard let option = byName[name] else { throw ConfigError(origin: "--\(name)", message: "unknown option") }
            if value == nil {
                if option.isSwitch {
                    if i + 1 < arguments.count, ["true", "false", "yes", "no", "on", "off"].contains(arguments[i + 1].asciiLowercased) {
                        value = arguments[i + 1]
                        i += 1
                    } else {
                        value = "true"
                    }
                } else {
                    guard i + 1 < arguments.count else { throw ConfigError(origin: "--\(name)", message: "needs a value") }
                    value = arguments[i + 1]
                    i += 1
                }
            }
            entries.append(ConfigEntry(key: name, value: value!, origin: "--\(name)"))
            i += 1
        }
        return entries
    }

    package static let byName: [String: ConfigOption] = {
        var table: [String: ConfigOption] = [:]
        for option in all {
            table[option.name] = option
            for alias in option.aliases { table[alias] = option }
        }
        return table
    }()
}

/// Value parsing shared by the option table.
package enum ConfigValue {
    package static func integer<T: FixedWidthInteger>(_ text: String, in range: ClosedRange<T>) throws(ConfigError) -> T {
        guard let value = T(text), range.contains(value) else {
            throw ConfigError(origin: "", message: "'\(text)' is not a whole number in \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    package static func boolean(_ text: String) throws(ConfigError) -> Bool {
        switch text.asciiLowercased {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigError(origin: "", message: "'\(text)' is not true/false")
        }
    }

    package static func logLevel(_ text: String) throws(ConfigError) -> Logger.Level {
        switch text.asciiLowercased {
        case "trace": return .trace
        case "debug": return .debug
        case "info": return .info
        case "notice": return .notice
        case "warning", "warn": return .warning
        case "error": return .error
        case "critical": return .critical
        default: throw ConfigError(origin: "", message: "'\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }
}
