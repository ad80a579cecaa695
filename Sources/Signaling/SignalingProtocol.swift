import JSON
/// Error names and codes carried in `STATUS` replies.
public enum SignalingErrorCode: String, Sendable, CaseIterable {
    case badRequest = "bad-request"
    case forbidden = "forbidden"
    case notFound = "not-found"
    case peerOffline = "peer-offline"
    case tooLarge = "too-large"
    case rateLimited = "rate-limited"
    case resources = "resources"
    /// No relay path meets the minimum link quality and `path-strict` is set (docs §7.11).
    case noPath = "no-path"

    /// The HTTP-like code.
    public var code: Int {
        switch self {
        case .badRequest: 400
        case .forbidden: 403
        case .notFound: 404
        case .peerOffline: 409
        case .tooLarge: 413
        case .rateLimited: 429
        case .resources, .noPath: 503
        }
    }
}

/// The closed list of `END` reasons.
public enum EndReason: String, Sendable, CaseIterable {
    case hangup, busy, declined, timeout
    case iceFailed = "ice-failed"
    case replaced
    case peerOffline = "peer-offline"
    case policy, resources, shutdown
}

/// Message types a client may send on `up/{id}`.
enum ClientMessageType: String {
    case offer = "OFFER"
    case answer = "ANSWER"
    case candidates = "CANDIDATES"
    case end = "END"
    case iceConfigRequest = "ICE_CONFIG_REQUEST"
    case directoryRequest = "DIRECTORY_REQUEST"
    case linkReport = "LINK_REPORT"

    /// Types only rtcgate sends; a client sending them gets `bad-request`.
    static let gatewayOnly: Set<String> = ["STATUS", "PEER_STATUS", "GO_AWAY", "ICE_CONFIG", "DIRECTORY"]

    /// Whether `sid` and `to` are required.
    var isSessionMessage: Bool { self != .iceConfigRequest && self != .directoryRequest && self != .linkReport }
}

/// A refusal of an `up` message: becomes an error `STATUS`.
struct Refusal: Error {
    var error: SignalingErrorCode
    var message: String
    var retryAfterMs: UInt64?

    init(_ error: SignalingErrorCode, _ message: String, retryAfterMs: UInt64? = nil) {
        self.error = error
        self.message = message
        self.retryAfterMs = retryAfterMs
    }
}

/// rtcgate's own messages (`from: "_gw"`).
enum GatewayMessages {
    static func status(mid: JSONValue?, sid: String?, refusal: Refusal?) -> JSONValue {
        var members: [(String, JSONValue)] = [("v", 1), ("type", "STATUS"), ("from", .string(ClientID.gateway))]
        if let mid { members.append(("mid", mid)) }
        if let sid { members.append(("sid", .string(sid))) }
        if let refusal {
            members.append(("code", .number(JSONNumber(refusal.error.code))))
            members.append(("error", .string(refusal.error.rawValue)))
            members.append(("message", .string(refusal.message)))
            if let retry = refusal.retryAfterMs { members.append(("retryAfterMs", .number(JSONNumber(retry)))) }
        } else {
            members.append(("code", 200))
        }
        return .object(members)
    }

    /// `END` from the gateway; `peer` names the other party so a client with several sessions
    /// using the same `sid` can tell them apart (an extra body field, ignorable).
    static func end(sid: String, reason: EndReason, peer: String) -> JSONValue {
        ["v": 1, "type": "END", "from": .string(ClientID.gateway), "sid": .string(sid),
         "body": ["reason": .string(reason.rawValue), "peer": .string(peer)]]
    }

    static func peerStatus(peer: String, online: Bool) -> JSONValue {
        ["v": 1, "type": "PEER_STATUS", "from": .string(ClientID.gateway),
         "body": ["peer": .string(peer), "state": online ? "online" : "offline"]]
    }

    static func goAway(graceSec: Int) -> JSONValue {
        ["v": 1, "type": "GO_AWAY", "from": .string(ClientID.gateway), "body": ["graceSec": .number(JSONNumber(graceSec))]]
    }

    static func iceConfig(mid: JSONValue?, body: JSONValue) -> JSONValue {
        var members: [(String, JSONValue)] = [("v", 1), ("type", "ICE_CONFIG"), ("from", .string(ClientID.gateway))]
        if let mid { members.append(("mid", mid)) }
        members.append(("body", body))
        return .object(members)
    }
}
