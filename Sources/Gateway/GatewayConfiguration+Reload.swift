/// What a reload (SIGHUP, `ctl reload`) can and cannot apply live.
extension GatewayConfiguration {
    /// The settings that differ and only take effect after a restart.
    package static func restartNeeded(from old: GatewayConfiguration, to new: GatewayConfiguration) -> [String] {
        var changed: [String] = []
        func check(_ name: String, _ differs: Bool) { if differs { changed.append(name) } }
        check("listening-ip", old.listeningIPs != new.listeningIPs)
        check("listening-port", old.listeningPort != new.listeningPort)
        check("workers", old.resolvedWorkers != new.resolvedWorkers)
        check("pool-slots", old.media.poolSlots != new.media.poolSlots || old.media.poolSlotSize != new.media.poolSlotSize)
        check("no-udp/no-tcp", old.media.udp != new.media.udp || old.media.tcp != new.media.tcp)
        check("realm", old.realm != new.realm)
        check("relay-ip", old.turn.relayIPs != new.turn.relayIPs)
        check("min-port/max-port", old.turn.minPort != new.turn.minPort || old.turn.maxPort != new.turn.maxPort)
        check("allowed-peer-ip/denied-peer-ip", old.turn.allowedPeers != new.turn.allowedPeers || old.turn.deniedPeers != new.turn.deniedPeers)
        check("max-allocations", old.turn.limits.maxAllocations != new.turn.limits.maxAllocations)
        check("nonce-security-features", old.turn.securityFeatures != new.turn.securityFeatures)
        let t = old.tls, u = new.tls
        check("tls-listening-port/alt-tls-listening-port/no-tls/tls-*", t.enabled != u.enabled || t.ports != u.ports
              || t.maxConnections != u.maxConnections || t.handshakesPerSecond != u.handshakesPerSecond
              || t.handshakesPerSourcePerSecond != u.handshakesPerSourcePerSecond || t.handshakeTimeoutSeconds != u.handshakeTimeoutSeconds)
        let a = old.signaling, b = new.signaling
        check("mqtt-*", a.mqttHost != b.mqttHost || a.mqttPort != b.mqttPort || a.mqttUser != b.mqttUser
              || a.mqttPassword != b.mqttPassword || a.mqttPasswordFile != b.mqttPasswordFile || a.mqttProtocol != b.mqttProtocol
              || a.mqttTLSCAFile != b.mqttTLSCAFile || a.mqttTLSCertFile != b.mqttTLSCertFile || a.mqttTLSKeyFile != b.mqttTLSKeyFile)
        check("signal-* limits", a.topicPrefix != b.topicPrefix || a.maxSessions != b.maxSessions || a.maxViewersPerDevice != b.maxViewersPerDevice
              || a.maxPayloadBytes != b.maxPayloadBytes || a.maxClients != b.maxClients || a.offerTimeoutSeconds != b.offerTimeoutSeconds
              || a.idleTimeoutSeconds != b.idleTimeoutSeconds || a.iceTTLSeconds != b.iceTTLSeconds || a.iceHost != b.iceHost)
        check("cluster-instance/broker-dynsec", a.clusterInstance != b.clusterInstance || a.brokerDynsec != b.brokerDynsec)
        let m = old.management, n = new.management
        check("control-*/state-dir/metrics-listen", m.controlSocket != n.controlSocket || m.controlMode != n.controlMode
              || m.controlGroup != n.controlGroup || m.stateDirectory != n.stateDirectory || m.metricsListen != n.metricsListen)
        return changed
    }
}

extension GatewayConfiguration {
    /// Takes over from `fresh` what a reload applies live: log level, STUN rate limit, summary
    /// interval, the file's TURN users and REST secrets (a leaked secret is gone at once) and
    /// signaling clients. Returns the settings that differ but need a restart.
    package mutating func applyLive(from fresh: GatewayConfiguration) -> [String] {
        let restartFor = Self.restartNeeded(from: self, to: fresh)
        logLevel = fresh.logLevel
        media.responder.ratePerSecond = fresh.media.responder.ratePerSecond
        media.responder.burst = fresh.media.responder.burst
        statsIntervalSeconds = fresh.statsIntervalSeconds
        turn.users = fresh.turn.users
        turn.staticAuthSecrets = fresh.turn.staticAuthSecrets
        turn.useAuthSecret = fresh.turn.useAuthSecret
        signaling.clients = fresh.signaling.clients
        tls.certificatePath = fresh.tls.certificatePath
        tls.keyPath = fresh.tls.keyPath
        tls.cipherList = fresh.tls.cipherList
        return restartFor
    }
}
