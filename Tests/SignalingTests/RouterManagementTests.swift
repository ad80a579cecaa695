import JSON
import XCTest
@testable import Signaling

/// What the control socket asks of the router: session listings, ending one session, draining.
final class RouterManagementTests: XCTestCase {
    private var h: Harness!

    private func gatewayEnd(_ sid: String, _ reason: String, peer: String) -> JSONValue {
        ["v": 1, "type": "END", "from": "_gw", "sid": .string(sid), "body": ["reason": .string(reason), "peer": .string(peer)]]
    }

    override func setUp() {
        h = Harness()
        h.online("cam-1", "viewer-1", "viewer-2")
    }

    func testSessionInfosListLiveSessionsOldestFirst() {
        h.establish("viewer-1", "cam-1", sid: "a")
        h.advance(ms: 1_500)
        _ = h.up("viewer-2", offer(sid: "b", to: "cam-1"))
        h.advance(ms: 500)
        let infos = h.router.sessionInfos(clock: h.clock)
        XCTAssertEqual(infos.map(\.sid), ["a", "b"])
        XCTAssertEqual(infos[0].a, "cam-1")
        XCTAssertEqual(infos[0].b, "viewer-1")
        XCTAssertEqual(infos[0].state, "answered")
        XCTAssertEqual(infos[0].ageMs, 2_000)
        XCTAssertEqual(infos[1].state, "offered")
        XCTAssertEqual(infos[1].offerer, "viewer-2")
        XCTAssertEqual(infos[1].idleMs, 500)
    }

    func testEndSessionTellsBothPartiesAndForgetsIt() {
        h.establish("viewer-1", "cam-1", sid: "a")
        var out: [OutboundMessage] = []
        XCTAssertFalse(h.router.endSession(sid: "zz", between: "cam-1", and: "viewer-1", reason: .policy, into: &out))
        XCTAssertTrue(out.isEmpty)
        XCTAssertTrue(h.router.endSession(sid: "a", between: "viewer-1", and: "cam-1", reason: .policy, into: &out))
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/cam-1", "rtc/v1/down/viewer-1"])
        XCTAssertEqual(out[0].json, gatewayEnd("a", "policy", peer: "viewer-1"))
        XCTAssertEqual(h.router.liveSessionCount, 0)
    }

    func testDrainSaysGoAwayRefusesNewSessionsAndKeepsLiveOnes() {
        h.establish("viewer-1", "cam-1", sid: "a")
        var out: [OutboundMessage] = []
        h.router.drain(graceSec: 30, into: &out)
        let goAway: JSONValue = ["v": 1, "type": "GO_AWAY", "from": "_gw", "body": ["graceSec": 30]]
        XCTAssertEqual(out.map(\.json), [goAway, goAway])
        XCTAssertTrue(h.router.isDraining)
        XCTAssertEqual(h.router.liveSessionCount, 1, "live calls continue")
        XCTAssertEqual(h.up("viewer-2", offer(sid: "n", to: "cam-1"))[0].json["error"], "resources")
        // The live session still carries its messages.
        let forwarded = h.up("viewer-1", #"{"v":1,"type":"END","sid":"a","to":"cam-1","body":{"reason":"hangup"}}"#)
        XCTAssertEqual(forwarded.map(\.topic), ["rtc/v1/down/cam-1"])
    }
}
