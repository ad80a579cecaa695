import JSON

extension GatewayConfiguration {
    /// `config.show`: the effective settings, secrets redacted.
    package func report(turnRunning: Bool) -> JSONValue {
        var members: [(String, JSONValue)] = []
        let c = self
        members.append(("listening", .array(c.listeningIPs.map { .string("\($0):\(c.listeningPort)") })))
        members.append(("workers", .number(JSONNumber(c.resolvedWorkers))))
        members.append(("realm", .string(c.realm)))
        members.append(("logLevel", .string(GatewayLogHandler.currentLevel.rawValue)))
        members.append(("turn", ["enabled": .bool(turnRunning), "minPort": .number(JSONNumber(Int(c.turn.minPort))),
                                 "maxPort": .number(JSONNumber(Int(c.turn.maxPort))),
                                 "configUsers": .number(JSONNumber(c.turn.users.count)),
                                 "configSecrets": .number(JSONNumber(c.turn.staticAuthSecrets.count)),
                                 "allowedPeers": .array(c.turn.allowedPeers.map(JSONValue.string)),
                                 "deniedPeers": .array(c.turn.deniedPeers.map(JSONValue.string))]))
        members.append(("signaling", c.signaling.enabled
            ? ["mqttHost": .string(c.signaling.mqttHost ?? ""), "mqttPort": .number(JSONNumber(c.signaling.mqttPort)),
               "mqttUser": .string(c.signaling.mqttUser), "mqttPassword": .string("(redacted)"),
               "topicPrefix": .string(c.signaling.topicPrefix), "configClients": .number(JSONNumber(c.signaling.clients.count)),
               "maxSessions": .number(JSONNumber(c.signaling.maxSessions))]
            : ["enabled": false]))
        members.append(("management", ["controlSocket": .string(c.management.controlSocket),
                                       "stateDir": .string(c.management.stateDirectory),
                                       "metricsListen": c.management.metricsListen.map(JSONValue.string) ?? .null]))
        members.append(("sources", .object(c.origins.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        return .object(members)
    }
}
