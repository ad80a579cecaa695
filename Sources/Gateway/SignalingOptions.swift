/// The signaling plane's settings as configured: where the broker is, how rtcgate logs in, the
/// router's limits and the clients it knows. Signaling runs when `mqtt-host` is set.
package struct SignalingOptions {
    package var mqttHost: String?
    package var mqttPort = 1883
    package var mqttUser = "rtcgate"
    package var mqttPassword: String?
    package var mqttPasswordFile: String?
    package var mqttProtocol = "auto"
    package var mqttKeepAlive = 30
    package var mqttTLSCAFile: String?
    package var mqttTLSCAPath: String?
    package var mqttTLSCertFile: String?
    package var mqttTLSKeyFile: String?
    package var mqttTLSInsecure = false
    package var topicPrefix = "rtc/v1"
    package var clients: [String] = []
    package var maxPayloadBytes = 65_536
    package var maxViewersPerDevice = 4
    package var maxSessions = 256
    /// Clients whose presence and rate buckets the router tracks (provisioned ones, live adds included).
    package var maxClients = 1024
    package var offerTimeoutSeconds: UInt64 = 30
    package var idleTimeoutSeconds: UInt64 = 3_600
    package var iceTTLSeconds: UInt64 = 3_600
    package var iceHost: String?
    package var goAwayGraceSeconds = 5
    /// Payload KiB of QoS 1 publishes awaiting the broker's acknowledgement, beyond which
    /// publishes are dropped and counted.
    package var maxUnackedKiB = 4096
    /// This instance's name in a cluster of rtcgates sharing one broker (nil: alone).
    package var clusterInstance: String?
    /// Manage devices' broker logins through mosquitto's dynamic security plugin.
    package var brokerDynsec = false

    package var enabled: Bool { mqttHost != nil }
}

