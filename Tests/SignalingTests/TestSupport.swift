import JSON
import XCTest
@testable import Signaling

/// Mints predictable credentials (`"{expiry}:{id}"`, `"cred-{n}"`) and records calls.
final class FakeMinter: IceCredentialMinter {
    var enabled = true
    var calls: [(clientId: String, unixNow: UInt64, ttl: UInt64)] = []

    func mint(clientId: String, unixNow: UInt64, ttl: UInt64) -> (username: String, credential: String)? {
        calls.append((clientId, unixNow, ttl))
        guard enabled else { return nil }
        return ("\(unixNow + ttl):\(clientId)", "cred-\(calls.count)")
    }
}

/// A router with a fixed cast of clients and a hand-driven clock.
final class Harness {
    static let defaultClients: [ClientRecord] = [
        ClientRecord(id: "cam-1", role: .device, groups: ["home"]),
        ClientRecord(id: "cam-2", role: .device, groups: ["home"]),
        ClientRecord(id: "viewer-1", role: .viewer, groups: ["home"]),
        ClientRecord(id: "viewer-2", role: .viewer, groups: ["home"]),
        ClientRecord(id: "viewer-3", role: .viewer, groups: ["home"]),
        ClientRecord(id: "viewer-4", role: .viewer, groups: ["home"]),
        ClientRecord(id: "viewer-5", role: .viewer, groups: ["home"]),
        ClientRecord(id: "ro-viewer", role: .viewer, groups: ["home"], relayOnly: true),
        ClientRecord(id: "outsider", role: .viewer, groups: ["other"]),
        ClientRecord(id: "friend", role: .viewer, groups: ["other"], allow: ["cam-1"]),
    ]

    var now: UInt64 = 10_000
    var unix: UInt64 = 1_700_000_000
    let minter = FakeMinter()
    let router: SignalingRouter

    init(config: SignalingConfig = SignalingConfig(), clients: [ClientRecord] = Harness.defaultClients,
         iceServers: IceServerURLs = IceServerURLs(stun: ["stun:gw.local:3478"], turn: ["turn:gw.local:3478?transport=udp", "turn:gw.local:3478?transport=tcp"])) {
        router = SignalingRouter(config: config, policy: SignalingPolicy(clients: clients), iceServers: iceServers, minter: minter)
    }

    var clock: SignalingClock { SignalingClock(monotonicMs: now, unixSeconds: unix) }

    func advance(ms: UInt64) {
        now += ms
        unix = 1_700_000_000 + (now - 10_000) / 1000
    }

    @discardableResult
    func raw(_ topic: String, _ payload: [UInt8], correlation: [UInt8]? = nil) -> [OutboundMessage] {
        var out: [OutboundMessage] = []
        router.handle(topic: topic, payload: payload, correlationData: correlation, clock: clock, into: &out)
        return out
    }

    @discardableResult
    func up(_ id: String, _ json: String, correlation: [UInt8]? = nil) -> [OutboundMessage] {
        raw("rtc/v1/up/\(id)", Array(json.utf8), correlation: correlation)
    }

    @discardableResult
    func status(_ id: String, _ payload: String) -> [OutboundMessage] {
        raw("rtc/v1/status/\(id)", Array(payload.utf8))
    }

    func online(_ ids: String...) {
        for id in ids { status(id, #"{"state":"online"}"#) }
    }

    @discardableResult
    func tick() -> [OutboundMessage] {
        var out: [OutboundMessage] = []
        router.tick(clock: clock, into: &out)
        return out
    }

    /// Sends an OFFER from `a` to `b` and an ANSWER back; returns nothing, asserts forwarding.
    func establish(_ a: String, _ b: String, sid: String, file: StaticString = #filePath, line: UInt = #line) {
        let o = up(a, offer(sid: sid, to: b))
        XCTAssertEqual(o.map(\.topic), ["rtc/v1/down/\(b)"], "offer not forwarded", file: file, line: line)
        let r = up(b, answer(sid: sid, to: a))
        XCTAssertEqual(r.map(\.topic), ["rtc/v1/down/\(a)"], "answer not forwarded", file: file, line: line)
    }
}

func offer(sid: String, to: String, mid: String? = nil, sdp: String = "v=0\r\n") -> String {
    let midPart = mid.map { #","mid":"\#($0)""# } ?? ""
    return #"{"v":1,"type":"OFFER","sid":"\#(sid)","to":"\#(to)"\#(midPart),"body":{"sdp":\#(JSONValue.string(sdp).jsonText)}}"#
}

func answer(sid: String, to: String, mid: String? = nil) -> String {
    let midPart = mid.map { #","mid":"\#($0)""# } ?? ""
    return #"{"v":1,"type":"ANSWER","sid":"\#(sid)","to":"\#(to)"\#(midPart),"body":{"sdp":"v=0\r\n"}}"#
}

func candidates(sid: String, to: String, mid: String? = nil, _ list: [String] = ["candidate:1 1 udp 1 192.168.1.2 5000 typ host"]) -> String {
    let midPart = mid.map { #","mid":"\#($0)""# } ?? ""
    let items = list.map { #"{"candidate":\#(JSONValue.string($0).jsonText),"sdpMid":"0","sdpMLineIndex":0}"# }
    return #"{"v":1,"type":"CANDIDATES","sid":"\#(sid)","to":"\#(to)"\#(midPart),"body":{"candidates":[\#(items.joined(separator: ","))]}}"#
}

func end(sid: String, to: String, reason: String = "hangup", mid: String? = nil) -> String {
    let midPart = mid.map { #","mid":"\#($0)""# } ?? ""
    return #"{"v":1,"type":"END","sid":"\#(sid)","to":"\#(to)"\#(midPart),"body":{"reason":"\#(reason)"}}"#
}

extension OutboundMessage {
    var json: JSONValue {
        guard let value = try? JSONParser.parse(payload) else {
            XCTFail("gateway produced invalid JSON: \(String(decoding: payload, as: UTF8.self))")
            return .null
        }
        return value
    }
    var text: String { String(decoding: payload, as: UTF8.self) }
}

/// Parses JSON text in tests (fails the test if invalid).
func j(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
    do { return try JSONParser.parse(Array(text.utf8)) } catch {
        XCTFail("bad test JSON: \(error)", file: file, line: line)
        return .null
    }
}

/// The expected error STATUS object, in the gateway's field order.
func errorStatus(_ error: SignalingErrorCode, _ message: String, mid: JSONValue? = nil, sid: String? = nil, retryAfterMs: Int? = nil) -> JSONValue {
    var m: [(String, JSONValue)] = [("v", 1), ("type", "STATUS"), ("from", "_gw")]
    if let mid { m.append(("mid", mid)) }
    if let sid { m.append(("sid", .string(sid))) }
    m.append(("code", .number(JSONNumber(error.code))))
    m.append(("error", .string(error.rawValue)))
    m.append(("message", .string(message)))
    if let retryAfterMs { m.append(("retryAfterMs", .number(JSONNumber(retryAfterMs)))) }
    return .object(m)
}

/// Deterministic PRNG for randomized tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
