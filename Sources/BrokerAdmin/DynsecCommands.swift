import JSON

/// Pure builders and parsers for mosquitto's dynamic security plugin (mosquitto 2.0), whose
/// commands are JSON published on `$CONTROL/dynamic-security/v1`:
/// `{"commands":[{"command":"createClient",…,"correlationData":"…"}]}`, answered on
/// `$CONTROL/dynamic-security/v1/response` with one message per request,
/// `{"responses":[{"command":"createClient","error":"…","correlationData":"…"}]}` (`error`
/// only on failure, responses in command order).
public enum DynsecCommands {
    /// Where commands are published.
    public static let controlTopic = "$CONTROL/dynamic-security/v1"
    /// Where the plugin answers.
    public static let responseTopic = "$CONTROL/dynamic-security/v1/response"
    /// The role every provisioned device gets is named `rolePrefix + id`.
    public static let rolePrefix = "rtcgate-client-"
    /// Longest device id (as for signaling client ids).
    public static let maxIdLength = 64

    /// The name of the device's own role.
    public static func roleName(device id: String) -> String { rolePrefix + id }

    /// True for an id that can be a broker username and a topic segment: 1–64 bytes of
    /// `[A-Za-z0-9._-]`, not starting with `_` (reserved: `_gw`), and not `rtcgate` (the gateway's
    /// own broker user). Topic wildcards (`+`, `#`) and `/` can therefore never reach an ACL.
    public static func isValidDeviceId(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= maxIdLength, utf8.first != 0x5F, id != "rtcgate" else { return false }
        return utf8.allSatisfy { b in
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2E, 0x5F, 0x2D: return true
            default: return false
            }
        }
    }

    /// The device's ACLs (docs/signaling.md §4): it sends only on its own `up` and `status`
    /// topics, and subscribes to, receives and may unsubscribe from only its own `down` topic and
    /// the gateway's `status/_gw`.
    public static func deviceACLs(id: String, topicPrefix: String) -> [JSONValue] {
        let up = "\(topicPrefix)/up/\(id)", status = "\(topicPrefix)/status/\(id)"
        let down = "\(topicPrefix)/down/\(id)", gateway = "\(topicPrefix)/status/_gw"
        return [
            acl("publishClientSend", up), acl("publishClientSend", status),
            acl("subscribePattern", down), acl("publishClientReceive", down), acl("unsubscribePattern", down),
            acl("subscribePattern", gateway), acl("publishClientReceive", gateway), acl("unsubscribePattern", gateway),
        ]
    }

    private static func acl(_ type: String, _ topic: String) -> JSONValue {
        ["acltype": .string(type), "topic": .string(topic), "allow": true]
    }

    /// `createRole` for the device's role with its ACLs.
    public static func createRole(device id: String, topicPrefix: String, correlationData: String) -> JSONValue {
        ["command": "createRole", "rolename": .string(roleName(device: id)),
         "acls": .array(deviceACLs(id: id, topicPrefix: topicPrefix)), "correlationData": .string(correlationData)]
    }

    /// `createClient` with username = device id and the device's role.
    public static func createClient(device id: String, password: String, correlationData: String) -> JSONValue {
        ["command": "createClient", "username": .string(id), "password": .string(password),
         "roles": [["rolename": .string(roleName(device: id))]], "correlationData": .string(correlationData)]
    }

    /// `deleteClient`: the broker also disconnects every connection with that username.
    public static func deleteClient(device id: String, correlationData: String) -> JSONValue {
        ["command": "deleteClient", "username": .string(id), "correlationData": .string(correlationData)]
    }

    /// `deleteRole` for the device's role.
    public static func deleteRole(device id: String, correlationData: String) -> JSONValue {
        ["command": "deleteRole", "rolename": .string(roleName(device: id)), "correlationData": .string(correlationData)]
    }

    /// `setClientPassword`: the broker also disconnects the client's current connection.
    public static func setClientPassword(device id: String, password: String, correlationData: String) -> JSONValue {
        ["command": "setClientPassword", "username": .string(id), "password": .string(password),
         "correlationData": .string(correlationData)]
    }

    /// The request message: `{"commands":[…]}` as compact JSON bytes.
    public static func request(_ commands: [JSONValue]) -> [UInt8] {
        JSONValue.object([("commands", .array(commands))]).serialized()
    }

    /// The responses of a response message, in order; nil when it is not
    /// `{"responses":[{"command":string,…},…]}`.
    public static func parseResponses(_ payload: UnsafeRawBufferPointer) -> [DynsecResponse]? {
        guard let document = try? JSONParser.parse(payload), let list = document["responses"]?.arrayValue else {
            return nil
        }
        var responses: [DynsecResponse] = []
        for item in list {
            guard let command = item["command"]?.stringValue else { return nil }
            responses.append(DynsecResponse(command: command, error: item["error"]?.stringValue,
                                            correlationData: item["correlationData"]?.stringValue))
        }
        return responses
    }
}

/// One entry of a dynsec response message.
public struct DynsecResponse: Sendable, Equatable {
    /// The command answered (or `Unknown command` for a payload the plugin could not read).
    public var command: String
    /// The plugin's error text (e.g. `Client already exists`); nil when the command succeeded.
    public var error: String?
    /// The request's `correlationData`, echoed.
    public var correlationData: String?

    public init(command: String, error: String? = nil, correlationData: String? = nil) {
        self.command = command
        self.error = error
        self.correlationData = correlationData
    }
}

/// Why a provisioning request failed.
public enum DynsecError: Error, Sendable, Equatable {
    /// Not connected to the broker (or the publish was refused): nothing was sent.
    case unavailable
    /// No answer within the provisioner's timeout; the outcome on the broker is unknown.
    case timeout
    /// The plugin refused `command` with `message` (its own text, e.g. `Client already exists`), or
    /// the provisioner refused the request itself (`command` is then the method, e.g. `addDevice`).
    case rejected(command: String, message: String)
    /// Too many requests are waiting for an answer.
    case busy
}
