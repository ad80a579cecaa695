import Signaling
import XCTest

final class PresenceGateTests: XCTestCase {
    private let online = Array(#"{"state":"online"}"#.utf8)
    private let offline = Array(#"{"state":"offline"}"#.utf8)

    func testOnlinePassesAndOfflineIsHeldThenReleased() {
        var gate = PresenceGate(holdMs: 400, resyncMs: 3_000)
        XCTAssertTrue(gate.admit(id: "cam-1", payload: online, nowMs: 1_000))
        XCTAssertFalse(gate.admit(id: "cam-1", payload: offline, nowMs: 1_000))
        XCTAssertFalse(gate.admit(id: "cam-2", payload: [], nowMs: 1_100), "a cleared retained status is offline")
        XCTAssertEqual(gate.release(nowMs: 1_399), [])
        XCTAssertEqual(gate.release(nowMs: 1_400).map(\.id), ["cam-1"])
        XCTAssertEqual(gate.release(nowMs: 1_500).map(\.id), ["cam-2"])
        XCTAssertEqual(gate.release(nowMs: 9_999), [])
    }

    func testOnlineBehindAHeldOfflineKeepsItsOrder() {
        var gate = PresenceGate(holdMs: 400)
        XCTAssertFalse(gate.admit(id: "cam-1", payload: offline, nowMs: 0))
        XCTAssertFalse(gate.admit(id: "cam-1", payload: online, nowMs: 100), "queued behind the offline")
        XCTAssertTrue(gate.admit(id: "cam-2", payload: online, nowMs: 100), "other clients are not held")
        let released = gate.release(nowMs: 500)
        XCTAssertEqual(released.map(\.payload), [offline, online])
    }

    func testBrokerLossDiscardsHeldStatuses() {
        var gate = PresenceGate(holdMs: 400)
        _ = gate.admit(id: "a", payload: offline, nowMs: 0)
        _ = gate.admit(id: "b", payload: offline, nowMs: 1)
        gate.brokerLost()
        XCTAssertEqual(gate.release(nowMs: 10_000), [])
        XCTAssertEqual(gate.discardedOnBrokerLoss, 2)
    }

    func testClientsSilentAfterAReconnectAreReportedOnceAfterTheResyncWindow() {
        var gate = PresenceGate(holdMs: 400, resyncMs: 3_000)
        gate.brokerConnected(nowMs: 10_000)
        XCTAssertTrue(gate.admit(id: "back", payload: online, nowMs: 10_050))
        XCTAssertEqual(gate.staleClients(online: ["back", "gone"], nowMs: 12_999), [], "not before the window ends")
        XCTAssertEqual(gate.staleClients(online: ["back", "gone"], nowMs: 13_000), ["gone"])
        XCTAssertEqual(gate.staleClients(online: ["back", "gone"], nowMs: 20_000), [], "reported once")
    }

    func testGarbageStatusIsNotTreatedAsOffline() {
        var gate = PresenceGate()
        XCTAssertTrue(gate.admit(id: "x", payload: Array("{not json".utf8), nowMs: 0), "the router counts it as malformed")
    }
}

final class PresenceGateBoundTests: XCTestCase {
    func testHeldStatusesAreBounded() {
        var gate = PresenceGate(holdMs: 400, maxHeld: 3)
        let offline = Array(#"{"state":"offline"}"#.utf8)
        XCTAssertFalse(gate.admit(id: "a", payload: offline, nowMs: 0))
        XCTAssertFalse(gate.admit(id: "b", payload: offline, nowMs: 0))
        XCTAssertFalse(gate.admit(id: "c", payload: offline, nowMs: 0))
        XCTAssertTrue(gate.admit(id: "d", payload: offline, nowMs: 0), "beyond the bound a status passes at once")
        XCTAssertEqual(gate.release(nowMs: 400).count, 3)
    }
}
