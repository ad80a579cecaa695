import JSON

/// The control protocol's constants: line-delimited JSON, one object per line, version 1.
public enum ControlProtocol {
    /// The protocol version this build speaks (`"v"` of every request and response).
    public static let version = 1
    /// Longest request or response line accepted, newline included.
    public static let defaultMaxLineBytes = 64 * 1024
    /// Longest string id accepted, in UTF-8 bytes.
    public static let maxIdBytes = 128
    /// Longest command name accepted.
    public static let maxCommandBytes = 64
    /// JSON nesting accepted in a line (the envelope counts as one level).
    public static let maxDepth = 16
}

/// The error names of the control protocol (`error.code` of a response).
public enum ControlErrorCode: String, Sendable, CaseIterable, Equatable {
    /// Malformed JSON, wrong `v`, a missing or ill-typed field; the message says which.
    case badRequest = "bad-request"
    /// `cmd` names no command of this daemon.
    case unknownCommand = "unknown-command"
    /// The named device, user, secret, session… does not exist.
    case notFound = "not-found"
    /// The record to add is already there.
    case exists
    /// The peer's credentials do not allow it to use the control socket.
    case forbidden
    /// A request line longer than the limit; the connection is closed.
    case tooLarge = "too-large"
    /// Too many clients are connected; the connection is closed.
    case busy
    /// A dependency (such as the MQTT broker) is down.
    case unavailable
    /// The request contradicts the current state (e.g. a concurrent change).
    case conflict
    /// The daemon failed (I/O error, bug); the message says what.
    case `internal`
}

/// A protocol-level refusal: an error code and a human-readable message. Command handlers throw
/// it; `ControlResponse.error(id, failure)` turns it into a response.
public struct ControlFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ControlErrorCode
    public var message: String

    public init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A request line that could not be accepted: the `id` to answer with (`null` when the request
/// had no usable id) and why.
public struct ControlRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    public var id: JSONValue
    public var failure: ControlFailure

    /// The error response to send back.
    public var response: ControlResponse { .error(id, failure.code, failure.message) }
    public var description: String { failure.description }
}

/// One request: `{"v":1,"id":<string or integer>,"cmd":"device.add","args":{...}}`.
public struct ControlRequest: Sendable, Equatable {
    /// A string (at most `ControlProtocol.maxIdBytes`) or an integer (64-bit), echoed in the reply.
    public var id: JSONValue
    /// The command name, e.g. `device.add`.
    public var command: String
    /// The arguments: always a JSON object (`{}` when the request had none).
    public var args: JSONValue

    public init(id: JSONValue, command: String, args: JSONValue = .object([])) {
        self.id = id
        self.command = command
        self.args = args
    }

    /// The request as one line of compact JSON with its trailing newline.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        JSONValue.object([("v", .number(JSONNumber(ControlProtocol.version))), ("id", id),
                          ("cmd", .string(command)), ("args", args)]).write(into: &out)
        out.append(0x0A)
        return out
    }

    /// Parses one request line (with or without its trailing newline). Total: any input gives a
    /// request or an error saying exactly what is wrong.
    public static func parse(_ line: [UInt8]) throws(ControlRequestError) -> ControlRequest {
        let result: Result<ControlRequest, ControlRequestError> = line.withUnsafeBytes { buffer in
            Result { () throws(ControlRequestError) -> ControlRequest in try parse(buffer) }
        }
        return try result.get()
    }

    /// Parses one request line held in `line` (valid for the duration of the call).
    public static func parse(_ line: UnsafeRawBufferPointer) throws(ControlRequestError) -> ControlRequest {
        var body = line
        if body.last == 0x0A { body = UnsafeRawBufferPointer(rebasing: body.dropLast()) }
        func refuse(_ message: String, id: JSONValue = .null) -> ControlRequestError {
            ControlRequestError(id: id, failure: ControlFailure(.badRequest, message))
        }
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { throw refuse("empty line: expected a JSON object") }
        let value: JSONValue
        do throws(JSONParseError) {
            value = try JSONParser.parse(body, maxDepth: ControlProtocol.maxDepth)
        } catch {
            throw refuse("malformed JSON: \(error)")
        }
        guard case .object(let members) = value else { throw refuse("a request must be a JSON object") }

        guard let rawId = value["id"] else { throw refuse("missing \"id\"") }
        let id = try validatedId(rawId, refuse: { refuse($0) })

        for (key, _) in members where !["v", "id", "cmd", "args"].contains(key) {
            throw refuse("unknown field \"\(key)\" (a request has v, id, cmd and args)", id: id)
        }
        guard let version = value["v"] else { throw refuse("missing \"v\"", id: id) }
        guard let number = version.numberValue, let v = Int(number.text) else {
            throw refuse("\"v\" must be the integer \(ControlProtocol.version)", id: id)
        }
        guard v == ControlProtocol.version else {
            throw refuse("unsupported protocol version \(v) (this daemon speaks \(ControlProtocol.version))", id: id)
        }
        guard let rawCommand = value["cmd"] else { throw refuse("missing \"cmd\"", id: id) }
        guard let command = rawCommand.stringValue else { throw refuse("\"cmd\" must be a string", id: id) }
        guard isValidCommandName(command) else {
            throw refuse("\"cmd\" must be 1–\(ControlProtocol.maxCommandBytes) characters of a-z, 0-9, '.' and '-'", id: id)
        }
        let args = value["args"] ?? .object([])
        guard case .object = args else { throw refuse("\"args\" must be a JSON object", id: id) }
        return ControlRequest(id: id, command: command, args: args)
    }

    static func validatedId(_ raw: JSONValue, refuse: (String) -> ControlRequestError) throws(ControlRequestError) -> JSONValue {
        let rule = "\"id\" must be a string of 1–\(ControlProtocol.maxIdBytes) bytes or a 64-bit integer"
        switch raw {
        case .string(let s):
            guard !s.isEmpty, s.utf8.count <= ControlProtocol.maxIdBytes else { throw refuse(rule) }
            return raw
        case .number(let n):
            guard Int64(n.text) != nil else { throw refuse(rule) }
            return raw
        default:
            throw refuse(rule)
        }
    }

    static func isValidCommandName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= ControlProtocol.maxCommandBytes else { return false }
        return name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D }
    }
}

