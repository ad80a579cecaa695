/// Changes to the provisioned state, each checked and typed. Use them inside
/// `ProvisioningStore.update`, which persists the result or leaves everything as it was.
extension ProvisioningState {
    // MARK: Devices

    /// The device with this id, if any.
    public func device(id: String) -> DeviceRecord? { devices.first { $0.id == id } }

    /// Adds a device; `groups` and `allow` are stored sorted and without duplicates.
    @discardableResult
    public mutating func addDevice(id: String, role: DeviceRole, groups: [String] = [], allow: [String] = [],
                                   relayOnly: Bool = false, brokerManaged: Bool = false, label: String? = nil,
                                   now: Int64) throws(ProvisioningError) -> DeviceRecord {
        try Self.validateDeviceId(id)
        guard device(id: id) == nil else { throw .exists("device \"\(id)\"") }
        let record = DeviceRecord(id: id, role: role, groups: Self.normalized(groups), allow: Self.normalized(allow),
                                  relayOnly: relayOnly, brokerManaged: brokerManaged, label: label, createdAt: now)
        try Self.validate(record)
        devices.append(record)
        return record
    }

    /// Removes a device and returns it.
    @discardableResult
    public mutating func removeDevice(id: String) throws(ProvisioningError) -> DeviceRecord {
        guard let index = devices.firstIndex(where: { $0.id == id }) else { throw .notFound("device \"\(id)\"") }
        return devices.remove(at: index)
    }

    /// Changes the fields given (nil leaves a field as it is; an empty `label` removes it) and
    /// stamps `updatedAt`.
    @discardableResult
    public mutating func updateDevice(id: String, role: DeviceRole? = nil, groups: [String]? = nil, allow: [String]? = nil,
                                      relayOnly: Bool? = nil, brokerManaged: Bool? = nil, label: String? = nil,
                                      now: Int64) throws(ProvisioningError) -> DeviceRecord {
        guard let index = devices.firstIndex(where: { $0.id == id }) else { throw .notFound("device \"\(id)\"") }
        var record = devices[index]
        if let role { record.role = role }
        if let groups { record.groups = Self.normalized(groups) }
        if let allow { record.allow = Self.normalized(allow) }
        if let relayOnly { record.relayOnly = relayOnly }
        if let brokerManaged { record.brokerManaged = brokerManaged }
        if let label { record.label = label.isEmpty ? nil : label }
        record.updatedAt = max(now, record.createdAt)
        try Self.validate(record)
        devices[index] = record
        return record
    }

    /// Group name → ids of the devices in it, sorted by name.
    public var groupMembers: [(group: String, ids: [String])] {
        var members: [String: [String]] = [:]
        for device in devices {
            for group in device.groups { members[group, default: []].append(device.id) }
        }
        return members.keys.sorted().map { ($0, members[$0]!.sorted()) }
    }

    // MARK: TURN users

    /// Adds a static TURN user, storing only MD5(name:realm:password).
    @discardableResult
    public mutating func addTurnUser(name: String, realm: String, password: String, now: Int64) throws(ProvisioningError) -> TurnUserRecord {
        try Self.validateTurnUserName(name)
        try Self.validateRealm(realm)
        guard !password.isEmpty, password.utf8.count <= 256 else { throw .invalid("TURN user \"\(name)\": password must be 1–256 bytes") }
        guard !turnUsers.contains(where: { $0.name == name }) else { throw .exists("TURN user \"\(name)\"") }
        let record = TurnUserRecord(name: name, realm: realm, key: ProvisioningCrypto.turnKey(name: name, realm: realm, password: password),
                                    createdAt: now)
        turnUsers.append(record)
        return record
    }

    /// Removes a TURN user and returns it.
    @discardableResult
    public mutating func removeTurnUser(name: String) throws(ProvisioningError) -> TurnUserRecord {
        guard let index = turnUsers.firstIndex(where: { $0.name == name }) else { throw .notFound("TURN user \"\(name)\"") }
        return turnUsers.remove(at: index)
    }

    // MARK: TURN REST secrets

    /// Adds a secret as the newest (32 random bytes as hex when `secret` is nil).
    @discardableResult
    public mutating func addRestSecret(_ secret: String? = nil, now: Int64) throws(ProvisioningError) -> RestSecretRecord {
        let text = secret ?? ProvisioningCrypto.randomHex(byteCount: 32)
        try Self.validateSecretText(text, id: nil)
        guard !restSecrets.contains(where: { $0.secret == text }) else { throw .exists("this REST secret") }
        var id = ProvisioningCrypto.randomHex(byteCount: 4)
        while restSecrets.contains(where: { $0.id == id }) { id = ProvisioningCrypto.randomHex(byteCount: 4) }
        let record = RestSecretRecord(id: id, secret: text, createdAt: now)
        restSecrets.insert(record, at: 0)
        return record
    }

    /// Removes a secret and returns it.
    @discardableResult
    public mutating func removeRestSecret(id: String) throws(ProvisioningError) -> RestSecretRecord {
        guard let index = restSecrets.firstIndex(where: { $0.id == id }) else { throw .notFound("REST secret \"\(id)\"") }
        return restSecrets.remove(at: index)
    }

    /// Adds a fresh random secret as the newest and retires the previous newest at
    /// `now + overlapSeconds` (earlier if it was already due to retire sooner). Returns both.
    @discardableResult
    public mutating func rotateRestSecret(now: Int64, overlapSeconds: Int64) throws(ProvisioningError)
        -> (new: RestSecretRecord, previous: RestSecretRecord?)
    {
        guard overlapSeconds >= 0 else { throw .invalid("overlapSeconds must not be negative") }
        var previous: RestSecretRecord?
        if !restSecrets.isEmpty {
            let retiresAt = now + overlapSeconds
            restSecrets[0].retiresAt = min(restSecrets[0].retiresAt ?? retiresAt, retiresAt)
            previous = restSecrets[0]
        }
        let new = try addRestSecret(now: now)
        return (new, previous)
    }

    /// Removes the secrets whose `retiresAt` has passed and returns them.
    @discardableResult
    public mutating func pruneRetired(now: Int64) -> [RestSecretRecord] {
        let retired = restSecrets.filter { ($0.retiresAt ?? Int64.max) <= now }
        restSecrets.removeAll { ($0.retiresAt ?? Int64.max) <= now }
        return retired
    }

    /// Secrets still accepted at `now`, newest first.
    public func activeRestSecrets(now: Int64) -> [RestSecretRecord] {
        restSecrets.filter { ($0.retiresAt ?? Int64.max) > now }
    }

    static func normalized(_ names: [String]) -> [String] { Array(Set(names)).sorted() }
}
