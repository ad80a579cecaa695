import MediaPlane
import TLS

/// TURN over TLS as configured, with coturn's names (`tls-listening-port`, `cert`, `pkey`,
/// `cipher-list`, `no-tls`). TLS is on when a certificate and key are given and `no-tls` is not.
package struct TLSOptions {
    package var port: UInt16 = 5349
    /// A second TLS port, e.g. 443 for firewalls that pass nothing else (0 = none).
    package var alternatePort: UInt16 = 0
    package var certificatePath: String?
    package var keyPath: String?
    package var cipherList = TLSServerContext.defaultCipherList
    package var disabled = false
    /// Connection records per worker and TLS listener (board profile).
    package var maxConnections = 32
    /// Full handshakes per second the whole gateway starts (shared out between workers).
    package var handshakesPerSecond: UInt32 = 200
    /// Per source address: handshakes per second and burst.
    package var handshakesPerSourcePerSecond: UInt32 = 20
    package var handshakesPerSourceBurst: UInt32 = 40
    package var handshakeTimeoutSeconds: UInt64 = 5

    /// Whether TLS listeners are wanted.
    package var enabled: Bool { !disabled && certificatePath != nil && keyPath != nil }

    /// The ports served, in order.
    package var ports: [UInt16] { [port] + (alternatePort != 0 && alternatePort != port ? [alternatePort] : []) }

    /// Loads the certificate and makes the workers' settings; nil when TLS is off.
    package func settings(workers: Int) throws(ConfigError) -> TLSSettings? {
        if !disabled, (certificatePath == nil) != (keyPath == nil) {
            throw ConfigError(origin: certificatePath == nil ? "pkey" : "cert", message: "TURN over TLS needs both cert and pkey")
        }
        guard enabled, let certificatePath, let keyPath else { return nil }
        let context: TLSServerContext
        do throws(TLSError) {
            context = try TLSServerContext(certificatePath: certificatePath, keyPath: keyPath, cipherList: cipherList)
        } catch {
            throw ConfigError(origin: "cert/pkey", message: error.description)
        }
        var settings = TLSSettings(store: TLSContextStore(context))
        settings.ports = ports
        settings.maxConnections = maxConnections
        settings.handshakesPerSecond = handshakesPerSecond == 0 ? 0 : max(1, handshakesPerSecond / UInt32(max(workers, 1)))
        // SO_REUSEPORT spreads one source over every worker: each keeps its share.
        let shares = UInt32(max(workers, 1))
        settings.handshakesPerSourcePerSecond = max(1, handshakesPerSourcePerSecond / shares)
        settings.handshakesPerSourceBurst = max(1, handshakesPerSourceBurst / shares)
        settings.handshakeTimeoutMillis = handshakeTimeoutSeconds * 1_000
        return settings
    }
}

extension ConfigOption {
    /// The TURN-over-TLS options.
    package static let tls: [ConfigOption] = [
        ConfigOption("tls-listening-port", help: "Port of TURN over TLS (turns:) on every listening address. Default 5349.") { config, value throws(ConfigError) in
            config.tls.port = UInt16(try ConfigValue.integer(value, in: 1...65535))
        },
        ConfigOption("alt-tls-listening-port", help: "A second TLS port, e.g. 443 for firewalls that pass only HTTPS; 0 none. Default 0.") { config, value throws(ConfigError) in
            config.tls.alternatePort = UInt16(try ConfigValue.integer(value, in: 0...65535))
        },
        ConfigOption("cert", help: "PEM certificate chain for TURN over TLS (leaf first). Reloaded on SIGHUP.") { config, value throws(ConfigError) in
            guard !value.isEmpty else { throw ConfigError(origin: "", message: "empty path") }
            config.tls.certificatePath = value
        },
        ConfigOption("pkey", help: "PEM private key (ECDSA or RSA) of the certificate. Reloaded on SIGHUP.") { config, value throws(ConfigError) in
            guard !value.isEmpty else { throw ConfigError(origin: "", message: "empty path") }
            config.tls.keyPath = value
        },
        ConfigOption("cipher-list", help: "OpenSSL cipher list for TLS 1.2 (TLS 1.3 uses OpenSSL's AEAD suites). Default: ECDHE with AES-GCM or ChaCha20-Poly1305.") { config, value throws(ConfigError) in
            guard !value.isEmpty else { throw ConfigError(origin: "", message: "empty cipher list") }
            config.tls.cipherList = value
        },
        ConfigOption("no-tls", switch: true, help: "Do not serve TURN over TLS even when cert and pkey are set.") { config, value throws(ConfigError) in
            config.tls.disabled = try ConfigValue.boolean(value)
        },
        ConfigOption("tls-max-connections", help: "TLS connection records per worker and TLS listener (board profile). Default 32.") { config, value throws(ConfigError) in
            config.tls.maxConnections = try ConfigValue.integer(value, in: 1...65536)
        },
        ConfigOption("tls-handshake-rate", help: "Full TLS handshakes per second for the whole gateway; 0 no limit. Default 200.") { config, value throws(ConfigError) in
            config.tls.handshakesPerSecond = UInt32(try ConfigValue.integer(value, in: 0...1_000_000))
        },
        ConfigOption("tls-handshake-rate-per-source", help: "TLS handshakes per second per source address (IPv6 /64); burst twice that. Default 20.") { config, value throws(ConfigError) in
            let rate = try ConfigValue.integer(value, in: 1...100_000)
            config.tls.handshakesPerSourcePerSecond = UInt32(rate)
            config.tls.handshakesPerSourceBurst = UInt32(2 * rate)
        },
        ConfigOption("tls-handshake-timeout", help: "Seconds a TLS handshake may take before the connection is closed. Default 5.") { config, value throws(ConfigError) in
            config.tls.handshakeTimeoutSeconds = UInt64(try ConfigValue.integer(value, in: 1...60))
        },
    ]
}
