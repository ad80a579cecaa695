/// The management plane's settings: the control socket, the state directory holding the
/// provisioning store, and the optional Prometheus listener.
package struct ManagementOptions {
    /// Unix socket of the control protocol (docs/control.md); empty disables it.
    package var controlSocket = "/run/rtcgate/control.sock"
    /// Group (name or number) whose members may use the control socket, besides root and the
    /// daemon's own user.
    package var controlGroup: String?
    /// File mode of the control socket.
    package var controlMode: UInt32 = 0o660
    /// Folder of the provisioning store (`provisioning.json`); empty: no store.
    package var stateDirectory = "/var/lib/rtcgate"
    /// `127.0.0.1:PORT` (or `[::1]:PORT`) for Prometheus scrapes; nil: off.
    package var metricsListen: String?
    /// Control clients connected at once.
    package var controlMaxClients = 8
    /// Unsent reply bytes one control client may hold.
    package static let controlSendLimitBytes = 1 << 20
    /// Serve TURN even while no credential is configured yet, so users and secrets can be
    /// provisioned live over the control socket.
    package var turnAlways = false
    /// How long the successor of a handover may take to be ready (listeners answer, broker
    /// connected) before it gives up and the running rtcgate resumes (docs/handover.md).
    package var handoverTimeoutSeconds: UInt64 = 10
    /// How long the old process of a handover keeps serving the TCP/TLS connections that cannot
    /// be handed over (they end sooner when their clients leave).
    package var handoverDrainSeconds: UInt64 = 3_600
}

extension ConfigOption {
    /// The management plane's options.
    package static let management: [ConfigOption] = [
        ConfigOption("control-socket", help: "Path of the control socket (rtcgate ctl); empty disables it. Default /run/rtcgate/control.sock.") { config, value throws(ConfigError) in
            config.management.controlSocket = value
        },
        ConfigOption("control-group", help: "Group whose members may use the control socket (besides root and rtcgate's own user).") { config, value throws(ConfigError) in
            guard !value.isEmpty else { throw ConfigError(origin: "", message: "empty group") }
            config.management.controlGroup = value
        },
        ConfigOption("control-mode", help: "File mode of the control socket, octal. Default 0660.") { config, value throws(ConfigError) in
            guard let mode = UInt32(value, radix: 8), mode <= 0o777 else { throw ConfigError(origin: "", message: "'\(value)' is not an octal mode such as 0660") }
            config.management.controlMode = mode
        },
        ConfigOption("control-max-clients", help: "Control clients connected at once (board profile). Default 8.") { config, value throws(ConfigError) in
            config.management.controlMaxClients = try ConfigValue.integer(value, in: 1...256)
        },
        ConfigOption("memory-budget-mib", help: "The board's budget of private memory for rtcgate; check-config fails when the configuration may need more.") { config, value throws(ConfigError) in
            config.memoryBudgetMiB = try ConfigValue.integer(value, in: 8...1_048_576)
        },
        ConfigOption("state-dir", help: "Folder of the provisioning store; empty disables it. Default /var/lib/rtcgate.") { config, value throws(ConfigError) in
            config.management.stateDirectory = value
        },
        ConfigOption("metrics-listen", help: "Serve Prometheus metrics over HTTP on this loopback address:port, e.g. 127.0.0.1:9641.") { config, value throws(ConfigError) in
            config.management.metricsListen = value
        },
        ConfigOption("handover-timeout", help: "Seconds the successor of `ctl upgrade` has to be ready (listeners answer, broker connected) before the running rtcgate resumes. Default 10.") { config, value throws(ConfigError) in
            config.management.handoverTimeoutSeconds = UInt64(try ConfigValue.integer(value, in: 1...300))
        },
        ConfigOption("handover-drain", help: "Seconds the old rtcgate of an upgrade keeps serving its TCP/TLS connections (which cannot be handed over) before it exits. Default 3600.") { config, value throws(ConfigError) in
            config.management.handoverDrainSeconds = UInt64(try ConfigValue.integer(value, in: 0...604_800))
        },
        ConfigOption("turn", switch: true, help: "Serve TURN even before any credential exists (users and secrets provisioned live).") { config, value throws(ConfigError) in
            config.management.turnAlways = try ConfigValue.boolean(value)
        },
    ]
}
