import JSON
import XCTest
@testable import Signaling

/// The router's state across a handover (docs/handover.md): what one process exports, another
/// with the same policy restores, and the calls carry on as if nothing happened.
final class RouterHandoverTests: XCTestCase {
    func testSessionsPresenceBucketsAndCountersCarryOver() throws {
        let old = Harness()
        old.online("cam-1", "viewer-1", "viewer-2")
        old.establish("viewer-1", "cam-1", sid: "s1")
        old.up("viewer-2", offer(sid: "s2", to: "cam-1"))  // offered, not answered
        for _ in 0..<3 { old.up("viewer-2", candidates(sid: "s2", to: "cam-1")) }
        let state = old.router.handoverState()
        // Through its text, as it crosses the wire.
        let crossed = try JSONParser.parse(Array(state.serialized()))

        let new = Harness()
        new.now = old.now
        try new.router.restoreHandoverState(crossed, nowMs: new.now)
        XCTAssertEqual(new.router.liveSessionCount, 2)
        XCTAssertEqual(new.router.sessions[SessionKey("cam-1", "viewer-1", sid: "s1")]?.state, .answered)
        XCTAssertEqual(new.router.sessions[SessionKey("cam-1", "viewer-2", sid: "s2")]?.state, .offered)
        XCTAssertTrue(new.router.isOnline("cam-1") && new.router.isOnline("viewer-2"))
        XCTAssertEqual(new.router.counters, old.router.counters)
        XCTAssertEqual(new.router.clients["viewer-2"]?.candidateBucket, old.router.clients["viewer-2"]?.candidateBucket,
                       "the rate bucket is as spent as it was")
        // The calls carry on: candidates and END reach the peer, as in the old process.
        XCTAssertEqual(new.up("cam-1", candidates(sid: "s1", to: "viewer-1")).map(\.topic), ["rtc/v1/down/viewer-1"])
        XCTAssertEqual(new.up("viewer-1", end(sid: "s1", to: "cam-1")).map(\.topic), ["rtc/v1/down/cam-1"])
        XCTAssertEqual(new.router.counters.sessionsEnded.hangup, old.router.counters.sessionsEnded.hangup + 1)
        // The unanswered offer still times out when it would have.
        new.advance(ms: 30_000)
        XCTAssertEqual(new.tick().count, 2, "END timeout to both sides of s2")
    }

    func testWhatThePolicyNoLongerAllowsIsLeftOut() throws {
        let old = Harness()
        old.online("cam-1", "viewer-1", "friend")
        old.establish("viewer-1", "cam-1", sid: "s1")
        old.establish("friend", "cam-1", sid: "s2")
        let restricted = Harness(clients: Harness.defaultClients.filter { $0.id != "friend" })
        try restricted.router.restoreHandoverState(old.router.handoverState(), nowMs: restricted.now)
        XCTAssertEqual(restricted.router.liveSessionCount, 1)
        XCTAssertNil(restricted.router.clients["friend"])
    }

    func testMalformedStateIsRefusedWhole() {
        let h = Harness()
        for bad: JSONValue in [.null, "text", ["sessions": []], ["sessions": "x", "clients": [], "returnWindows": [], "directoryWatchers": []]] {
            XCTAssertThrowsError(try h.router.restoreHandoverState(bad, nowMs: h.now), "\(bad)")
        }
        XCTAssertEqual(h.router.liveSessionCount, 0)
        // Entries of the wrong shape inside a valid state are skipped, not trusted.
        let odd: JSONValue = ["sessions": [[5], "x", ["cam-1", "viewer-1", "s", true, "viewer-1", 1, 2]],
                              "clients": [["cam-1"], ["nobody", true, 1, 1, 1, 1, 1, nil]],
                              "returnWindows": [["cam-1"]], "directoryWatchers": [7, "viewer-1"]]
        XCTAssertNoThrow(try h.router.restoreHandoverState(odd, nowMs: h.now))
        XCTAssertEqual(h.router.liveSessionCount, 1)
        XCTAssertNil(h.router.clients["nobody"], "unprovisioned ids are not adopted")
    }
}
