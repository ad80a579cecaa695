import XCTest
@testable import Signaling

final class RouterRateLimitTests: XCTestCase {
    var h: Harness!

    override func setUp() {
        var config = SignalingConfig()
        config.maxViewersPerDevice = 100  // isolate rate limits from session limits
        h = Harness(config: config)
        h.online("cam-1", "viewer-1", "viewer-2")
    }

    func testSdpBucketSharedByOfferAndAnswer() {
        for i in 0..<5 { XCTAssertEqual(h.up("viewer-1", offer(sid: "s\(i)", to: "cam-1")).count, 1) }
        h.up("cam-1", offer(sid: "c", to: "viewer-1"))
        for _ in 0..<5 { XCTAssertEqual(h.up("viewer-1", answer(sid: "c", to: "cam-1")).count, 1) }
        let out = h.up("viewer-1", answer(sid: "c", to: "cam-1", mid: "m"))
        XCTAssertEqual(out.count, 1, "refused message is not forwarded")
        XCTAssertEqual(out[0].json, errorStatus(.rateLimited, "too many OFFER/ANSWER messages", mid: "m", sid: "c", retryAfterMs: 200))
        XCTAssertEqual(h.router.counters.refusals.rateLimited, 1)
        // Refill: 5/s → one token after 200 ms.
        h.advance(ms: 199)
        XCTAssertEqual(h.up("viewer-1", answer(sid: "c", to: "cam-1"))[0].json["retryAfterMs"], 1)
        h.advance(ms: 1)
        XCTAssertEqual(h.up("viewer-1", answer(sid: "c", to: "cam-1"))[0].topic, "rtc/v1/down/cam-1")
    }

    func testCandidateBucketIsSeparate() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        for _ in 0..<40 { XCTAssertEqual(h.up("viewer-1", candidates(sid: "s", to: "cam-1"))[0].topic, "rtc/v1/down/cam-1") }
        XCTAssertEqual(h.up("viewer-1", candidates(sid: "s", to: "cam-1"))[0].json,
                       errorStatus(.rateLimited, "too many CANDIDATES messages", sid: "s", retryAfterMs: 50))
        // SDP bucket unaffected; END and ICE_CONFIG_REQUEST unlimited.
        XCTAssertEqual(h.up("viewer-1", offer(sid: "s", to: "cam-1"))[0].topic, "rtc/v1/down/cam-1")
        for _ in 0..<50 { XCTAssertEqual(h.up("viewer-1", #"{"v":1,"type":"ICE_CONFIG_REQUEST","body":{}}"#)[0].json["type"], "ICE_CONFIG") }
        XCTAssertEqual(h.up("viewer-1", end(sid: "s", to: "cam-1"))[0].topic, "rtc/v1/down/cam-1")
    }

    func testOneClientsFloodDoesNotAffectOthers() {
        for i in 0..<30 { h.up("viewer-1", offer(sid: "f\(i)", to: "cam-1")) }
        XCTAssertEqual(h.up("viewer-2", offer(sid: "ok", to: "cam-1"))[0].topic, "rtc/v1/down/cam-1")
    }
}
