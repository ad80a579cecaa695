import JSON
import XCTest
@testable import Signaling

/// Unreadable payloads, envelope validation, STATUS format, correlation data, topics.
final class RouterEnvelopeTests: XCTestCase {
    var h: Harness!

    override func setUp() {
        h = Harness()
        h.online("cam-1", "viewer-1")
    }

    /// Sends `json` from viewer-1 and expects exactly one STATUS on its own down topic.
    private func expectStatus(_ json: String, _ expected: JSONValue, file: StaticString = #filePath, line: UInt = #line) {
        let out = h.up("viewer-1", json)
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/viewer-1"], file: file, line: line)
        XCTAssertEqual(out.first?.json, expected, out.first?.text ?? "", file: file, line: line)
    }

    func testSubscriptionsAndCustomPrefix() {
        XCTAssertEqual(h.router.subscriptions, ["$share/rtcgate/rtc/v1/up/+", "rtc/v1/status/+"])
        var config = SignalingConfig()
        config.topicPrefix = "site/a"
        let h2 = Harness(config: config)
        XCTAssertEqual(h2.router.subscriptions, ["$share/rtcgate/site/a/up/+", "site/a/status/+"])
        h2.raw("site/a/status/cam-1", Array(#"{"state":"online"}"#.utf8))
        XCTAssertTrue(h2.router.isOnline("cam-1"))
        XCTAssertEqual(h2.router.topics.down("cam-1"), "site/a/down/cam-1")
    }

    func testTooLargeIsNotParsedAndHasNoMid() {
        var config = SignalingConfig()
        config.maxPayloadBytes = 100
        let h = Harness(config: config)
        let json = offer(sid: "s", to: "cam-1", mid: "m1", sdp: String(repeating: "x", count: 200))
        let out = h.up("viewer-1", json, correlation: [9])
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out[0].json, errorStatus(.tooLarge, "payload of \(json.utf8.count) bytes exceeds the limit of 100 bytes"))
        XCTAssertEqual(out[0].correlationData, [9])
        XCTAssertEqual(h.router.counters.refusals.tooLarge, 1)
        // Exactly at the limit is accepted for parsing.
        let ok = h.up("viewer-1", #"{"v":1,"type":"ICE_CONFIG_REQUEST","body":{}}"# + String(repeating: " ", count: 100 - 45))
        XCTAssertEqual(ok.first?.json["type"], "ICE_CONFIG")
    }

    func testMalformedJSONHasNoMid() {
        expectStatus(#"{"v":1,"mid":"m1","#, errorStatus(.badRequest, "invalid JSON: expected a string key in object, found end of input at byte 18"))
        expectStatus("[1,2]", errorStatus(.badRequest, "payload must be a JSON object"))
        expectStatus("", errorStatus(.badRequest, "invalid JSON: unexpected end of input, expected a value at byte 0"))
        XCTAssertEqual(h.router.counters.refusals.badRequest, 3)
    }

    func testEnvelopeErrorsSayWhatIsWrong() {
        let cases: [(String, String, JSONValue?, String?)] = [
            (#"{"v":2,"type":"OFFER","mid":"m","body":{}}"#, "field 'v' must be the number 1", "m", nil),
            (#"{"v":"1","type":"OFFER","body":{}}"#, "field 'v' must be the number 1", nil, nil),
            (#"{"v":1.0,"type":"OFFER","body":{}}"#, "field 'v' must be the number 1", nil, nil),
            (#"{"type":"OFFER","body":{}}"#, "field 'v' must be the number 1", nil, nil),
            (#"{"v":1,"body":{}}"#, "field 'type' must be a string", nil, nil),
            (#"{"v":1,"type":"HELLO","body":{},"mid":7}"#, "unknown type 'HELLO'", 7, nil),
            (#"{"v":1,"type":"STATUS","body":{}}"#, "type 'STATUS' is sent by rtcgate only", nil, nil),
            (#"{"v":1,"type":"PEER_STATUS","body":{}}"#, "type 'PEER_STATUS' is sent by rtcgate only", nil, nil),
            (#"{"v":1,"type":"GO_AWAY","body":{}}"#, "type 'GO_AWAY' is sent by rtcgate only", nil, nil),
            (#"{"v":1,"type":"ICE_CONFIG","body":{}}"#, "type 'ICE_CONFIG' is sent by rtcgate only", nil, nil),
            (#"{"v":1,"type":"OFFER","to":"cam-1","body":{"sdp":"x"}}"#, "field 'sid' must be a string of 1-64 bytes", nil, nil),
            (#"{"v":1,"type":"OFFER","sid":"","to":"cam-1","body":{"sdp":"x"}}"#, "field 'sid' must be a string of 1-64 bytes", nil, nil),
            (#"{"v":1,"type":"OFFER","sid":"\#(String(repeating: "s", count: 65))","to":"cam-1","body":{"sdp":"x"}}"#, "field 'sid' must be a string of 1-64 bytes", nil, nil),
            (#"{"v":1,"type":"OFFER","sid":5,"to":"cam-1","body":{"sdp":"x"}}"#, "field 'sid' must be a string of 1-64 bytes", nil, nil),
            (#"{"v":1,"type":"ANSWER","sid":"s","body":{"sdp":"x"}}"#, "field 'to' must be a client id (1-64 bytes of A-Z a-z 0-9 . _ -)", nil, "s"),
            (#"{"v":1,"type":"ANSWER","sid":"s","to":"a/b","body":{"sdp":"x"}}"#, "field 'to' must be a client id (1-64 bytes of A-Z a-z 0-9 . _ -)", nil, "s"),
            (#"{"v":1,"type":"END","sid":"s","to":"viewer-1","body":{"reason":"hangup"}}"#, "field 'to' must name another client", nil, "s"),
            (#"{"v":1,"type":"OFFER","sid":"s","to":"cam-1","seq":"1","body":{"sdp":"x"}}"#, "field 'seq' must be a number", nil, "s"),
            (#"{"v":1,"type":"OFFER","sid":"s","to":"cam-1"}"#, "field 'body' must be an object", nil, "s"),
            (#"{"v":1,"type":"ICE_CONFIG_REQUEST","body":[]}"#, "field 'body' must be an object", nil, nil),
            (#"{"v":1,"type":"OFFER","sid":"s","to":"cam-1","body":{}}"#, "field 'body.sdp' must be a non-empty string", nil, "s"),
            (#"{"v":1,"type":"ANSWER","sid":"s","to":"cam-1","body":{"sdp":""}}"#, "field 'body.sdp' must be a non-empty string", nil, "s"),
            (#"{"v":1,"type":"OFFER","sid":"s","to":"cam-1","body":{"sdp":"x","iceRestart":1}}"#, "field 'body.iceRestart' must be a boolean", nil, "s"),
            (#"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","body":{}}"#, "field 'body.candidates' must be an array", nil, "s"),
            (#"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","body":{"candidates":[1]}}"#, "field 'body.candidates[0]' must be an object", nil, "s"),
            (#"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","body":{"candidates":[{"candidate":""},{"sdpMid":"0"}]}}"#, "field 'body.candidates[1].candidate' must be a string", nil, "s"),
            (#"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","body":{"candidates":[{"candidate":"","sdpMid":0}]}}"#, "field 'body.candidates[0].sdpMid' must be a string or null", nil, "s"),
            (#"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","body":{"candidates":[{"candidate":"","sdpMLineIndex":-1}]}}"#, "field 'body.candidates[0].sdpMLineIndex' must be a non-negative integer or null", nil, "s"),
            (#"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","body":{"candidates":[],"done":"yes"}}"#, "field 'body.done' must be a boolean", nil, "s"),
            (#"{"v":1,"type":"END","sid":"s","to":"cam-1","body":{}}"#, "field 'body.reason' must be one of hangup, busy, declined, timeout, ice-failed, replaced, peer-offline, policy, resources, shutdown", nil, "s"),
            (#"{"v":1,"type":"END","sid":"s","to":"cam-1","body":{"reason":"bored"}}"#, "field 'body.reason' must be one of hangup, busy, declined, timeout, ice-failed, replaced, peer-offline, policy, resources, shutdown", nil, "s"),
            (#"{"v":1,"type":"OFFER","mid":{"x":1},"sid":"s","to":"cam-1","body":{"sdp":"x"}}"#, "field 'mid' must be a string of at most 64 bytes or a number", nil, "s"),
            (#"{"v":1,"type":"OFFER","mid":"\#(String(repeating: "m", count: 65))","body":{}}"#, "field 'mid' must be a string of at most 64 bytes or a number", nil, nil),
        ]
        for (json, message, mid, sid) in cases {
            expectStatus(json, errorStatus(.badRequest, message, mid: mid, sid: sid))
        }
        XCTAssertEqual(h.router.counters.refusals.badRequest, cases.count)
        XCTAssertEqual(h.router.counters.forwarded, 0)
    }

    func testValidOptionalShapesAreAccepted() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        let json = #"{"v":1,"type":"CANDIDATES","sid":"s","to":"cam-1","mid":"","seq":3,"body":{"candidates":[{"candidate":"","sdpMid":null,"sdpMLineIndex":null},{"candidate":"x"}],"done":true}}"#
        let out = h.up("viewer-1", json)
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/cam-1", "rtc/v1/down/viewer-1"])
        XCTAssertEqual(out[1].json, j(#"{"v":1,"type":"STATUS","from":"_gw","mid":"","sid":"s","code":200}"#))
    }

    func testSuccessStatusOnlyWithMidAndCorrelationEchoed() {
        let noMid = h.up("viewer-1", offer(sid: "s1", to: "cam-1"), correlation: [1, 2])
        XCTAssertEqual(noMid.map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertNil(noMid[0].correlationData, "forwarded messages carry no correlation data")
        let withMid = h.up("viewer-1", offer(sid: "s2", to: "cam-1", mid: "m-9"), correlation: [1, 2])
        XCTAssertEqual(withMid.count, 2)
        XCTAssertNil(withMid[0].correlationData)
        XCTAssertEqual(withMid[1].topic, "rtc/v1/down/viewer-1")
        XCTAssertEqual(withMid[1].json, j(#"{"v":1,"type":"STATUS","from":"_gw","mid":"m-9","sid":"s2","code":200}"#))
        XCTAssertEqual(withMid[1].correlationData, [1, 2])
        XCTAssertEqual(h.router.counters.replies, 1)
    }

    func testNumericMidEchoedWithOriginalText() {
        let out = h.up("viewer-1", #"{"v":1,"type":"OFFER","sid":"s","to":"cam-1","mid":1.50,"body":{"sdp":"v=0"}}"#)
        XCTAssertEqual(out.last?.text, #"{"v":1,"type":"STATUS","from":"_gw","mid":1.50,"sid":"s","code":200}"#)
    }

    func testErrorWithoutMidIsStillSent() {
        let out = h.up("viewer-1", answer(sid: "nope", to: "cam-1"), correlation: [7])
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out[0].json, errorStatus(.notFound, "no such session", sid: "nope"))
        XCTAssertEqual(out[0].correlationData, [7])
    }

    func testIgnoredTopics() {
        XCTAssertTrue(h.raw("rtc/v1/down/cam-1", Array("{}".utf8)).isEmpty)
        XCTAssertTrue(h.raw("other/up/cam-1", Array("{}".utf8)).isEmpty)
        XCTAssertTrue(h.raw("rtc/v1/up/", Array("{}".utf8)).isEmpty)
        XCTAssertTrue(h.raw("rtc/v1/up/a/b", Array("{}".utf8)).isEmpty)
        XCTAssertTrue(h.raw("rtc/v1/up/+", Array("{}".utf8)).isEmpty)
        XCTAssertTrue(h.raw("rtc/v1/status/a#", Array("{}".utf8)).isEmpty)
        XCTAssertEqual(h.router.counters.ignoredTopics, 6)
        XCTAssertEqual(h.router.counters.messagesIn, 0)
    }
}
