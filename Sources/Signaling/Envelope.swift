import JSON
/// A validated `up` message (see sig-spec "Envelope").
struct Envelope {
    var type: ClientMessageType
    var sid: String?
    var to: String?
    var mid: JSONValue?
    /// All top-level members as received.
    var members: [(String, JSONValue)]
    var body: [(String, JSONValue)]
    var endReason: EndReason?
    /// LINK_REPORT's measurements, validated.
    var linkReports: [LinkReportItem] = []

    /// `mid` and `sid` as far as they are valid, for the STATUS of a refused message.
    static func replyContext(_ members: [(String, JSONValue)]) -> (mid: JSONValue?, sid: String?) {
        let object = JSONValue.object(members)
        var mid: JSONValue?  // (a `nil` literal would become JSONValue.null here)
        if let value = object["mid"], isValidMid(value) { mid = value }
        let sid = object["sid"]?.stringValue.flatMap { isValidSid($0) ? $0 : nil }
        return (mid, sid)
    }

    static func isValidMid(_ value: JSONValue) -> Bool {
        switch value {
        case .number: return true
        case .string(let s): return s.utf8.count <= 64
        default: return false
        }
    }

    static func isValidSid(_ s: String) -> Bool { !s.utf8.isEmpty && s.utf8.count <= 64 }

    /// Validates in a fixed order (mid, v, type, sid, to, seq, body) and says exactly what is wrong.
    init(members: [(String, JSONValue)], sender: String) throws(Refusal) {
        let object = JSONValue.object(members)
        func bad(_ message: String) -> Refusal { Refusal(.badRequest, message) }

        if let mid = object["mid"], !Envelope.isValidMid(mid) {
            throw bad("field 'mid' must be a string of at most 64 bytes or a number")
        }
        guard object["v"]?.intValue == 1 else { throw bad("field 'v' must be the number 1") }
        guard let typeName = object["type"]?.stringValue else { throw bad("field 'type' must be a string") }
        guard let type = ClientMessageType(rawValue: typeName) else {
            if ClientMessageType.gatewayOnly.contains(typeName) {
                throw bad("type '\(typeName)' is sent by rtcgate only")
            }
            throw bad("unknown type '\(typeName)'")
        }
        self.type = type
        self.mid = object["mid"]
        self.members = members

        if type.isSessionMessage {
            guard let sid = object["sid"]?.stringValue, Envelope.isValidSid(sid) else {
                throw bad("field 'sid' must be a string of 1-64 bytes")
            }
            guard let to = object["to"]?.stringValue, ClientID.isValidSyntax(to) else {
                throw bad("field 'to' must be a client id (1-64 bytes of A-Z a-z 0-9 . _ -)")
            }
            guard to != sender else { throw bad("field 'to' must name another client") }
            self.sid = sid
            self.to = to
        }
        if let seq = object["seq"], seq.numberValue == nil { throw bad("field 'seq' must be a number") }
        guard let body = object["body"]?.objectValue else { throw bad("field 'body' must be an object") }
        self.body = body
        try validateBody(JSONValue.object(body))
    }

    private mutating func validateBody(_ body: JSONValue) throws(Refusal) {
        func bad(_ message: String) -> Refusal { Refusal(.badRequest, message) }
        switch type {
        case .offer, .answer:
            guard let sdp = body["sdp"]?.stringValue, !sdp.isEmpty else {
                throw bad("field 'body.sdp' must be a non-empty string")
            }
            if type == .offer, let restart = body["iceRestart"], restart.boolValue == nil {
                throw bad("field 'body.iceRestart' must be a boolean")
            }
        case .candidates:
            guard let list = body["candidates"]?.arrayValue else {
                throw bad("field 'body.candidates' must be an array")
            }
            for (i, item) in list.enumerated() {
                let path = "body.candidates[\(i)]"
                guard item.objectValue != nil else { throw bad("field '\(path)' must be an object") }
                guard item["candidate"]?.stringValue != nil else {
                    throw bad("field '\(path).candidate' must be a string")
                }
                if let mid = item["sdpMid"], mid.stringValue == nil, !mid.isNull {
                    throw bad("field '\(path).sdpMid' must be a string or null")
                }
                if let index = item["sdpMLineIndex"], !index.isNull, (index.intValue ?? -1) < 0 {
                    throw bad("field '\(path).sdpMLineIndex' must be a non-negative integer or null")
                }
            }
            if let done = body["done"], done.boolValue == nil { throw bad("field 'body.done' must be a boolean") }
        case .end:
            guard let reason = body["reason"]?.stringValue.flatMap(EndReason.init(rawValue:)) else {
                let names = EndReason.allCases.map(\.rawValue).joined(separator: ", ")
                throw bad("field 'body.reason' must be one of \(names)")
            }
            endReason = reason
        case .iceConfigRequest:
            if let peer = body["peer"], !(peer.stringValue.map(ClientID.isValidSyntax) ?? false) {
                throw bad("field 'body.peer' must be a client id (1-64 bytes of A-Z a-z 0-9 . _ -)")
            }
        case .directoryRequest:
            break
        case .linkReport:
            linkReports = try LinkReportItem.parse(body)
        }
    }
}
