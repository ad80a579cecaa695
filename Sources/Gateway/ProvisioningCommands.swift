import Control
import Glibc
import JSON
import Logging
import Signaling

/// The store-backed commands: devices, groups, TURN users and REST secrets. Each change is
/// written to the store (atomically) before it is acknowledged, then applied to the running
/// planes. Secrets are shown once, when created, and never again.
extension ManagementService {
    /// Runs `request` if it is a provisioning command; nil when it is not one.
    package func runProvisioning(_ request: ControlRequest) throws(ControlFailure) -> JSONValue? {
        switch request.command {
        case "device.list":
            try request.requireOnlyArgs([])
            return ["devices": .array(try store().state.devices.map(Self.json))]
        case "device.show":
            try request.requireOnlyArgs(["id"])
            let id = try request.string("id")
            guard let device = try store().state.device(id: id) else { throw ControlFailure(.notFound, "device \"\(id)\" does not exist") }
            var members: [(String, JSONValue)] = [("device", Self.json(device))]
            if let signaling = gateway.signaling {
                members.append(("online", .bool(signaling.router.isOnline(id))))
                members.append(("sessions", .array(signaling.sessions().filter { $0["a"]?.stringValue == id || $0["b"]?.stringValue == id })))
            }
            return .object(members)
        case "device.add":
            try request.requireOnlyArgs(["id", "role", "groups", "allow", "relayOnly", "broker", "label"])
            let role = try Self.role(try request.optionalString("role") ?? "device")
            let id = try request.string("id")
            let groups = try request.optionalStringArray("groups") ?? []
            let allow = try request.optionalStringArray("allow") ?? []
            let relayOnly = try request.optionalBool("relayOnly") ?? false
            let label = try request.optionalString("label")
            let device = try change { state throws(ProvisioningError) in
                try state.addDevice(id: id, role: role, groups: groups, allow: allow, relayOnly: relayOnly, label: label, now: Self.now())
            }
            logger.notice("device added", metadata: ["id": "\(id)", "role": "\(role.rawValue)", "groups": "\(groups.joined(separator: ","))"])
            return ["device": Self.json(device)]
        case "device.update":
            try request.requireOnlyArgs(["id", "role", "groups", "allow", "relayOnly", "label"])
            let id = try request.string("id")
            let role = try request.optionalString("role").map { text throws(ControlFailure) in try Self.role(text) }
            let groups = try request.optionalStringArray("groups")
            let allow = try request.optionalStringArray("allow")
            let relayOnly = try request.optionalBool("relayOnly")
            let label = try request.optionalString("label")
            let device = try change { state throws(ProvisioningError) in
                try state.updateDevice(id: id, role: role, groups: groups, allow: allow, relayOnly: relayOnly, label: label, now: Self.now())
            }
            logger.notice("device updated", metadata: ["id": "\(id)"])
            return ["device": Self.json(device)]
        case "device.remove":
            try request.requireOnlyArgs(["id"])
            let id = try request.string("id")
            let device = try change { state throws(ProvisioningError) in try state.removeDevice(id: id) }
            logger.notice("device removed", metadata: ["id": "\(id)"])
            return ["removed": .string(device.id)]
        case "group.list":
            try request.requireOnlyArgs([])
            return ["groups": .object(try store().state.groupMembers.map { ($0.group, .array($0.ids.map(JSONValue.string))) })]
        case "turn-user.add":
            try request.requireOnlyArgs(["name", "password"])
            let name = try request.string("name")
            let password = try request.string("password")
            guard !password.isEmpty else { throw ControlFailure(.badRequest, "turn-user.add: password must not be empty") }
            let realm = gateway.realm
            let user = try change { state throws(ProvisioningError) in
                try state.addTurnUser(name: name, realm: realm, password: password, now: Self.now())
            }
            logger.notice("TURN user added", metadata: ["name": "\(name)"])
            return ["user": Self.json(user), "turnRunning": .bool(gateway.turnRunning)]
        case "turn-user.remove":
            try request.requireOnlyArgs(["name"])
            let name = try request.string("name")
            _ = try change { state throws(ProvisioningError) in try state.removeTurnUser(name: name) }
            logger.notice("TURN user removed", metadata: ["name": "\(name)"])
            return ["removed": .string(name)]
        case "turn-user.list":
            try request.requireOnlyArgs([])
            return ["users": .array(try store().state.turnUsers.map(Self.json))]
        case "secret.add":
            try request.requireOnlyArgs(["secret"])
            let given = try request.optionalString("secret")
            if let given, given.utf8.count < 16 { throw ControlFailure(.badRequest, "secret.add: use at least 16 characters") }
            let secret = try change { state throws(ProvisioningError) in try state.addRestSecret(given, now: Self.now()) }
            logger.notice("TURN REST secret added", metadata: ["id": "\(secret.id)", "fingerprint": "\(secret.fingerprint)"])
            return ["id": .string(secret.id), "secret": .string(secret.secret), "fingerprint": .string(secret.fingerprint),
                    "turnRunning": .bool(gateway.turnRunning)]
        case "secret.rotate":
            try request.requireOnlyArgs(["overlapSeconds"])
            let overlap = Int64(try request.optionalInt("overlapSeconds", in: 0...(30 * 86_400)) ?? 86_400)
            let rotated = try change { state throws(ProvisioningError) in try state.rotateRestSecret(now: Self.now(), overlapSeconds: overlap) }
            logger.notice("TURN REST secret rotated", metadata: ["new": "\(rotated.new.id)", "previous": "\(rotated.previous?.id ?? "-")"])
            var result: [(String, JSONValue)] = [("id", .string(rotated.new.id)), ("secret", .string(rotated.new.secret)),
                                                 ("fingerprint", .string(rotated.new.fingerprint))]
            if let previous = rotated.previous {
                result.append(("previous", ["id": .string(previous.id), "retiresAt": previous.retiresAt.map { .number(JSONNumber(Int($0))) } ?? .null]))
            }
            return .object(result)
        case "secret.remove":
            try request.requireOnlyArgs(["id"])
            let id = try request.string("id")
            _ = try change { state throws(ProvisioningError) in try state.removeRestSecret(id: id) }
            logger.notice("TURN REST secret removed", metadata: ["id": "\(id)"])
            return ["removed": .string(id)]
        case "secret.list":
            try request.requireOnlyArgs([])
            return ["secrets": .array(try store().state.restSecrets.map(Self.json))]
        default:
            return nil
        }
    }

