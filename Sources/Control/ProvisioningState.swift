import Glibc

/// Why a provisioning change or the provisioning file was refused.
public enum ProvisioningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The record to add is already there (the text names it, e.g. `device "cam-1"`).
    case exists(String)
    /// The record named is not there.
    case notFound(String)
    /// A value breaks a rule; the text says which and why.
    case invalid(String)
    /// The provisioning file cannot be used; it is left untouched.
    case refusedFile(path: String, reason: String)
    /// Another process holds the state directory's lock.
    case locked(directory: String, pid: Int32?)
    /// A system call failed: what was attempted, on which path, and errno.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .exists(let what): "\(what) already exists"
        case .notFound(let what): "\(what) does not exist"
        case .invalid(let why): why
        case .refusedFile(let path, let reason): "refusing \(path): \(reason); the file is left as it is"
        case .locked(let directory, let pid):
            "state directory \(directory) is in use by another rtcgate" + (pid.map { " (pid \($0))" } ?? "")
        case .io(let operation, let path, let code): "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    /// The control-protocol failure to answer with.
    public var controlFailure: ControlFailure {
        switch self {
        case .exists: ControlFailure(.exists, description)
        case .notFound: ControlFailure(.notFound, description)
        case .invalid: ControlFailure(.badRequest, description)
        case .refusedFile, .locked, .io: ControlFailure(.internal, description)
        }
    }
}

/// Whether a provisioned client is a device (camera, doorbell…) or a viewer.
public enum DeviceRole: String, Sendable, Equatable, CaseIterable {
    case device, viewer
}

/// A signaling client provisioned through the control socket.
public struct DeviceRecord: Sendable, Equatable {
    /// 1–64 bytes of `[A-Za-z0-9._-]`, not starting with `_`.
    public var id: String
    public var role: DeviceRole
    /// Group names (same syntax as ids; sorted, unique). Clients sharing a group may signal.
    public var groups: [String]
    /// Peer ids this client may signal regardless of groups (sorted, unique).
    public var allow: [String]
    /// Only relay candidates are exchanged for this client.
    public var relayOnly: Bool
    /// Whether rtcgate manages this client's broker account.
    public var brokerManaged: Bool
    /// A human name viewers see in `DIRECTORY` ("Front door"): 1–64 bytes, no control characters.
    public var label: String?
    /// Unix seconds.
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, role: DeviceRole, groups: [String] = [], allow: [String] = [], relayOnly: Bool = false,
                brokerManaged: Bool = false, label: String? = nil, createdAt: Int64, updatedAt: Int64? = nil) {
        self.label = label
        self.id = id
        self.role = role
        self.groups = groups
        self.allow = allow
        self.relayOnly = relayOnly
        self.brokerManaged = brokerManaged
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }
}

/// A static TURN user, stored as its long-term key only (never the password).
public struct TurnUserRecord: Sendable, Equatable {
    /// 1–128 bytes of `[A-Za-z0-9._@-]`.
    public var name: String
    public var realm: String
    /// 32 lowercase hex digits: MD5(name ":" realm ":" password).
    public var key: String
    public var createdAt: Int64

    public init(name: String, realm: String, key: String, createdAt: Int64) {
        self.name = name
        self.realm = realm
        self.key = key
        self.createdAt = createdAt
    }
}

/// A TURN REST (`use-auth-secret`) shared secret. The list is kept newest first.
public struct RestSecretRecord: Sendable, Equatable {
    /// 8 lowercase hex digits.
    public var id: String
    /// 16–256 bytes of printable ASCII without spaces.
    public var secret: String
    public var createdAt: Int64
    /// When the secret stops being accepted (set by a rotation), or nil for never.
    public var retiresAt: Int64?

    public init(id: String, secret: String, createdAt: Int64, retiresAt: Int64? = nil) {
        self.id = id
        self.secret = secret
        self.createdAt = createdAt
        self.retiresAt = retiresAt
    }

    /// The first 8 hex digits of SHA-256(secret): identifies a secret without revealing it.
    public var fingerprint: String { String(ProvisioningCrypto.sha256Hex(Array(secret.utf8)).prefix(8)) }
}

/// Everything provisioned through the control socket, as held in `provisioning.json`.
public struct ProvisioningState: Sendable, Equatable {
    /// The file's `format` field.
    public static let format = "rtcgate-provisioning"
    /// The newest `version` this build reads and the one it writes.
    public static let version = 1

    /// Incremented by every successful update (0 before the first).
    public var revision: UInt64 = 0
    public var devices: [DeviceRecord] = []
    public var turnUsers: [TurnUserRecord] = []
    /// Newest first.
    public var restSecrets: [RestSecretRecord] = []

    public init() {}

