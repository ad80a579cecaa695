import BrokerAdmin
import Control
import JSON
import Logging

/// Device commands that also change the broker (dynamic security): they wait for the broker's
/// answer, so they reply asynchronously. The broker is changed first and the store second on
/// add (a failed store write removes the broker login again), and in the same order on remove,
/// so a device never exists in the store without its login or keeps a login after removal.
extension ManagementService {
    /// Handles `device.add` with `broker: true` and `device.remove` of a broker-managed device;
    /// false for every other request.
    package func handleBrokerCommand(_ request: ControlRequest, reply: @escaping (ControlResponse) -> Void) throws(ControlFailure) -> Bool {
        switch request.command {
        case "device.add" where try request.optionalBool("broker") == true:
            try request.requireOnlyArgs(["id", "role", "groups", "allow", "relayOnly", "broker"])
            let admin = try brokerAdmin()
            let id = try request.string("id")
            let role = try Self.role(try request.optionalString("role") ?? "device")
            let groups = try request.optionalStringArray("groups") ?? []
            let allow = try request.optionalStringArray("allow") ?? []
            let relayOnly = try request.optionalBool("relayOnly") ?? false
            try ProvisioningStateCheck.newDevice(id, in: gateway)
            let password = DynsecProvisioner.generatePassword()
            admin.addDevice(id: id, password: password) { [self] outcome in
                switch outcome {
                case .failure(let error):
                    if error == .timeout {
                        // The broker may still carry the request out: undo it (idempotent, and sent
                        // on the same connection, so it lands after the late create).
                        admin.removeDevice(id: id) { _ in }
                    }
                    reply(.error(request.id, Self.failure(error, doing: "create the broker login of \(id)")))
                case .success:
                    do throws(ControlFailure) {
                        let device = try change { state throws(ProvisioningError) in
                            try state.addDevice(id: id, role: role, groups: groups, allow: allow, relayOnly: relayOnly,
                                                brokerManaged: true, now: Self.now())
                        }
                        logger.notice("device added with a broker login", metadata: ["id": "\(id)", "role": "\(role.rawValue)"])
                        reply(.ok(request.id, ["device": Self.json(device),
                                               "broker": ["username": .string(id), "password": .string(password)]]))
                    } catch {
                        admin.removeDevice(id: id) { _ in }
                        reply(.error(request.id, error))
                    }
                }
            }
            return true
        case "device.remove":
            let id = try request.string("id")
            guard let device = gateway.store?.state.device(id: id), device.brokerManaged else { return false }
            try request.requireOnlyArgs(["id"])
            let admin = try brokerAdmin()
            admin.removeDevice(id: id) { [self] outcome in
                switch outcome {
                case .failure(let error):
                    reply(.error(request.id, Self.failure(error, doing: "delete the broker login of \(id) (the device is kept; retry)")))
                case .success:
                    do throws(ControlFailure) {
                        _ = try change { state throws(ProvisioningError) in try state.removeDevice(id: id) }
                        logger.notice("device removed with its broker login", metadata: ["id": "\(id)"])
                        reply(.ok(request.id, ["removed": .string(id), "broker": "deleted"]))
                    } catch {
                        reply(.error(request.id, error))
                    }
                }
            }
            return true
        default:
            return false
        }
    }

    private func brokerAdmin() throws(ControlFailure) -> DynsecProvisioner {
        guard let admin = gateway.signaling?.brokerAdmin else {
            throw ControlFailure(.unavailable, "broker credentials are not enabled on this gateway (broker-dynsec)")
        }
        return admin
    }

    package static func failure(_ error: DynsecError, doing what: String) -> ControlFailure {
        switch error {
        case .unavailable: ControlFailure(.unavailable, "cannot \(what): the broker is not connected")
        case .timeout: ControlFailure(.unavailable, "cannot \(what): the broker did not answer in time (a half-made login is removed again; retry)")
        case .busy: ControlFailure(.busy, "cannot \(what): too many broker requests in flight")
        case .rejected(let command, let message): ControlFailure(message.contains("already exists") ? .exists : .conflict,
                                                               "cannot \(what): the broker refused \(command): \(message)")
        }
    }
}

/// Checks made before the broker is asked, so a bad request does not leave a broker login behind.
package enum ProvisioningStateCheck {
    package static func newDevice(_ id: String, in gateway: any ManagedGateway) throws(ControlFailure) {
        guard let store = gateway.store else { throw ControlFailure(.unavailable, "no provisioning store (state-dir is empty)") }
        do {
            try ProvisioningState.validateDeviceId(id)
        } catch {
            throw error.controlFailure
        }
        if store.state.device(id: id) != nil { throw ControlFailure(.exists, "device \"\(id)\" already exists") }
    }
}
