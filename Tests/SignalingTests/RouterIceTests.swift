import XCTest
@testable import Signaling

final class RouterIceTests: XCTestCase {
    let request = #"{"v":1,"type":"ICE_CONFIG_REQUEST","mid":"ice-1","body":{}}"#

    func testIceConfigReplyWithMidAndNoSeparateStatus() {
        let h = Harness()
        let out = h.up("viewer-1", request, correlation: [4, 2])
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out[0].topic, "rtc/v1/down/viewer-1")
        XCTAssertEqual(out[0].correlationData, [4, 2])
        XCTAssertEqual(out[0].text, #"{"v":1,"type":"ICE_CONFIG","from":"_gw","mid":"ice-1","body":{"iceServers":[{"urls":["stun:gw.local:3478"]},{"urls":["turn:gw.local:3478?transport=udp","turn:gw.local:3478?transport=tcp"],"username":"1700003600:viewer-1","credential":"cred-1"}],"ttl":3600,"iceTransportPolicy":"all"}}"#)
        XCTAssertEqual(h.minter.calls.first?.clientId, "viewer-1")
        XCTAssertEqual(h.minter.calls.first?.unixNow, 1_700_000_000)
        XCTAssertEqual(h.minter.calls.first?.ttl, 3600)
        XCTAssertEqual(h.router.clients["viewer-1"]?.iceExpiryUnix, 1_700_003_600)
        XCTAssertEqual(h.router.counters.iceConfigsIssued, 1)
        XCTAssertEqual(h.router.counters.replies, 1)
    }

    func testRelayOnlyClientGetsRelayPolicyAndNoMidMeansNoMid() {
        let h = Harness()
        let out = h.up("ro-viewer", #"{"v":1,"type":"ICE_CONFIG_REQUEST","body":{}}"#)
        XCTAssertNil(out[0].json["mid"])
        XCTAssertEqual(out[0].json["body"]?["iceTransportPolicy"], "relay")
    }

    func testWithoutSecretOnlyStun() {
        let h = Harness()
        h.minter.enabled = false
        let out = h.up("viewer-1", request)
        XCTAssertEqual(out[0].json["body"], j(#"{"iceServers":[{"urls":["stun:gw.local:3478"]}],"ttl":3600,"iceTransportPolicy":"all"}"#))
        XCTAssertNil(h.router.clients["viewer-1"]?.iceExpiryUnix)
        XCTAssertEqual(h.router.counters.iceWithoutCredentials, 1)
        // Without TURN URLs the minter is not asked.
        let h2 = Harness(iceServers: IceServerURLs(stun: [], turn: []))
        XCTAssertEqual(h2.up("viewer-1", request)[0].json["body"]?["iceServers"], .array([]))
        XCTAssertTrue(h2.minter.calls.isEmpty)
    }

    func testIceRequestIsForbiddenForUnprovisioned() {
        let h = Harness()
        XCTAssertEqual(h.up("ghost", request)[0].json, errorStatus(.forbidden, "client 'ghost' is not provisioned", mid: "ice-1"))
        XCTAssertTrue(h.minter.calls.isEmpty)
    }

    func testDefaultLead() {
        var c = SignalingConfig()
        XCTAssertEqual(c.effectiveIceRefreshLeadSeconds, 300)
        c.iceTTLSeconds = 600
        XCTAssertEqual(c.effectiveIceRefreshLeadSeconds, 120)
        c.iceRefreshLeadSeconds = 7
        XCTAssertEqual(c.effectiveIceRefreshLeadSeconds, 7)
    }

    func testPushBeforeExpiryOnlyWithLiveSession() {
        let h = Harness()
        h.online("cam-1", "viewer-1", "viewer-2")
        h.up("viewer-1", request)
        h.up("viewer-2", request)  // no session: never pushed
        h.up("cam-1", request)
        h.establish("viewer-1", "cam-1", sid: "s")
        // Keep the session from idling out: advance in steps with traffic.
        for _ in 0..<3 {
            h.advance(ms: 1_000_000)
            h.up("cam-1", candidates(sid: "s", to: "viewer-1"))
        }
        h.advance(ms: 299_999)  // unix = +3299 s: expiry 3600 - lead 300 = 3300 not yet reached
        XCTAssertTrue(h.tick().isEmpty)
        h.advance(ms: 1000)
        let out = h.tick()
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/cam-1", "rtc/v1/down/viewer-1"])
        XCTAssertNil(out[1].json["mid"])
        XCTAssertEqual(out[1].json["type"], "ICE_CONFIG")
        XCTAssertEqual(out[1].json["body"]?["iceServers"]?.arrayValue?[1]["username"], "1700006900:viewer-1")
        XCTAssertEqual(h.router.clients["viewer-1"]?.iceExpiryUnix, 1_700_006_900)
        XCTAssertEqual(h.router.counters.icePushes, 2)
        XCTAssertTrue(h.tick().isEmpty, "not pushed again")
    }

    func testPushWithoutCredentialStopsRetrying() {
        let h = Harness()
        h.online("cam-1", "viewer-1")
        h.up("viewer-1", request)
        h.establish("viewer-1", "cam-1", sid: "s")
        h.minter.enabled = false
        h.advance(ms: 3_400_000)
        XCTAssertEqual(h.tick().count, 1)
        XCTAssertTrue(h.tick().isEmpty)
    }
}