    private func store() throws(ControlFailure) -> ProvisioningStore {
        guard let store = gateway.store else { throw ControlFailure(.unavailable, "no provisioning store (state-dir is empty)") }
        return store
    }

    /// Writes a change to the store, then applies the new state to the running planes.
    package func change<T>(_ body: (inout ProvisioningState) throws(ProvisioningError) -> T) throws(ControlFailure) -> T {
        let store = try store()
        let before = store.state
        let result: T
        do {
            result = try store.update(body)
        } catch {
            throw error.controlFailure
        }
        gateway.applyProvisioning()
        gateway.replicator?.changed(from: before, to: store.state)
        return result
    }

    package static func now() -> Int64 { Int64(time(nil)) }

    package static func role(_ text: String) throws(ControlFailure) -> DeviceRole {
        guard let role = DeviceRole(rawValue: text) else { throw ControlFailure(.badRequest, "role must be device or viewer, not '\(text)'") }
        return role
    }

    package static func json(_ device: DeviceRecord) -> JSONValue {
        var json: JSONValue = ["id": .string(device.id), "role": .string(device.role.rawValue), "groups": .array(device.groups.map(JSONValue.string)),
         "allow": .array(device.allow.map(JSONValue.string)), "relayOnly": .bool(device.relayOnly),
         "broker": .bool(device.brokerManaged), "createdAt": .number(JSONNumber(Int(device.createdAt))),
         "updatedAt": .number(JSONNumber(Int(device.updatedAt)))]
        if let label = device.label, case .object(var members) = json {
            members.append(("label", .string(label)))
            json = .object(members)
        }
        return json
    }

    package static func json(_ user: TurnUserRecord) -> JSONValue {
        ["name": .string(user.name), "realm": .string(user.realm), "createdAt": .number(JSONNumber(Int(user.createdAt)))]
    }

    package static func json(_ secret: RestSecretRecord) -> JSONValue {
        ["id": .string(secret.id), "fingerprint": .string(secret.fingerprint), "createdAt": .number(JSONNumber(Int(secret.createdAt))),
         "retiresAt": secret.retiresAt.map { .number(JSONNumber(Int($0))) } ?? .null]
    }
}
