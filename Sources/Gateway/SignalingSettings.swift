import Glibc
import MQTT
import Reactor
import Signaling
import TURN

/// The signaling plane resolved from `SignalingOptions`: the router's limits and policy, the ICE
/// servers it hands out, and the MQTT client's connection.
package struct SignalingSettings {
    package var router: SignalingConfig
    package var policy: SignalingPolicy
    package var iceServers: IceServerURLs
    package var minter: RestCredentialMinter
    package var mqtt: MQTTClientConfig
    /// Devices' broker logins are managed through the dynamic security plugin.
    package var brokerDynsec: Bool
    /// This instance's name in a cluster (nil: alone).
    package var clusterInstance: String?
    /// The path model (docs/paths.md): this relay as the others see it, and its options.
    package var relay: RelayEntry
    package var paths: PathOptions
    /// Where the relay prober binds (the first listening address; nil: no probing).
    package var probeFrom: SocketAddress?
}

extension SignalingOptions {
    /// Checks and resolves the options; `listen` and `turn` say where STUN/TURN is served and with
    /// which REST secrets, so ICE_CONFIG points at this gateway's own relay.
    /// `turnRelay`: the media workers run TURN, so ICE_CONFIG lists its URLs (with credentials
    /// whenever a REST secret is in force).
    package func settings(listen: [SocketAddress], udp: Bool, tcp: Bool, tlsPorts: [UInt16] = [], turn: TurnOptions, turnRelay: Bool,
                  paths: PathOptions = PathOptions(),
                  provisioned: ProvisionedCredentials = ProvisionedCredentials()) throws(ConfigError) -> SignalingSettings {
        var router = SignalingConfig()
        router.topicPrefix = topicPrefix
        router.maxPayloadBytes = maxPayloadBytes
        router.maxViewersPerDevice = maxViewersPerDevice
        router.maxSessions = maxSessions
        router.offerTimeoutMs = offerTimeoutSeconds * 1_000
        router.idleTimeoutMs = idleTimeoutSeconds * 1_000
        router.iceTTLSeconds = iceTTLSeconds
        // Presence and rate buckets of every client that may connect: the configured and stored
        // ones, with room for those provisioned live (`signal-max-clients`).
        router.maxClients = max(maxClients, clients.count + provisioned.clients.count)

        var records: [ClientRecord] = []
        for line in clients {
            do {
                records.append(try SignalingPolicy.parseClientLine(line))
            } catch {
                throw ConfigError(origin: "signal-client", message: "'\(line)': \(error)")
            }
        }
        let policy = Self.policy(config: records, provisioned: provisioned)

        let host = try iceHostname(listen: listen)
        let port = listen.first?.port ?? 3478
        let secrets = provisioned.secrets + (turn.useAuthSecret ? turn.staticAuthSecrets : [])
        var turnURLs: [String] = []
        if turnRelay {
            if udp { turnURLs.append("turn:\(host):\(port)?transport=udp") }
            if tcp { turnURLs.append("turn:\(host):\(port)?transport=tcp") }
            // TURN over TLS last: the way out of networks that pass only TLS (often on 443).
            for tlsPort in tlsPorts { turnURLs.append("turns:\(host):\(tlsPort)?transport=tcp") }
        }
        let iceServers = IceServerURLs(stun: udp ? ["stun:\(host):\(port)"] : [], turn: turnURLs)
        let minter = RestCredentialMinter(secrets: secrets)

        var mqtt = MQTTClientConfig(host: mqttHost ?? "127.0.0.1", port: mqttPort, clientId: mqttUser,
                                    username: mqttUser, password: try password(),
                                    protocolChoice: mqttProtocol == "5" ? .v5 : mqttProtocol == "3.1.1" ? .v311 : .auto,
                                    keepAliveSeconds: mqttKeepAlive)
        mqtt.maxPendingBytes = maxUnackedKiB * 1024
        if mqttTLSCAFile != nil || mqttTLSCAPath != nil {
            mqtt.tls = MQTTTLSConfig(caFile: mqttTLSCAFile, caPath: mqttTLSCAPath, certFile: mqttTLSCertFile,
                                     keyFile: mqttTLSKeyFile, insecureSkipHostnameCheck: mqttTLSInsecure)
        } else if mqttTLSCertFile != nil || mqttTLSKeyFile != nil {
            throw ConfigError(origin: "mqtt-tls-cert-file", message: "a client certificate needs mqtt-tls-ca-file or mqtt-tls-ca-path")
        }
        let statusTopic = "\(topicPrefix)/status/_gw"
        mqtt.will = MQTTStatusMessage(topic: statusTopic, payload: Array(#"{"state":"offline"}"#.utf8))
        mqtt.onlineMessage = MQTTStatusMessage(topic: statusTopic, payload: Array(#"{"state":"online"}"#.utf8))
        mqtt.offlineMessage = mqtt.will
        if let clusterInstance {
            // The Will and the online/offline status announce this instance to the others; the
            // gateway's own status/_gw is published by the service (see SignalingService).
            // Its online status carries its relay URLs and site, for the others' path model.
            let topic = "\(topicPrefix)/_cluster/\(clusterInstance)"
            mqtt.will = MQTTStatusMessage(topic: topic, payload: Array(#"{"state":"offline"}"#.utf8))
            mqtt.onlineMessage = MQTTStatusMessage(topic: topic, payload: ClusterPaths.presencePayload(
                RelayEntry(name: clusterInstance, site: paths.site, stun: iceServers.stun, turn: iceServers.turn)))
            mqtt.offlineMessage = mqtt.will
        }
        let relay = RelayEntry(name: clusterInstance ?? "local", site: paths.site, stun: iceServers.stun, turn: iceServers.turn)
        let probeFrom = listen.first { $0.host != "0.0.0.0" && $0.host != "::" }
        return SignalingSettings(router: router, policy: policy, iceServers: iceServers, minter: minter, mqtt: mqtt,
                                 brokerDynsec: brokerDynsec, clusterInstance: clusterInstance, relay: relay, paths: paths,
                                 probeFrom: (clusterInstance != nil || !paths.externalRelays.isEmpty) && udp ? probeFrom : nil)
    }

    /// The configuration's clients and the store's; a client in both is the store's.
    package static func policy(config: [ClientRecord], provisioned: ProvisionedCredentials) -> SignalingPolicy {
        let stored = Set(provisioned.clients.map(\.id))
        return SignalingPolicy(clients: config.filter { !stored.contains($0.id) } + provisioned.clients)
    }

    /// `ice-host`, else the first listening address that is not a wildcard (IPv6 in brackets).
    private func iceHostname(listen: [SocketAddress]) throws(ConfigError) -> String {
        if let iceHost { return iceHost.contains(":") && !iceHost.hasPrefix("[") ? "[\(iceHost)]" : iceHost }
        for address in listen where address.host != "0.0.0.0" && address.host != "::" {
            return address.host.contains(":") ? "[\(address.host)]" : address.host
        }
        throw ConfigError(origin: "ice-host", message: "listening on a wildcard address: set ice-host to the address clients reach this gateway at")
    }

    private func password() throws(ConfigError) -> String? {
        guard let mqttPasswordFile else { return mqttPassword }
        guard let file = fopen(mqttPasswordFile, "r") else {
            throw ConfigError(origin: "mqtt-password-file", message: "cannot read \(mqttPasswordFile): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 1024)
        guard fgets(&line, Int32(line.count), file) != nil else { return "" }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(text.prefix { $0 != "\n" && $0 != "\r" })
    }
}
