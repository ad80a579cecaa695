import JSON
import XCTest
@testable import Signaling

/// Authorization and the pinned order of checks.
final class RouterCheckOrderTests: XCTestCase {
    var h: Harness!

    override func setUp() {
        h = Harness()
        h.online("cam-1", "viewer-1", "outsider", "friend")
    }

    private func only(_ out: [OutboundMessage], file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        XCTAssertEqual(out.count, 1, out.map(\.text).joined(separator: "\n"), file: file, line: line)
        return out.first?.json
    }

    func testSenderNotProvisionedIsForbidden() {
        let out = h.up("stranger", offer(sid: "s", to: "cam-1", mid: "m"))
        XCTAssertEqual(out[0].topic, "rtc/v1/down/stranger")
        XCTAssertEqual(only(out), errorStatus(.forbidden, "client 'stranger' is not provisioned", mid: "m", sid: "s"))
    }

    func testReservedSenderIsForbidden() {
        XCTAssertEqual(only(h.up("_gw", offer(sid: "s", to: "cam-1"))),
                       errorStatus(.forbidden, "client ids starting with '_' are reserved", sid: "s"))
        XCTAssertEqual(only(h.up("_x", #"{"v":1,"type":"ICE_CONFIG_REQUEST","body":{}}"#)),
                       errorStatus(.forbidden, "client ids starting with '_' are reserved"))
    }

    func testReservedTargetIsForbidden() {
        XCTAssertEqual(only(h.up("viewer-1", offer(sid: "s", to: "_gw", mid: "m"))),
                       errorStatus(.forbidden, "client ids starting with '_' are reserved", mid: "m", sid: "s"))
    }

    func testTargetNotProvisionedIsNotFound() {
        XCTAssertEqual(only(h.up("viewer-1", offer(sid: "s", to: "ghost"))),
                       errorStatus(.notFound, "client 'ghost' is not provisioned", sid: "s"))
    }

    func testPairNotAllowedIsForbidden() {
        XCTAssertEqual(only(h.up("outsider", offer(sid: "s", to: "cam-1"))),
                       errorStatus(.forbidden, "'outsider' may not signal 'cam-1'", sid: "s"))
        // friend lists cam-1 in allow: permitted both ways.
        XCTAssertEqual(h.up("friend", offer(sid: "s", to: "cam-1")).map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertEqual(h.up("cam-1", answer(sid: "s", to: "friend")).map(\.topic), ["rtc/v1/down/friend"])
    }

    func testOfflineTargetIsPeerOffline() {
        XCTAssertEqual(only(h.up("viewer-1", offer(sid: "s", to: "cam-2", mid: "m"))),
                       errorStatus(.peerOffline, "client 'cam-2' is offline", mid: "m", sid: "s"))
        XCTAssertEqual(h.router.counters.refusals.peerOffline, 1)
        XCTAssertEqual(h.router.liveSessionCount, 0)
    }

    func testOrderSizeBeforeJSONBeforeSender() {
        var config = SignalingConfig()
        config.maxPayloadBytes = 10
        let h = Harness(config: config)
        // Unprovisioned sender with an oversized invalid payload: size wins.
        XCTAssertEqual(h.up("stranger", "{{{{{{{{{{{{{{{{{{{{")[0].json["error"], "too-large")
        // Unprovisioned sender with invalid JSON: bad-request wins over forbidden.
        XCTAssertEqual(self.h.up("stranger", "{")[0].json["error"], "bad-request")
        // Unprovisioned sender with a bad envelope: bad-request.
        XCTAssertEqual(self.h.up("stranger", #"{"v":1,"type":"NOPE","body":{}}"#)[0].json["error"], "bad-request")
    }

    func testOrderSenderBeforeTarget() {
        // Sender unprovisioned and target unprovisioned: forbidden (sender first).
        XCTAssertEqual(h.up("stranger", offer(sid: "s", to: "ghost"))[0].json["error"], "forbidden")
        // Target reserved beats not-found for other reasons.
        XCTAssertEqual(h.up("viewer-1", offer(sid: "s", to: "_ghost"))[0].json["error"], "forbidden")
    }

    func testOrderNotFoundBeforePolicyBeforeOffline() {
        // cam-2 is offline and not allowed for outsider: forbidden (policy) before peer-offline.
        XCTAssertEqual(h.up("outsider", offer(sid: "s", to: "cam-2"))[0].json["error"], "forbidden")
        // Offline before rate-limit: exhaust the bucket, then an offline target still says peer-offline.
        for i in 0..<10 { h.up("viewer-1", offer(sid: "r\(i)", to: "cam-1")) }
        XCTAssertEqual(h.up("viewer-1", offer(sid: "x", to: "cam-2"))[0].json["error"], "peer-offline")
        XCTAssertEqual(h.up("viewer-1", offer(sid: "x", to: "cam-1"))[0].json["error"], "rate-limited")
    }

    func testOrderRateLimitBeforeSessionChecks() {
        for i in 0..<10 { h.up("viewer-1", answer(sid: "none\(i)", to: "cam-1")) }  // each: not-found, token used
        let out = h.up("viewer-1", answer(sid: "none", to: "cam-1"))
        XCTAssertEqual(out[0].json["error"], "rate-limited")
        XCTAssertEqual(h.router.counters.refusals.notFound, 10)
    }

    func testEndToOfflinePeerIsPeerOffline() {
        XCTAssertEqual(h.up("viewer-1", end(sid: "s", to: "cam-2"))[0].json["error"], "peer-offline")
    }
}
