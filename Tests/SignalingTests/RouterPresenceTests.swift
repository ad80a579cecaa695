import JSON
import XCTest
@testable import Signaling

final class RouterPresenceTests: XCTestCase {
    var h: Harness!

    override func setUp() {
        h = Harness()
        h.online("cam-1", "viewer-1", "viewer-2")
    }

    private func peerStatus(_ peer: String, _ state: String) -> JSONValue {
        ["v": 1, "type": "PEER_STATUS", "from": "_gw", "body": ["peer": .string(peer), "state": .string(state)]]
    }

    func testPresenceStates() {
        XCTAssertTrue(h.router.isOnline("cam-1"))
        h.status("cam-1", #"{"state":"offline"}"#)
        XCTAssertFalse(h.router.isOnline("cam-1"))
        h.status("cam-1", #"{"state":"online","since":123}"#)
        XCTAssertTrue(h.router.isOnline("cam-1"))
        h.status("cam-1", "")  // retained status cleared
        XCTAssertFalse(h.router.isOnline("cam-1"))
        XCTAssertEqual(h.router.counters.presenceOnline, 4)
        XCTAssertEqual(h.router.counters.presenceOffline, 2)
    }

    func testGarbageAndUnprovisionedIgnored() {
        for garbage in ["x", #"{"state":"away"}"#, "[]", #"{"state":1}"#, "\u{FF}"] {
            XCTAssertTrue(h.status("cam-1", garbage).isEmpty)
        }
        XCTAssertTrue(h.router.isOnline("cam-1"), "garbage does not change presence")
        XCTAssertEqual(h.router.counters.presenceMalformed, 5)
        h.status("ghost", #"{"state":"online"}"#)
        h.status("_gw", #"{"state":"online"}"#)
        XCTAssertFalse(h.router.isOnline("ghost"))
        XCTAssertEqual(h.router.counters.presenceUnprovisioned, 2)
        XCTAssertEqual(h.router.clients.count, 3, "only provisioned ids are tracked")
    }

    func testOfflineEndsSessionsAndReturnNotifies() {
        h.establish("viewer-1", "cam-1", sid: "a")
        h.establish("viewer-1", "cam-1", sid: "b")
        h.establish("viewer-2", "cam-1", sid: "c")
        let out = h.status("cam-1", #"{"state":"offline"}"#)
        XCTAssertEqual(out.map(\.topic), ["rtc/v1/down/viewer-1", "rtc/v1/down/viewer-1", "rtc/v1/down/viewer-1", "rtc/v1/down/viewer-2", "rtc/v1/down/viewer-2"])
        XCTAssertEqual(out[0].json, peerStatus("cam-1", "offline"))
        XCTAssertEqual(out[1].json, ["v": 1, "type": "END", "from": "_gw", "sid": "a", "body": ["reason": "peer-offline", "peer": "cam-1"]])
        XCTAssertEqual(out[2].json["sid"], "b")
        XCTAssertEqual(out[3].json, peerStatus("cam-1", "offline"))
        XCTAssertEqual(h.router.liveSessionCount, 0)
        XCTAssertEqual(h.router.counters.sessionsEnded.peerOffline, 3)
        h.advance(ms: 119_999)
        h.tick()
        let back = h.status("cam-1", #"{"state":"online"}"#)
        XCTAssertEqual(back.map(\.topic), ["rtc/v1/down/viewer-1", "rtc/v1/down/viewer-2"])
        XCTAssertEqual(back[0].json, peerStatus("cam-1", "online"))
        // Only once.
        h.status("cam-1", #"{"state":"offline"}"#)
        XCTAssertTrue(h.status("cam-1", #"{"state":"online"}"#).isEmpty)
    }

    func testReturnAfterWindowIsSilent() {
        h.establish("viewer-1", "cam-1", sid: "a")
        h.status("cam-1", "")
        h.advance(ms: 120_000)
        h.tick()
        XCTAssertTrue(h.router.returnWindows.isEmpty)
        XCTAssertTrue(h.status("cam-1", #"{"state":"online"}"#).isEmpty)
    }

    func testOfflineWithoutSessionsSendsNothing() {
        XCTAssertTrue(h.status("viewer-1", #"{"state":"offline"}"#).isEmpty)
        XCTAssertTrue(h.status("viewer-1", #"{"state":"online"}"#).isEmpty)
    }

    func testClientTableIsBounded() {
        var config = SignalingConfig()
        config.maxClients = 2
        let h = Harness(config: config)
        h.online("cam-1", "viewer-1")
        h.online("viewer-2")  // table full of online clients: dropped
        XCTAssertFalse(h.router.isOnline("viewer-2"))
        XCTAssertEqual(h.router.counters.clientTableFull, 1)
        h.status("viewer-1", #"{"state":"offline"}"#)
        h.online("viewer-2")  // offline entry evicted
        XCTAssertTrue(h.router.isOnline("viewer-2"))
        XCTAssertEqual(h.router.clients.count, 2)
        // A sender whose state cannot be stored is refused with resources.
        let out = h.up("viewer-1", offer(sid: "s", to: "cam-1"))
        XCTAssertEqual(out[0].json, errorStatus(.resources, "client table full", sid: "s"))
    }
}
