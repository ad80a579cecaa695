/// Whether a client is a device (camera, sensor, …) or a viewer (app, browser).
public enum ClientRole: String, Sendable, Equatable {
    case device, viewer
}

/// One provisioned client: who it is, whom it may talk to, and its privacy setting.
public struct ClientRecord: Sendable, Equatable {
    public var id: String
    public var role: ClientRole
    /// Clients sharing a group may signal each other.
    public var groups: Set<String>
    /// Peer ids this client may signal regardless of groups (either side's list suffices).
    public var allow: Set<String>
    /// When set, sessions involving this client carry relay candidates only (see `RelayOnlyFilter`).
    public var relayOnly: Bool
    /// A human name shown to viewers in `DIRECTORY` ("Front door"), at most 64 bytes.
    public var label: String?
    /// The site the client is at (`site=`): its edges to that site's relays when it has not
    /// reported its own (docs/paths.md).
    public var site: String?

    public init(id: String, role: ClientRole, groups: Set<String> = [], allow: Set<String> = [], relayOnly: Bool = false,
                label: String? = nil, site: String? = nil) {
        self.label = label
        self.site = site
        self.id = id
        self.role = role
        self.groups = groups
        self.allow = allow
        self.relayOnly = relayOnly
    }
}

/// A `signal-client` line that could not be read.
public struct SignalingPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The provisioned clients and who may signal whom.
///
/// A pair may signal if both are provisioned, they are distinct, and they share a group or
/// either lists the other in `allow`. Records with invalid or reserved (`_…`) ids are ignored;
/// for duplicate ids the last record wins.
public struct SignalingPolicy: Sendable {
    private var records: [String: ClientRecord] = [:]

    public init(clients: [ClientRecord]) {
        for client in clients where ClientID.isValidSyntax(client.id) && !ClientID.isReserved(client.id) {
            records[client.id] = client
        }
    }

    /// Number of provisioned clients.
    public var count: Int { records.count }
    /// All provisioned ids, sorted.
    public var clientIds: [String] { records.keys.sorted() }

    public func record(_ id: String) -> ClientRecord? { records[id] }

    public func mayTalk(_ a: String, _ b: String) -> Bool {
        guard a != b, let ra = records[a], let rb = records[b] else { return false }
        return !ra.groups.isDisjoint(with: rb.groups) || ra.allow.contains(b) || rb.allow.contains(a)
    }

    /// Parses `ID role=device|viewer [groups=a,b] [allow=x,y] [site=s] [relay-only]`, the value of a
    /// `signal-client` line in rtcgate.conf. A leading `signal-client =` is accepted too.
    public static func parseClientLine(_ value: String) throws(SignalingPolicyError) -> ClientRecord {
        var text = Substring(value)
        if text.hasPrefix("signal-client") {
            let rest = text.dropFirst("signal-client".count).drop { $0 == " " || $0 == "\t" }
            if rest.first == "=" { text = rest.dropFirst() }
        }
        let tokens = text.split { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let idToken = tokens.first else {
            throw SignalingPolicyError("signal-client: missing client id")
        }
        let id = String(idToken)
        guard ClientID.isValidSyntax(id) else {
            throw SignalingPolicyError("signal-client: invalid client id '\(id)' (1-64 bytes of A-Z a-z 0-9 . _ -)")
        }
        guard !ClientID.isReserved(id) else {
            throw SignalingPolicyError("signal-client: client id '\(id)' is reserved (ids starting with '_' belong to rtcgate)")
        }
        var role: ClientRole?
        var groups: Set<String>?
        var allow: Set<String>?
        var relayOnly = false
        var site: String?
        for token in tokens.dropFirst() {
            if token == "relay-only" {
                guard !relayOnly else { throw SignalingPolicyError("signal-client \(id): 'relay-only' given twice") }
                relayOnly = true
                continue
            }
            guard let eq = token.firstIndex(of: "=") else {
                throw SignalingPolicyError("signal-client \(id): unknown option '\(token)' (expected role=, groups=, allow=, site= or relay-only)")
            }
            let key = token[..<eq]
            let val = token[token.index(after: eq)...]
            switch key {
            case "role":
                guard role == nil else { throw SignalingPolicyError("signal-client \(id): 'role' given twice") }
                guard let r = ClientRole(rawValue: String(val)) else {
                    throw SignalingPolicyError("signal-client \(id): role must be 'device' or 'viewer', not '\(val)'")
                }
                role = r
            case "groups":
                guard groups == nil else { throw SignalingPolicyError("signal-client \(id): 'groups' given twice") }
                groups = try parseList(val, what: "group name", id: id)
            case "site":
                guard site == nil else { throw SignalingPolicyError("signal-client \(id): 'site' given twice") }
                guard ClientID.isValidSyntax(val) else {
                    throw SignalingPolicyError("signal-client \(id): invalid site '\(val)' (1-64 bytes of A-Z a-z 0-9 . _ -)")
                }
                site = String(val)
            case "allow":
                guard allow == nil else { throw SignalingPolicyError("signal-client \(id): 'allow' given twice") }
                let ids = try parseList(val, what: "client id", id: id)
                if let bad = ids.first(where: { ClientID.isReserved($0) }) {
                    throw SignalingPolicyError("signal-client \(id): allow lists reserved id '\(bad)'")
                }
                allow = ids
            default:
                throw SignalingPolicyError("signal-client \(id): unknown option '\(key)' (expected role=, groups=, allow=, site= or relay-only)")
            }
        }
        guard let role else { throw SignalingPolicyError("signal-client \(id): missing role=device|viewer") }
        return ClientRecord(id: id, role: role, groups: groups ?? [], allow: allow ?? [], relayOnly: relayOnly, site: site)
    }

    private static func parseList(_ text: Substring, what: String, id: String) throws(SignalingPolicyError) -> Set<String> {
        var result = Set<String>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard ClientID.isValidSyntax(item) else {
                throw SignalingPolicyError("signal-client \(id): invalid \(what) '\(item)' (1-64 bytes of A-Z a-z 0-9 . _ -)")
            }
            result.insert(String(item))
        }
        return result
    }
}