/// One response: `{"v":1,"id":…,"ok":true,"result":…}` or
/// `{"v":1,"id":…,"ok":false,"error":{"code":…,"message":…}}`.
public struct ControlResponse: Sendable, Equatable {
    /// What the request came to.
    public enum Outcome: Sendable, Equatable {
        case ok(JSONValue)
        case error(ControlErrorCode, String)
    }

    /// The request's id, or `null` when the request had none that could be read.
    public var id: JSONValue
    public var outcome: Outcome

    public init(id: JSONValue, outcome: Outcome) {
        self.id = id
        self.outcome = outcome
    }

    /// A success carrying `result`.
    public static func ok(_ id: JSONValue, _ result: JSONValue = .object([])) -> ControlResponse {
        ControlResponse(id: id, outcome: .ok(result))
    }

    /// A failure with an error name and a message for humans.
    public static func error(_ id: JSONValue, _ code: ControlErrorCode, _ message: String) -> ControlResponse {
        ControlResponse(id: id, outcome: .error(code, message))
    }

    /// A failure from a thrown `ControlFailure`.
    public static func error(_ id: JSONValue, _ failure: ControlFailure) -> ControlResponse {
        .error(id, failure.code, failure.message)
    }

    /// Whether the outcome is `ok`.
    public var isOk: Bool { if case .ok = outcome { true } else { false } }

    /// The response as one line of compact JSON with its trailing newline.
    public func serialized() -> [UInt8] {
        var members: [(String, JSONValue)] = [("v", .number(JSONNumber(ControlProtocol.version))), ("id", id)]
        switch outcome {
        case .ok(let result):
            members += [("ok", .bool(true)), ("result", result)]
        case .error(let code, let message):
            members += [("ok", .bool(false)),
                        ("error", .object([("code", .string(code.rawValue)), ("message", .string(message))]))]
        }
        var out: [UInt8] = []
        JSONValue.object(members).write(into: &out)
        out.append(0x0A)
        return out
    }

    /// Parses a response line (the client side). An error code this build does not know is read
    /// as `internal` with the code kept in the message.
    public static func parse(_ line: [UInt8]) throws(ControlFailure) -> ControlResponse {
        var body = line
        if body.last == 0x0A { body.removeLast() }
        let value: JSONValue
        do throws(JSONParseError) {
            value = try JSONParser.parse(body, maxDepth: ControlProtocol.maxDepth + 16)
        } catch {
            throw ControlFailure(.badRequest, "malformed response: \(error)")
        }
        guard case .object = value else { throw ControlFailure(.badRequest, "response is not a JSON object") }
        guard value["v"]?.numberValue?.text == String(ControlProtocol.version) else {
            throw ControlFailure(.badRequest, "response is not protocol version \(ControlProtocol.version)")
        }
        let id = value["id"] ?? .null
        switch value["ok"] {
        case .bool(true)?:
            guard let result = value["result"] else { throw ControlFailure(.badRequest, "ok response without \"result\"") }
            return .ok(id, result)
        case .bool(false)?:
            guard let error = value["error"], let name = error["code"]?.stringValue,
                  let message = error["message"]?.stringValue
            else { throw ControlFailure(.badRequest, "error response without error.code and error.message") }
            if let code = ControlErrorCode(rawValue: name) { return .error(id, code, message) }
            return .error(id, .internal, "\(name): \(message)")
        default:
            throw ControlFailure(.badRequest, "response without a boolean \"ok\"")
        }
    }
}
