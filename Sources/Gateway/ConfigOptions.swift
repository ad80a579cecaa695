/// The option table: every name here works in a configuration file (`name = value`) and as a
/// command-line flag (`--name value`). Names follow coturn's where coturn has the option.
extension ConfigOption {
    package static let all: [ConfigOption] = core + tls + signaling + paths + management

    /// The media plane's options (STUN, TURN, pools, logging).
    package static let core: [ConfigOption] = [
        ConfigOption("listening-ip", resetList: { $0.listeningIPs = [] }, help: "Address to serve STUN/TURN on; repeat for several (IPv4 and IPv6). Default 0.0.0.0.") { config, value throws(ConfigError) in
            config.listeningIPs.append(value)
        },
        ConfigOption("listening-port", help: "UDP and TCP port for STUN/TURN. Default 3478.") { config, value throws(ConfigError) in
            config.listeningPort = try ConfigValue.integer(value, in: 1...65535)
        },
        ConfigOption("no-udp", switch: true, help: "Do not serve UDP.") { config, value throws(ConfigError) in
            config.media.udp = !(try ConfigValue.boolean(value))
        },
        ConfigOption("no-tcp", switch: true, help: "Do not serve TCP.") { config, value throws(ConfigError) in
            config.media.tcp = !(try ConfigValue.boolean(value))
        },
        ConfigOption("realm", help: "Realm for long-term credentials (TURN). Default rtcgate.local.") { config, value throws(ConfigError) in
            guard !value.isEmpty, value.utf8.count <= 127 else { throw ConfigError(origin: "", message: "realm must be 1…127 bytes") }
            config.realm = value
        },
        ConfigOption("workers", aliases: ["relay-threads"], help: "Media worker threads, each with its own loop and pool; 0 = one per core.") { config, value throws(ConfigError) in
            config.workers = try ConfigValue.integer(value, in: 0...64)
        },
        ConfigOption("log-level", help: "trace, debug, info, notice, warning, error or critical. Default info. Reloaded on SIGHUP.") { config, value throws(ConfigError) in
            config.logLevel = try ConfigValue.logLevel(value)
        },
        ConfigOption("stats-interval", help: "Seconds between counter summaries in the log; 0 disables. Default 60.") { config, value throws(ConfigError) in
            config.statsIntervalSeconds = try ConfigValue.integer(value, in: 0...86400)
        },
        ConfigOption("no-software-attribute", switch: true, help: "Do not send the SOFTWARE attribute.") { config, value throws(ConfigError) in
            config.media.responder.software = try ConfigValue.boolean(value) ? nil : BindingDefaults.software
        },
        ConfigOption("stun-rate-limit", help: "STUN responses per second per source address (IPv6: per /64); 0 disables. Reloaded on SIGHUP.") { config, value throws(ConfigError) in
            config.media.responder.ratePerSecond = try ConfigValue.integer(value, in: 0...10_000_000)
        },
        ConfigOption("stun-rate-burst", help: "Token-bucket depth of the per-source STUN limit. Reloaded on SIGHUP.") { config, value throws(ConfigError) in
            config.media.responder.burst = try ConfigValue.integer(value, in: 1...10_000_000)
        },
        ConfigOption("stun-rate-table-size", help: "Sources tracked by the STUN rate limiter (fixed table; stalest evicted).") { config, value throws(ConfigError) in
            config.media.responder.rateTableCapacity = try ConfigValue.integer(value, in: 16...1 << 22)
        },
        ConfigOption("pool-slots", help: "Buffer-pool slots per worker (board profile).") { config, value throws(ConfigError) in
            config.media.poolSlots = try ConfigValue.integer(value, in: 2...1 << 20)
        },
        ConfigOption("pool-slot-size", help: "Bytes per pool slot, headroom included (board profile).") { config, value throws(ConfigError) in
            config.media.poolSlotSize = try ConfigValue.integer(value, in: 256...65536)
        },
        ConfigOption("pool-prefault", switch: true, help: "Touch the buffer pool and the TURN allocation table at start-up: RSS is then fixed from the first second (board profile).") { config, value throws(ConfigError) in
            config.media.poolPrefault = try ConfigValue.boolean(value)
        },
        ConfigOption("udp-batch", help: "Datagrams per recvmmsg/sendmmsg call (board profile).") { config, value throws(ConfigError) in
            config.media.udpBatch = try ConfigValue.integer(value, in: 1...1024)
        },
        ConfigOption("no-udp-gso", switch: true, help: "Send every UDP datagram as its own message (no generic segmentation offload).") { config, value throws(ConfigError) in
            config.media.udpSegmentation = try !ConfigValue.boolean(value)
        },
        ConfigOption("socket-buffer-bytes", help: "SO_RCVBUF/SO_SNDBUF of the listening UDP sockets (forced with CAP_NET_ADMIN, else up to net.core.rmem_max); 0 keeps the system default. Default 1048576 or the board's.") { config, value throws(ConfigError) in
            let bytes: Int = try ConfigValue.integer(value, in: 0...(1 << 30))
            config.media.socketBufferBytes = bytes == 0 ? nil : bytes
        },
        ConfigOption("relay-socket-buffer-bytes", help: "SO_RCVBUF/SO_SNDBUF of each relayed address's UDP socket; 0 keeps the system default. Default 65536 or the board's.") { config, value throws(ConfigError) in
            let bytes: Int = try ConfigValue.integer(value, in: 0...(1 << 30))
            config.media.relaySocketBufferBytes = bytes == 0 ? nil : bytes
        },
        ConfigOption("tcp-max-connections", help: "TCP connection records per worker and listening address (board profile).") { config, value throws(ConfigError) in
            config.media.tcpMaxConnections = try ConfigValue.integer(value, in: 1...65536)
        },
        ConfigOption("tcp-buffer-bytes", help: "Receive and send buffer per TCP connection (board profile).") { config, value throws(ConfigError) in
            config.media.tcpBufferBytes = try ConfigValue.integer(value, in: 548...(1 << 20))
        },
        ConfigOption("tcp-idle-timeout", help: "Seconds of silence before a TCP connection is closed; 0 never. Default 300.") { config, value throws(ConfigError) in
            config.media.tcpIdleTimeoutSeconds = try ConfigValue.integer(value, in: 0...86400)
        },
        // TURN relay (coturn's names).
        ConfigOption("relay-ip", resetList: { $0.turn.relayIPs = [] }, help: "Address relayed allocations are bound to (one IPv4, one IPv6); default: the listening addresses.") { config, value throws(ConfigError) in
            config.turn.relayIPs.append(value)
        },
        ConfigOption("min-port", help: "Lowest relay port. Default 49152.") { config, value throws(ConfigError) in
            config.turn.minPort = try ConfigValue.integer(value, in: 1024...65535)
        },
        ConfigOption("max-port", help: "Highest relay port. Default 65535.") { config, value throws(ConfigError) in
            config.turn.maxPort = try ConfigValue.integer(value, in: 1024...65535)
        },
        ConfigOption("user", resetList: { $0.turn.users = [] }, help: "A TURN user, name:password or name:0x<MD5 key> (turnadmin -k); repeat for several. Enables TURN.") { config, value throws(ConfigError) in
            config.turn.users.append(value)
        },
        ConfigOption("use-auth-secret", switch: true, help: "Accept TURN REST credentials (username expiry:id, password base64(HMAC-SHA1(secret, username))). Enables TURN.") { config, value throws(ConfigError) in
            config.turn.useAuthSecret = try ConfigValue.boolean(value)
        },
        ConfigOption("static-auth-secret", resetList: { $0.turn.staticAuthSecrets = [] }, help: "A TURN REST secret; repeat to rotate (newest first; older ones stay valid until removed).") { config, value throws(ConfigError) in
            guard value.utf8.count >= 16 else { throw ConfigError(origin: "", message: "use at least 16 characters") }
            config.turn.staticAuthSecrets.append(value)
        },
        ConfigOption("allowed-peer-ip", resetList: { $0.turn.allowedPeers = [] }, help: "Peers clients may reach despite the default deny list (address, CIDR or first-last), e.g. the gateway's LAN; repeatable.") { config, value throws(ConfigError) in
            config.turn.allowedPeers.append(value)
        },
        ConfigOption("denied-peer-ip", resetList: { $0.turn.deniedPeers = [] }, help: "Peers clients may never reach (address, CIDR or first-last); wins over allowed-peer-ip; repeatable.") { config, value throws(ConfigError) in
            config.turn.deniedPeers.append(value)
        },
        ConfigOption("user-quota", help: "Allocations one username may hold per worker; 0 = no limit.") { config, value throws(ConfigError) in
            config.turn.limits.userQuota = try ConfigValue.integer(value, in: 0...1_000_000)
        },
        ConfigOption("total-quota", help: "Allocations in all per worker; 0 = the table size.") { config, value throws(ConfigError) in
            config.turn.limits.totalQuota = try ConfigValue.integer(value, in: 0...1_000_000)
        },
        ConfigOption("max-allocate-lifetime", help: "Longest allocation lifetime a client may ask for, seconds. Default 3600.") { config, value throws(ConfigError) in
            config.turn.limits.maxLifetime = try ConfigValue.integer(value, in: 600...86_400)
        },
        ConfigOption("max-session-lifetime", help: "How long an allocation made with TURN REST credentials may outlive them, seconds. Default 86400.") { config, value throws(ConfigError) in
            config.turn.limits.maxSessionLifetime = try ConfigValue.integer(value, in: 600...2_592_000)
        },
        ConfigOption("max-bps", help: "Bandwidth cap per allocation in bits per second, both directions together (coturn's name); 0 = none.") { config, value throws(ConfigError) in
            let bits: UInt64 = try ConfigValue.integer(value, in: 0...100_000_000_000)
            config.turn.limits.maxBytesPerSecond = bits / 8
        },
        ConfigOption("max-allocations", help: "Allocation table size per worker (board profile).") { config, value throws(ConfigError) in
            config.turn.limits.maxAllocations = try ConfigValue.integer(value, in: 1...1_000_000)
        },
        ConfigOption("nonce-security-features", switch: true,
                     help: "Offer RFC 8489's SHA-256 passwords and USERHASH (nonce cookie, PASSWORD-ALGORITHMS): each 401 grows from 72 to 96 bytes. Off by default; browsers use neither.") { config, value throws(ConfigError) in
            config.turn.securityFeatures = try ConfigValue.boolean(value)
        },
    ]
}

/// Defaults shared by configuration and the responder.
package enum BindingDefaults {
    package static let software: StaticString = "rtcgate"
}
