import Control
import Signaling

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
            guard let key = Self.bytes(hex: user.key) else { continue }
            users.append((user.name, key))
        }
        secrets = state.activeRestSecrets(now: now).map(\.secret)
        clients = state.devices.map { device in
            ClientRecord(id: device.id, role: device.role == .viewer ? .viewer : .device, groups: Set(device.groups),
                         allow: Set(device.allow), relayOnly: device.relayOnly)
        }
    }

    package static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
