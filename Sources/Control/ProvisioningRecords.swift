import JSON

/// Names one record of the provisioning store, for replicating records one by one between the
/// instances of a cluster (docs/scaling.md).
public enum ProvisioningRecordKey: Hashable, Sendable, CustomStringConvertible {
    case device(String)
    case turnUser(String)
    case restSecret(String)

    /// `device/ID`, `turn-user/NAME`, `secret/ID`.
    public var description: String {
        switch self {
        case .device(let id): "device/\(id)"
        case .turnUser(let name): "turn-user/\(name)"
        case .restSecret(let id): "secret/\(id)"
        }
    }

    /// Parses `description`.
    public init?(_ text: Substring) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let kind = text[..<slash], name = String(text[text.index(after: slash)...])
        guard !name.isEmpty, !name.contains("/") else { return nil }
        switch kind {
        case "device": self = .device(name)
        case "turn-user": self = .turnUser(name)
        case "secret": self = .restSecret(name)
        default: return nil
        }
    }
}

extension ProvisioningState {
    /// Every record, by key, as stored in the file (REST secrets and TURN keys included).
    public var records: [ProvisioningRecordKey: JSONValue] {
        var all: [ProvisioningRecordKey: JSONValue] = [:]
        for device in devices { all[.device(device.id)] = device.json }
        for user in turnUsers { all[.turnUser(user.name)] = user.json }
        for secret in restSecrets { all[.restSecret(secret.id)] = secret.json }
        return all
    }

    /// Puts `json` as the record `key` (replacing one with that key), or removes it when nil;
    /// the record is validated like one read from the file. REST secrets stay newest first.
    /// On error the state is left as it was.
    public mutating func setRecord(_ key: ProvisioningRecordKey, _ json: JSONValue?) throws(ProvisioningError) {
        var copy = self
        try copy.put(key, json)
        self = copy
    }

    private mutating func put(_ key: ProvisioningRecordKey, _ json: JSONValue?) throws(ProvisioningError) {
        switch key {
        case .device(let id):
            let record = try json.map { value throws(ProvisioningError) in try DeviceRecord(json: value) }
            if let record, record.id != id { throw .invalid("device record \"\(record.id)\" under key \(key)") }
            Self.put(record, at: devices.firstIndex { $0.id == id }, in: &devices, newAtFront: false)
        case .turnUser(let name):
            let record = try json.map { value throws(ProvisioningError) in try TurnUserRecord(json: value) }
            if let record, record.name != name { throw .invalid("TURN user record \"\(record.name)\" under key \(key)") }
            Self.put(record, at: turnUsers.firstIndex { $0.name == name }, in: &turnUsers, newAtFront: false)
        case .restSecret(let id):
            let record = try json.map { value throws(ProvisioningError) in try RestSecretRecord(json: value) }
            if let record, record.id != id { throw .invalid("REST secret record \"\(record.id)\" under key \(key)") }
            // A secret not seen before is the newest: it goes first, as `addRestSecret` puts it.
            Self.put(record, at: restSecrets.firstIndex { $0.id == id }, in: &restSecrets, newAtFront: true)
        }
        try validate()
    }

    /// Replaces the element at `index` (or removes it when `record` is nil), or adds `record`.
    private static func put<T>(_ record: T?, at index: Int?, in list: inout [T], newAtFront: Bool) {
        switch (record, index) {
        case (let record?, let index?): list[index] = record
        case (let record?, nil): if newAtFront { list.insert(record, at: 0) } else { list.append(record) }
        case (nil, let index?): list.remove(at: index)
        case (nil, nil): break
        }
    }
}