    /// Checks every record and the uniqueness of ids, names and secret ids.
    public func validate() throws(ProvisioningError) {
        var ids = Set<String>()
        for device in devices {
            try Self.validate(device)
            guard ids.insert(device.id).inserted else { throw .invalid("device \"\(device.id)\" appears twice") }
        }
        var names = Set<String>()
        for user in turnUsers {
            try Self.validate(user)
            guard names.insert(user.name).inserted else { throw .invalid("TURN user \"\(user.name)\" appears twice") }
        }
        var secretIds = Set<String>()
        for secret in restSecrets {
            try Self.validate(secret)
            guard secretIds.insert(secret.id).inserted else { throw .invalid("REST secret \"\(secret.id)\" appears twice") }
        }
    }

    static func validate(_ device: DeviceRecord) throws(ProvisioningError) {
        try validateDeviceId(device.id)
        try validateNameList(device.groups, what: "group name", of: device.id)
        try validateNameList(device.allow, what: "allowed peer id", of: device.id)
        if let reserved = device.allow.first(where: { $0.hasPrefix("_") }) {
            throw .invalid("device \"\(device.id)\": allowed peer id \"\(reserved)\" is reserved (starts with '_')")
        }
        if let label = device.label,
           label.utf8.isEmpty || label.utf8.count > 64 || label.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalid("device \"\(device.id)\": label must be 1-64 bytes without control characters")
        }
        guard device.createdAt >= 0, device.updatedAt >= device.createdAt else {
            throw .invalid("device \"\(device.id)\": createdAt/updatedAt must be unix seconds with updatedAt ≥ createdAt")
        }
    }

    static func validate(_ user: TurnUserRecord) throws(ProvisioningError) {
        try validateTurnUserName(user.name)
        try validateRealm(user.realm)
        guard user.key.utf8.count == 32, user.key.utf8.allSatisfy(isLowerHex) else {
            throw .invalid("TURN user \"\(user.name)\": key must be 32 lowercase hex digits")
        }
        guard user.createdAt >= 0 else { throw .invalid("TURN user \"\(user.name)\": createdAt must be unix seconds") }
    }

    static func validate(_ secret: RestSecretRecord) throws(ProvisioningError) {
        guard secret.id.utf8.count == 8, secret.id.utf8.allSatisfy(isLowerHex) else {
            throw .invalid("REST secret id \"\(secret.id)\" must be 8 lowercase hex digits")
        }
        try validateSecretText(secret.secret, id: secret.id)
        guard secret.createdAt >= 0, (secret.retiresAt ?? 0) >= 0 else {
            throw .invalid("REST secret \"\(secret.id)\": createdAt and retiresAt must be unix seconds")
        }
    }

    /// Device ids: 1–64 bytes of `[A-Za-z0-9._-]`, not starting with `_` (reserved for rtcgate).
    public static func validateDeviceId(_ id: String) throws(ProvisioningError) {
        guard isValidName(id, maxBytes: 64) else {
            throw .invalid("invalid device id \"\(id)\": 1–64 bytes of A-Z a-z 0-9 . _ -")
        }
        guard !id.hasPrefix("_") else { throw .invalid("invalid device id \"\(id)\": ids starting with '_' are reserved") }
    }

    static func validateNameList(_ names: [String], what: String, of id: String) throws(ProvisioningError) {
        var seen = Set<String>()
        for name in names {
            guard isValidName(name, maxBytes: 64) else {
                throw .invalid("device \"\(id)\": invalid \(what) \"\(name)\" (1–64 bytes of A-Z a-z 0-9 . _ -)")
            }
            guard seen.insert(name).inserted else { throw .invalid("device \"\(id)\": \(what) \"\(name)\" listed twice") }
        }
    }

    /// TURN user names: 1–128 bytes of `[A-Za-z0-9._@-]` (no `:`, which TURN REST usernames use).
    public static func validateTurnUserName(_ name: String) throws(ProvisioningError) {
        let ok = !name.isEmpty && name.utf8.count <= 128
            && name.utf8.allSatisfy { isNameByte($0) || $0 == UInt8(ascii: "@") }
        guard ok else { throw .invalid("invalid TURN user name \"\(name)\": 1–128 bytes of A-Z a-z 0-9 . _ @ -") }
    }

    static func validateRealm(_ realm: String) throws(ProvisioningError) {
        guard !realm.isEmpty, realm.utf8.count <= 128, realm.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .invalid("invalid realm \"\(realm)\": 1–128 bytes of printable ASCII")
        }
    }

    static func validateSecretText(_ secret: String, id: String?) throws(ProvisioningError) {
        let ok = (16...256).contains(secret.utf8.count) && secret.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
        guard ok else {
            let which = id.map { "REST secret \"\($0)\"" } ?? "REST secret"
            throw .invalid("\(which) must be 16–256 bytes of printable ASCII without spaces")
        }
    }

    static func isValidName(_ name: String, maxBytes: Int) -> Bool {
        !name.isEmpty && name.utf8.count <= maxBytes && name.utf8.allSatisfy(isNameByte)
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2E, 0x5F, 0x2D: true
        default: false
        }
    }

    static func isLowerHex(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) || (0x61...0x66).contains(b) }
}
