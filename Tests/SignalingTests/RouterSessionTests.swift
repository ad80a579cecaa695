import JSON
import XCTest
@testable import Signaling

/// Session lifecycle, renegotiation, limits, timeouts, policy updates, shutdown.
final class RouterSessionTests: XCTestCase {
    var h: Harness!

    override func setUp() {
        h = Harness()
        h.online("cam-1", "cam-2", "viewer-1", "viewer-2", "viewer-3", "viewer-4", "viewer-5")
    }

    private func gatewayEnd(_ sid: String, _ reason: String, peer: String) -> JSONValue {
        ["v": 1, "type": "END", "from": "_gw", "sid": .string(sid), "body": ["reason": .string(reason), "peer": .string(peer)]]
    }

    func testLifecycle() {
        h.establish("viewer-1", "cam-1", sid: "s")
        XCTAssertEqual(h.router.liveSessionCount, 1)
        XCTAssertEqual(h.router.sessions[SessionKey("cam-1", "viewer-1", sid: "s")]?.state, .answered)
        h.up("cam-1", candidates(sid: "s", to: "viewer-1"))
        XCTAssertEqual(h.up("viewer-1", end(sid: "s", to: "cam-1", reason: "hangup")).map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertEqual(h.router.liveSessionCount, 0)
        XCTAssertEqual(h.router.counters.sessionsStarted, 1)
        XCTAssertEqual(h.router.counters.sessionsEnded.hangup, 1)
        // After END the session is gone.
        XCTAssertEqual(h.up("cam-1", candidates(sid: "s", to: "viewer-1"))[0].json, errorStatus(.notFound, "no such session", sid: "s"))
        XCTAssertEqual(h.up("cam-1", end(sid: "s", to: "viewer-1"))[0].json, errorStatus(.notFound, "no such session", sid: "s"))
    }

    func testSessionIsKeyedByPairAndSid() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        // Same sid between another pair is a different session; wrong pair is not-found.
        XCTAssertEqual(h.up("viewer-2", answer(sid: "s", to: "cam-1"))[0].json["error"], "not-found")
        XCTAssertEqual(h.up("viewer-2", offer(sid: "s", to: "cam-1")).map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertEqual(h.router.liveSessionCount, 2)
    }

    func testRenegotiationEitherDirection() {
        h.establish("viewer-1", "cam-1", sid: "s")
        // Device re-offers on the same sid: renegotiation, not a new session.
        XCTAssertEqual(h.up("cam-1", offer(sid: "s", to: "viewer-1", mid: "r1")).count, 2)
        XCTAssertEqual(h.router.liveSessionCount, 1)
        XCTAssertEqual(h.router.counters.sessionsStarted, 1)
        XCTAssertEqual(h.router.counters.renegotiations, 1)
        XCTAssertEqual(h.up("viewer-1", answer(sid: "s", to: "cam-1")).map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertEqual(h.router.sessions[SessionKey("cam-1", "viewer-1", sid: "s")]?.state, .answered)
    }

    func testAnswerFromOffererDoesNotAnswer() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        h.up("viewer-1", answer(sid: "s", to: "cam-1"))
        XCTAssertEqual(h.router.sessions[SessionKey("cam-1", "viewer-1", sid: "s")]?.state, .offered)
        h.advance(ms: 30_000)
        XCTAssertEqual(h.tick().count, 2, "still times out as unanswered")
    }

    func testPerDeviceLimitCountsBothSides() {
        var config = SignalingConfig()
        config.maxViewersPerDevice = 2
        let h = Harness(config: config)
        h.online("cam-1", "cam-2", "viewer-1", "viewer-2", "viewer-3")
        h.up("viewer-1", offer(sid: "a", to: "cam-1"))
        h.up("cam-1", offer(sid: "b", to: "viewer-2"))  // device as offerer counts too
        XCTAssertEqual(h.up("viewer-3", offer(sid: "c", to: "cam-1", mid: "m"))[0].json,
                       errorStatus(.resources, "device 'cam-1' already has 2 sessions", mid: "m", sid: "c"))
        XCTAssertEqual(h.up("cam-1", offer(sid: "d", to: "viewer-3"))[0].json["error"], "resources")
        // Device-to-device counts against both devices.
        XCTAssertEqual(h.up("cam-2", offer(sid: "e", to: "cam-1"))[0].json["error"], "resources")
        // Renegotiation on an existing session is not limited.
        XCTAssertEqual(h.up("viewer-1", offer(sid: "a", to: "cam-1")).map(\.topic), ["rtc/v1/down/cam-1"])
        // After an END there is room again.
        h.up("viewer-1", end(sid: "a", to: "cam-1"))
        XCTAssertEqual(h.up("viewer-3", offer(sid: "c", to: "cam-1")).map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertEqual(h.router.counters.refusals.resources, 3)
    }

    func testTotalSessionLimit() {
        var config = SignalingConfig()
        config.maxSessions = 2
        let h = Harness(config: config)
        h.online("cam-1", "cam-2", "viewer-1")
        h.up("viewer-1", offer(sid: "a", to: "cam-1"))
        h.up("viewer-1", offer(sid: "b", to: "cam-2"))
        XCTAssertEqual(h.up("viewer-1", offer(sid: "c", to: "cam-2"))[0].json,
                       errorStatus(.resources, "session limit reached (2)", sid: "c"))
        XCTAssertEqual(h.router.liveSessionCount, 2)
    }

    func testOfferTimeout() {
        h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        h.advance(ms: 29_999)
        XCTAssertTrue(h.tick().isEmpty)
        h.up("viewer-1", candidates(sid: "s", to: "cam-1"))  // activity does not extend the offer timeout
        h.advance(ms: 1)
        let out = h.tick()
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/cam-1", "rtc/v1/down/viewer-1"])
        XCTAssertEqual(out[0].json, gatewayEnd("s", "timeout", peer: "viewer-1"))
        XCTAssertEqual(out[1].json, gatewayEnd("s", "timeout", peer: "cam-1"))
        XCTAssertEqual(h.router.liveSessionCount, 0)
        XCTAssertEqual(h.router.counters.sessionsEnded.timeout, 1)
    }

    func testRenegotiationDoesNotRestartOfferTimeout() {
        h.establish("viewer-1", "cam-1", sid: "s")
        h.advance(ms: 20_000)
        h.up("cam-1", offer(sid: "s", to: "viewer-1"))
        h.advance(ms: 40_000)
        XCTAssertTrue(h.tick().isEmpty, "answered session: only the idle timeout applies")
    }

    func testIdleTimeout() {
        h.establish("viewer-1", "cam-1", sid: "s")
        h.advance(ms: 3_000_000)
        h.up("cam-1", candidates(sid: "s", to: "viewer-1"))
        h.advance(ms: 3_599_999)
        XCTAssertTrue(h.tick().isEmpty)
        h.advance(ms: 1)
        let out = h.tick()
        XCTAssertEqual(out.map(\.json), [gatewayEnd("s", "timeout", peer: "viewer-1"), gatewayEnd("s", "timeout", peer: "cam-1")])
    }

    func testPolicyUpdateEndsDisallowedSessions() {
        h.establish("viewer-1", "cam-1", sid: "a")
        h.establish("viewer-2", "cam-1", sid: "b")
        let remaining = Harness.defaultClients.filter { $0.id != "viewer-1" }
        var out: [OutboundMessage] = []
        h.router.updatePolicy(SignalingPolicy(clients: remaining), into: &out)
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/cam-1", "rtc/v1/down/viewer-1"])
        XCTAssertEqual(out[0].json, gatewayEnd("a", "policy", peer: "viewer-1"))
        XCTAssertEqual(h.router.liveSessionCount, 1)
        XCTAssertEqual(h.router.counters.sessionsEnded.policy, 1)
        XCTAssertFalse(h.router.isOnline("viewer-1"), "state of unprovisioned clients dropped")
        XCTAssertEqual(h.up("viewer-1", offer(sid: "c", to: "cam-1"))[0].json["error"], "forbidden")
    }

    func testShutdown() {
        h.establish("viewer-1", "cam-1", sid: "a")
        h.establish("viewer-2", "cam-1", sid: "b")
        var out: [OutboundMessage] = []
        h.router.shutdown(graceSec: 5, clock: h.clock, into: &out)
        let goAway: JSONValue = ["v": 1, "type": "GO_AWAY", "from": "_gw", "body": ["graceSec": 5]]
        XCTAssertEqual(out.map(\.topic), [
            "rtc/v1/down/cam-1", "rtc/v1/down/viewer-1", "rtc/v1/down/viewer-2",
            "rtc/v1/down/cam-1", "rtc/v1/down/viewer-1", "rtc/v1/down/cam-1", "rtc/v1/down/viewer-2",
        ])
        XCTAssertEqual(Array(out.prefix(3).map(\.json)), [goAway, goAway, goAway])
        XCTAssertEqual(out[3].json, gatewayEnd("a", "shutdown", peer: "viewer-1"))
        XCTAssertEqual(out[4].json, gatewayEnd("a", "shutdown", peer: "cam-1"))
        XCTAssertEqual(h.router.liveSessionCount, 0)
        XCTAssertEqual(h.router.counters.sessionsEnded.shutdown, 2)
        XCTAssertEqual(h.up("viewer-1", offer(sid: "c", to: "cam-1"))[0].json, errorStatus(.resources, "gateway is shutting down", sid: "c"))
    }

    func testEndReasonsCounted() {
        for (i, reason) in EndReason.allCases.enumerated() {
            h.up("viewer-1", offer(sid: "s\(i)", to: "cam-2"))
            h.advance(ms: 1000)
            XCTAssertEqual(h.up("cam-2", end(sid: "s\(i)", to: "viewer-1", reason: reason.rawValue)).count, 1)
            XCTAssertEqual(h.router.counters.sessionsEnded[reason], 1, reason.rawValue)
        }
    }
}
