import JSON

/// The `provisioning.json` encoding: one top-level field per line and one record per line, so the
/// file reads (and diffs) well; decoding is strict (every field present and well-typed, no unknown
/// fields).
extension ProvisioningState {
    /// The file's bytes.
    public func fileBytes() -> [UInt8] {
        var out: [UInt8] = []
        func line(_ text: String) { out.append(contentsOf: text.utf8) }
        line("{\"format\":\"\(Self.format)\",\"version\":\(Self.version),\"revision\":\(revision),\n")
        func list(_ name: String, _ records: [JSONValue], last: Bool) {
            line("\"\(name)\":[")
            for (i, record) in records.enumerated() {
                line(i == 0 ? "\n" : ",\n")
                record.write(into: &out)
            }
            line(last ? "]}\n" : "],\n")
        }
        list("devices", devices.map(\.json), last: false)
        list("turnUsers", turnUsers.map(\.json), last: false)
        list("restSecrets", restSecrets.map(\.json), last: true)
        return out
    }

    /// Decodes a parsed file; `ProvisioningError.invalid` says what is wrong.
    public init(json value: JSONValue) throws(ProvisioningError) {
        var top = try Fields(value, what: "the file")
        guard try top.string("format") == Self.format else {
            throw .invalid("\"format\" is not \"\(Self.format)\"")
        }
        let version = try top.integer("version")
        guard version <= Self.version else {
            throw .invalid("version \(version) was written by a newer rtcgate (this one reads version \(Self.version))")
        }
        guard version >= 1 else { throw .invalid("version \(version) is not a valid version") }
        self.init()
        revision = UInt64(try top.integer("revision"))
        devices = try top.records("devices", DeviceRecord.init(json:))
        turnUsers = try top.records("turnUsers", TurnUserRecord.init(json:))
        restSecrets = try top.records("restSecrets", RestSecretRecord.init(json:))
        try top.finish()
        try validate()
    }
}

extension DeviceRecord {
    /// The record as stored in the file (also the `device` of command results).
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(id)), ("role", .string(role.rawValue)), ("groups", .array(groups.map { .string($0) })),
            ("allow", .array(allow.map { .string($0) })), ("relayOnly", .bool(relayOnly)), ("brokerManaged", .bool(brokerManaged)),
        ]
        if let label { members.append(("label", .string(label))) }
        members += [("createdAt", .number(JSONNumber(Int(createdAt)))), ("updatedAt", .number(JSONNumber(Int(updatedAt))))]
        return .object(members)
    }

    init(json value: JSONValue) throws(ProvisioningError) {
        var fields = try Fields(value, what: "a device")
        let id = try fields.string("id")
        fields.what = "device \"\(id)\""
        guard let role = DeviceRole(rawValue: try fields.string("role")) else {
            throw .invalid("device \"\(id)\": \"role\" must be \"device\" or \"viewer\"")
        }
        let label = try fields.optionalString("label")  // absent in files written before labels
        self.init(id: id, role: role, groups: try fields.strings("groups"), allow: try fields.strings("allow"),
                  relayOnly: try fields.bool("relayOnly"), brokerManaged: try fields.bool("brokerManaged"), label: label,
                  createdAt: try fields.integer("createdAt"), updatedAt: try fields.integer("updatedAt"))
        try fields.finish()
    }
}

extension TurnUserRecord {
    /// `{name, realm, createdAt}`: what `turn-user.list` shows (never the key).
    public var listing: JSONValue {
        .object([("name", .string(name)), ("realm", .string(realm)), ("createdAt", .number(JSONNumber(Int(createdAt))))])
    }

    var json: JSONValue {
        .object([("name", .string(name)), ("realm", .string(realm)), ("key", .string(key)),
                 ("createdAt", .number(JSONNumber(Int(createdAt))))])
    }

    init(json value: JSONValue) throws(ProvisioningError) {
        var fields = try Fields(value, what: "a TURN user")
        let name = try fields.string("name")
        fields.what = "TURN user \"\(name)\""
        self.init(name: name, realm: try fields.string("realm"), key: try fields.string("key"),
                  createdAt: try fields.integer("createdAt"))
        try fields.finish()
    }
}

