import Control
import Signaling
import STUN

/// What the provisioning store adds to the configuration: TURN users (as keys), REST secrets
/// still in force (newest first) and signaling clients.
package struct ProvisionedCredentials {
    package var users: [(name: String, key: [UInt8])] = []
    package var secrets: [String] = []
    package var clients: [ClientRecord] = []

    package init() {}

    /// The store's records in force at `now` (Unix seconds); TURN users of another realm are
    /// left out (their keys cannot match).
    package init(_ state: ProvisioningState, realm: String, now: Int64) {
        for user in state.turnUsers where user.realm == realm {
            guard let key = Hex.decode(user.key.utf8) else { continue }
            users.append((user.name, key))
        }
        secrets = state.activeRestSecrets(now: now).map(\.secret)
        clients = state.devices.map { device in
            ClientRecord(id: device.id, role: device.role == .viewer ? .viewer : .device, groups: Set(device.groups),
                         allow: Set(device.allow), relayOnly: device.relayOnly, label: device.label)
        }
    }
}
