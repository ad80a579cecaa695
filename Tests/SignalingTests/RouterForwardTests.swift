import JSON
import XCTest
@testable import Signaling

/// What the peer receives: from stamped, to/mid removed, unknown fields kept, relay-only filtering.
final class RouterForwardTests: XCTestCase {
    var h: Harness!

    override func setUp() {
        h = Harness()
        h.online("cam-1", "viewer-1", "ro-viewer")
    }

    func testForgedFromOverwrittenToAndMidRemovedUnknownFieldsKept() {
        let json = #"{"from":"cam-2","v":1,"type":"OFFER","sid":"s1","to":"cam-1","mid":"m1","seq":3.0,"x-ext":{"a":[1,2]},"body":{"sdp":"v=0\r\n","iceRestart":false,"extra":"k"}}"#
        let out = h.up("viewer-1", json)
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out[0].topic, "rtc/v1/down/cam-1")
        XCTAssertEqual(out[0].text, #"{"v":1,"type":"OFFER","from":"viewer-1","sid":"s1","seq":3.0,"x-ext":{"a":[1,2]},"body":{"sdp":"v=0\r\n","iceRestart":false,"extra":"k"}}"#)
        XCTAssertNil(out[0].correlationData)
        XCTAssertEqual(h.router.counters.forwarded, 1)
    }

    func testAllTypesForwarded() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        let a = h.up("cam-1", answer(sid: "s", to: "viewer-1"))
        XCTAssertEqual(a.map(\.topic), ["rtc/v1/down/viewer-1"])
        XCTAssertEqual(a[0].json["from"], "cam-1")
        XCTAssertEqual(a[0].json["type"], "ANSWER")
        let c = h.up("viewer-1", candidates(sid: "s", to: "cam-1"))
        XCTAssertEqual(c[0].json["body"]?["candidates"]?.arrayValue?.count, 1, "no filtering without relay-only")
        let e = h.up("cam-1", end(sid: "s", to: "viewer-1", reason: "busy"))
        XCTAssertEqual(e[0].json, j(#"{"v":1,"type":"END","from":"cam-1","sid":"s","body":{"reason":"busy"}}"#))
        XCTAssertEqual(h.router.counters.forwarded, 4)
    }

    func testRelayOnlyFiltersCandidatesBothDirections() {
        let host = "candidate:1 1 udp 2122260223 192.168.1.20 54400 typ host generation 0"
        let srflx = "candidate:2 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 192.168.1.20 rport 54400"
        let relay = "candidate:3 1 udp 41885439 198.51.100.9 61000 typ relay raddr 203.0.113.7 rport 54400"
        h.up("cam-1", offer(sid: "s", to: "ro-viewer"))
        // Device → relay-only viewer.
        var out = h.up("cam-1", candidates(sid: "s", to: "ro-viewer", [host, srflx, relay]))
        XCTAssertEqual(out[0].json["body"], j(#"{"candidates":[{"candidate":"candidate:3 1 udp 41885439 198.51.100.9 61000 typ relay raddr 0.0.0.0 rport 0","sdpMid":"0","sdpMLineIndex":0}]}"#))
        // Relay-only viewer → device: also filtered.
        out = h.up("ro-viewer", candidates(sid: "s", to: "cam-1", [host]))
        XCTAssertEqual(out[0].json["body"], j(#"{"candidates":[]}"#), "empty list still forwarded")
        // done is kept.
        out = h.up("cam-1", #"{"v":1,"type":"CANDIDATES","sid":"s","to":"ro-viewer","body":{"candidates":[],"done":true}}"#)
        XCTAssertEqual(out[0].json["body"], j(#"{"candidates":[],"done":true}"#))
    }

    func testRelayOnlyFiltersSDPInOfferAndAnswer() {
        let sdp = "v=0\r\nc=IN IP4 192.168.1.20\r\na=candidate:1 1 udp 2122260223 192.168.1.20 54400 typ host\r\na=candidate:3 1 udp 41885439 198.51.100.9 61000 typ relay raddr 192.168.1.20 rport 54400\r\n"
        let filtered = "v=0\r\nc=IN IP4 0.0.0.0\r\na=candidate:3 1 udp 41885439 198.51.100.9 61000 typ relay raddr 0.0.0.0 rport 0\r\n"
        var out = h.up("ro-viewer", offer(sid: "s", to: "cam-1", sdp: sdp))
        XCTAssertEqual(out[0].json["body"]?["sdp"]?.stringValue, filtered)
        out = h.up("cam-1", #"{"v":1,"type":"ANSWER","sid":"s","to":"ro-viewer","body":{"sdp":\#(JSONValue.string(sdp).jsonText)}}"#)
        XCTAssertEqual(out[0].json["body"]?["sdp"]?.stringValue, filtered)
        // Not relay-only: SDP untouched.
        out = h.up("viewer-1", offer(sid: "t", to: "cam-1", sdp: sdp))
        XCTAssertEqual(out[0].json["body"]?["sdp"]?.stringValue, sdp)
    }

    func testRelayOnlyFromPolicyUpdateAppliesToLaterMessages() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        var clients = Harness.defaultClients
        clients[0].relayOnly = true  // cam-1
        var out: [OutboundMessage] = []
        h.router.updatePolicy(SignalingPolicy(clients: clients), into: &out)
        XCTAssertTrue(out.isEmpty, "still allowed: session kept")
        let c = h.up("viewer-1", candidates(sid: "s", to: "cam-1"))
        XCTAssertEqual(c[0].json["body"]?["candidates"], .array([]))
    }
}