extension RestSecretRecord {
    /// `{id, createdAt, retiresAt, fingerprint}`: what `secret.list` shows (never the secret).
    public var listing: JSONValue {
        .object([("id", .string(id)), ("createdAt", .number(JSONNumber(Int(createdAt)))),
                 ("retiresAt", retiresAt.map { .number(JSONNumber(Int($0))) } ?? .null), ("fingerprint", .string(fingerprint))])
    }

    var json: JSONValue {
        .object([("id", .string(id)), ("secret", .string(secret)), ("createdAt", .number(JSONNumber(Int(createdAt)))),
                 ("retiresAt", retiresAt.map { .number(JSONNumber(Int($0))) } ?? .null)])
    }

    init(json value: JSONValue) throws(ProvisioningError) {
        var fields = try Fields(value, what: "a REST secret")
        let id = try fields.string("id")
        fields.what = "REST secret \"\(id)\""
        self.init(id: id, secret: try fields.string("secret"), createdAt: try fields.integer("createdAt"),
                  retiresAt: try fields.optionalInteger("retiresAt"))
        try fields.finish()
    }
}

/// Reads the members of one JSON object, each exactly once, and refuses leftovers.
private struct Fields {
    var members: [(String, JSONValue)]
    var what: String

    init(_ value: JSONValue, what: String) throws(ProvisioningError) {
        guard case .object(let members) = value else { throw .invalid("\(what) is not a JSON object") }
        self.members = members
        self.what = what
    }

    mutating func take(_ key: String) throws(ProvisioningError) -> JSONValue {
        guard let index = members.firstIndex(where: { $0.0 == key }) else { throw .invalid("\(what): missing \"\(key)\"") }
        return members.remove(at: index).1
    }

    func illTyped(_ key: String, _ type: String) -> ProvisioningError { .invalid("\(what): \"\(key)\" must be \(type)") }

    mutating func string(_ key: String) throws(ProvisioningError) -> String {
        guard let s = try take(key).stringValue else { throw illTyped(key, "a string") }
        return s
    }

    /// A string that may be absent.
    mutating func optionalString(_ key: String) throws(ProvisioningError) -> String? {
        guard members.contains(where: { $0.0 == key }) else { return nil }
        return try string(key)
    }

    mutating func bool(_ key: String) throws(ProvisioningError) -> Bool {
        guard let b = try take(key).boolValue else { throw illTyped(key, "true or false") }
        return b
    }

    mutating func integer(_ key: String) throws(ProvisioningError) -> Int64 {
        guard let n = try take(key).numberValue, let i = Int64(n.text), i >= 0 else {
            throw illTyped(key, "a non-negative integer")
        }
        return i
    }

    mutating func optionalInteger(_ key: String) throws(ProvisioningError) -> Int64? {
        let value = try take(key)
        if value.isNull { return nil }
        guard let n = value.numberValue, let i = Int64(n.text), i >= 0 else { throw illTyped(key, "a non-negative integer or null") }
        return i
    }

    mutating func strings(_ key: String) throws(ProvisioningError) -> [String] {
        guard let elements = try take(key).arrayValue else { throw illTyped(key, "an array of strings") }
        var result: [String] = []
        for element in elements {
            guard let s = element.stringValue else { throw illTyped(key, "an array of strings") }
            result.append(s)
        }
        return result
    }

    mutating func records<T>(_ key: String, _ decode: (JSONValue) throws(ProvisioningError) -> T) throws(ProvisioningError) -> [T] {
        guard let elements = try take(key).arrayValue else { throw illTyped(key, "an array") }
        var result: [T] = []
        for element in elements { result.append(try decode(element)) }
        return result
    }

    func finish() throws(ProvisioningError) {
        if let (key, _) = members.first { throw .invalid("\(what): unknown field \"\(key)\"") }
    }
}