extension ConfigOption {
    /// The signaling plane's options (MQTT broker, router limits, provisioned clients).
    package static let signaling: [ConfigOption] = [
        ConfigOption("mqtt-host", help: "Broker host for the signaling plane; setting it enables signaling.") { config, value throws(ConfigError) in
            guard !value.isEmpty else { throw ConfigError(origin: "", message: "empty host") }
            config.signaling.mqttHost = value
        },
        ConfigOption("mqtt-port", help: "Broker port. Default 1883.") { config, value throws(ConfigError) in
            config.signaling.mqttPort = try ConfigValue.integer(value, in: 1...65535)
        },
        ConfigOption("mqtt-user", help: "rtcgate's own broker username (and client id). Default rtcgate.") { config, value throws(ConfigError) in
            guard !value.isEmpty, value.utf8.count <= 64 else { throw ConfigError(origin: "", message: "must be 1…64 bytes") }
            config.signaling.mqttUser = value
        },
        ConfigOption("mqtt-password", help: "rtcgate's broker password (prefer mqtt-password-file).") { config, value throws(ConfigError) in
            config.signaling.mqttPassword = value
        },
        ConfigOption("mqtt-password-file", help: "File whose first line is rtcgate's broker password.") { config, value throws(ConfigError) in
            config.signaling.mqttPasswordFile = value
        },
        ConfigOption("mqtt-protocol", help: "auto (MQTT 5, falling back to 3.1.1), 5 or 3.1.1. Default auto.") { config, value throws(ConfigError) in
            guard ["auto", "5", "3.1.1"].contains(value) else { throw ConfigError(origin: "", message: "'\(value)' is not auto, 5 or 3.1.1") }
            config.signaling.mqttProtocol = value
        },
        ConfigOption("mqtt-keepalive", help: "MQTT keep-alive, seconds. Default 30.") { config, value throws(ConfigError) in
            config.signaling.mqttKeepAlive = try ConfigValue.integer(value, in: 5...3600)
        },
        ConfigOption("mqtt-tls-ca-file", help: "CA certificate(s) the broker's TLS certificate must chain to; enables TLS.") { config, value throws(ConfigError) in
            config.signaling.mqttTLSCAFile = value
        },
        ConfigOption("mqtt-tls-ca-path", help: "Folder of CA certificates (c_rehash); enables TLS.") { config, value throws(ConfigError) in
            config.signaling.mqttTLSCAPath = value
        },
        ConfigOption("mqtt-tls-cert-file", help: "Client certificate for the broker (with mqtt-tls-key-file).") { config, value throws(ConfigError) in
            config.signaling.mqttTLSCertFile = value
        },
        ConfigOption("mqtt-tls-key-file", help: "Client private key for the broker.") { config, value throws(ConfigError) in
            config.signaling.mqttTLSKeyFile = value
        },
        ConfigOption("mqtt-tls-insecure", switch: true, help: "Do not check the broker's host name against its certificate (tests only).") { config, value throws(ConfigError) in
            config.signaling.mqttTLSInsecure = try ConfigValue.boolean(value)
        },
        ConfigOption("signal-topic-prefix", help: "Topic prefix of the signaling protocol. Default rtc/v1.") { config, value throws(ConfigError) in
            guard !value.isEmpty, !value.contains("+"), !value.contains("#"), !value.hasSuffix("/") else {
                throw ConfigError(origin: "", message: "'\(value)' must be a topic without wildcards or a trailing /")
            }
            config.signaling.topicPrefix = value
        },
        ConfigOption("signal-client", resetList: { $0.signaling.clients = [] }, help: "A client allowed to signal: 'ID role=device|viewer groups=a,b allow=x,y relay-only'; repeatable.") { config, value throws(ConfigError) in
            config.signaling.clients.append(value)
        },
        ConfigOption("signal-max-payload", help: "Largest signaling message, bytes. Default 65536.") { config, value throws(ConfigError) in
            config.signaling.maxPayloadBytes = try ConfigValue.integer(value, in: 1024...(1 << 20))
        },
        ConfigOption("signal-max-viewers", help: "Sessions one device may have at once. Default 4.") { config, value throws(ConfigError) in
            config.signaling.maxViewersPerDevice = try ConfigValue.integer(value, in: 1...1024)
        },
        ConfigOption("signal-max-sessions", help: "Sessions in all (board profile). Default 256.") { config, value throws(ConfigError) in
            config.signaling.maxSessions = try ConfigValue.integer(value, in: 1...1_000_000)
        },
        ConfigOption("signal-max-clients", help: "Signaling clients tracked at once, provisioned live ones included (board profile). Default 1024.") { config, value throws(ConfigError) in
            config.signaling.maxClients = try ConfigValue.integer(value, in: 16...1_000_000)
        },
        ConfigOption("signal-offer-timeout", help: "Seconds an offer may wait for its answer. Default 30.") { config, value throws(ConfigError) in
            config.signaling.offerTimeoutSeconds = try ConfigValue.integer(value, in: 1...3600)
        },
        ConfigOption("signal-idle-timeout", help: "Seconds a session may go without a message before it is ended. Default 3600.") { config, value throws(ConfigError) in
            config.signaling.idleTimeoutSeconds = try ConfigValue.integer(value, in: 10...604_800)
        },
        ConfigOption("ice-ttl", help: "Lifetime of the TURN credentials in ICE_CONFIG, seconds. Default 3600.") { config, value throws(ConfigError) in
            config.signaling.iceTTLSeconds = try ConfigValue.integer(value, in: 60...604_800)
        },
        ConfigOption("mqtt-max-unacked-kib", help: "KiB of publishes awaiting the broker's acknowledgement before new ones are dropped (board profile). Default 4096.") { config, value throws(ConfigError) in
            config.signaling.maxUnackedKiB = try ConfigValue.integer(value, in: 64...(1 << 20))
        },
        ConfigOption("cluster-instance", help: "This instance's name when several rtcgates share one broker (docs/scaling.md); each needs its own mqtt-user.") { config, value throws(ConfigError) in
            guard !value.isEmpty, value.utf8.count <= 32, value.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (48...57).contains($0) || (97...122).contains($0) }) else {
                throw ConfigError(origin: "", message: "'\(value)' must be 1-32 of a-z 0-9 - _")
            }
            config.signaling.clusterInstance = value
        },
        ConfigOption("broker-dynsec", switch: true, help: "Create and delete devices' MQTT logins and ACL roles through mosquitto's dynamic security plugin (rtcgate's broker user must be its admin).") { config, value throws(ConfigError) in
            config.signaling.brokerDynsec = try ConfigValue.boolean(value)
        },
        ConfigOption("ice-host", help: "Host name or address put in the STUN/TURN URLs of ICE_CONFIG; default: the first listening address.") { config, value throws(ConfigError) in
            config.signaling.iceHost = value
        },
    ]
}
