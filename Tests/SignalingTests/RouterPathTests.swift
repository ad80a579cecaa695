import JSON
import Paths
import XCTest
@testable import Signaling

/// ICE_CONFIG for a call and LINK_REPORT (docs/signaling.md §7.11) on the router, with three
/// relays a (this gateway), b and c, and links set by hand.
final class RouterPathTests: XCTestCase {
    private let good = LinkEstimate(rttMicros: 10_000, loss: 0, jitterMicros: 500)
    private let bad = LinkEstimate(rttMicros: 10_000, loss: 0.5, jitterMicros: 500)
    private let entries = ["a", "b", "c"].map { name in
        RelayEntry(name: name, site: name, stun: ["stun:\(name).example:3478"], turn: ["turn:\(name).example:3478?transport=udp"])
    }

    private func harness(strict: Bool = false, ab: LinkEstimate? = nil) -> Harness {
        let clients = [ClientRecord(id: "cam-1", role: .device, groups: ["home"], site: "a"),
                       ClientRecord(id: "viewer-1", role: .viewer, groups: ["home"], site: "b"),
                       ClientRecord(id: "outsider", role: .viewer, groups: ["other"], site: "b")]
        let h = Harness(clients: clients, iceServers: IceServerURLs(stun: entries[0].stun, turn: entries[0].turn))
        var policy = PathPolicy()
        policy.strict = strict
        let paths = RelayPaths(selfEntry: entries[0], relayCapacity: 8, clientCapacity: 8, policy: policy)
        paths.setRelays(entries)
        let now = h.unix
        paths.setRow(from: "a", links: [("b", ab ?? good), ("c", good)], at: now)
        paths.setRow(from: "b", links: [("a", ab ?? good), ("c", good)], at: now)
        paths.setRow(from: "c", links: [("a", good), ("b", good)], at: now)
        h.router.relayPaths = paths
        h.online("cam-1", "viewer-1", "outsider")
        return h
    }

    private func ice(_ h: Harness, _ id: String, _ body: String = "{}", sid: String? = nil) -> JSONValue {
        let sidMember = sid.map { #","sid":"\#($0)""# } ?? ""
        return h.up(id, #"{"v":1,"type":"ICE_CONFIG_REQUEST","mid":"i"\#(sidMember),"body":\#(body)}"#).last?.json ?? .null
    }

    func testIceConfigForACallListsTheChosenRelayFirstAndEveryRelayToMeasure() {
        let h = harness()
        let camera = ice(h, "cam-1", #"{"peer":"viewer-1"}"#)
        XCTAssertEqual(camera["body"]?["path"], j(#"{"relays":["a","b"],"costMs":20,"degraded":false}"#))
        XCTAssertEqual(camera["body"]?["iceServers"]?.arrayValue?[0]["urls"], j(#"["stun:a.example:3478"]"#), "its own end of the path: a")
        let viewer = ice(h, "viewer-1", #"{"peer":"cam-1"}"#)
        XCTAssertEqual(viewer["body"]?["path"]?["relays"], j(#"["b","a"]"#), "the same path from the other end")
        XCTAssertEqual(viewer["body"]?["iceServers"]?.arrayValue?[0]["urls"], j(#"["stun:b.example:3478","stun:a.example:3478"]"#),
                       "b first, then this gateway's own (not strict)")
        XCTAssertEqual(viewer["body"]?["iceServers"]?.arrayValue?[1]["urls"], j(#"["turn:b.example:3478?transport=udp"]"#))
        XCTAssertEqual(viewer["body"]?["iceServers"]?.arrayValue?[1]["username"], viewer["body"]?["iceServers"]?.arrayValue?[2]["username"], "one credential")
        XCTAssertEqual(viewer["body"]?["relays"]?.arrayValue?.count, 3, "every relay, to measure and report")
        // Without a peer: this gateway's relay, as before (old clients).
        XCTAssertNil(ice(h, "cam-1")["body"]?["path"])
    }

    func testBothEndsGetOnePathEvenWhenLinksChangeInBetween() {
        let h = harness()
        XCTAssertEqual(ice(h, "cam-1", #"{"peer":"viewer-1"}"#)["body"]?["path"]?["relays"], j(#"["a","b"]"#))
        h.router.relayPaths?.setRow(from: "a", links: [("b", bad), ("c", good)], at: h.unix)
        XCTAssertEqual(ice(h, "viewer-1", #"{"peer":"cam-1"}"#)["body"]?["path"]?["relays"], j(#"["b","a"]"#),
                       "pinned for the second end")
        XCTAssertEqual(ice(h, "viewer-1", #"{"peer":"cam-1"}"#)["body"]?["path"]?["degraded"], true,
                       "a new call sees the new links: A↔B is bad and C is three relays away")
    }

    func testStrictRefusesWithNoPathAndDegradedOtherwise() {
        let strict = harness(strict: true, ab: bad)
        h(strict, removing: "c")
        let refused = ice(strict, "cam-1", #"{"peer":"viewer-1"}"#)
        XCTAssertEqual(refused["code"], 503)
        XCTAssertEqual(refused["error"], "no-path")
        let lenient = harness(ab: bad)
        h(lenient, removing: "c")
        XCTAssertEqual(ice(lenient, "cam-1", #"{"peer":"viewer-1"}"#)["body"]?["path"], j(#"{"relays":["a","b"],"costMs":270,"degraded":true}"#))
    }

    private func h(_ harness: Harness, removing relay: String) {
        harness.router.relayPaths?.setRelays(entries.filter { $0.name != relay })
    }

    func testThePeerMustBeAllowedAndTheSessionReal() {
        let h = harness()
        XCTAssertEqual(ice(h, "outsider", #"{"peer":"cam-1"}"#)["error"], "forbidden")
        XCTAssertEqual(ice(h, "cam-1", #"{"peer":"_gw"}"#)["error"], "forbidden")
        XCTAssertEqual(ice(h, "cam-1", #"{"peer":7}"#)["error"], "bad-request")
        XCTAssertEqual(ice(h, "cam-1", sid: "nope")["error"], "not-found", "no live session with that sid")
        h.establish("viewer-1", "cam-1", sid: "s1")
        XCTAssertEqual(ice(h, "cam-1", sid: "s1")["body"]?["path"]?["relays"], j(#"["a","b"]"#), "the session's peer")
    }

    func testLinkReportsAreCheckedBoundedAndOnlyForRelaysGiven() {
        let h = harness()
        let report = { (id: String, links: String) -> JSONValue in
            h.up(id, #"{"v":1,"type":"LINK_REPORT","mid":"r","body":{"links":\#(links)}}"#).last?.json ?? .null
        }
        let one = #"[{"url":"stun:c.example:3478","rttMs":3,"loss":0}]"#
        XCTAssertEqual(report("cam-1", one)["error"], "bad-request", "before ICE_CONFIG: not given any relay")
        _ = ice(h, "cam-1")
        XCTAssertEqual(report("cam-1", one)["code"], 200)
        XCTAssertEqual(h.router.relayPaths?.links.clientLink("cam-1", relay: 2, now: h.unix)?.rttMicros, 3_000)
        XCTAssertEqual(report("cam-1", #"[{"url":"stun:evil.example:3478","rttMs":1,"loss":0}]"#)["error"], "bad-request",
                       "a relay this gateway never listed")
        XCTAssertEqual(h.router.relayPaths?.reportsRefused, 1)
        XCTAssertEqual(report("cam-1", #"[{"url":"stun:c.example:3478","rttMs":-1,"loss":0}]"#)["error"], "bad-request")
        XCTAssertEqual(report("cam-1", #"[{"url":"stun:c.example:3478","rttMs":1,"loss":2}]"#)["error"], "bad-request")
        XCTAssertEqual(report("cam-1", #"[{"url":"stun:c.example:3478","rttMs":"1","loss":0}]"#)["error"], "bad-request")
        XCTAssertEqual(report("cam-1", #"{"url":"x"}"#)["error"], "bad-request")
        let many = "[" + Array(repeating: #"{"url":"stun:c.example:3478","rttMs":1,"loss":0}"#, count: 17).joined(separator: ",") + "]"
        XCTAssertEqual(report("cam-1", many)["error"], "bad-request", "at most 16 entries")
        // Rate: LINK_REPORT shares the OFFER/ANSWER/DIRECTORY_REQUEST bucket (5/s, burst 10).
        var limited = 0
        for _ in 0..<20 where report("cam-1", one)["error"] == "rate-limited" { limited += 1 }
        XCTAssertGreaterThanOrEqual(limited, 8)
        // Going offline: a new ICE_CONFIG is needed before reporting again.
        h.status("cam-1", #"{"state":"offline"}"#)
        h.advance(ms: 5_000)
        h.online("cam-1")
        XCTAssertEqual(report("cam-1", one)["error"], "bad-request")
    }

    func testReportsMoveTheChoice() {
        let h = harness(ab: bad)
        _ = ice(h, "cam-1")
        _ = ice(h, "viewer-1")
        h.up("cam-1", #"{"v":1,"type":"LINK_REPORT","body":{"links":[{"url":"stun:c.example:3478","rttMs":4,"loss":0}]}}"#)
        h.up("viewer-1", #"{"v":1,"type":"LINK_REPORT","body":{"links":[{"url":"turn:c.example:3478?transport=udp","rttMs":4,"loss":0}]}}"#)
        XCTAssertEqual(ice(h, "cam-1", #"{"peer":"viewer-1"}"#)["body"]?["path"], j(#"{"relays":["c"],"costMs":8,"degraded":false}"#))
    }

    func testTheRefreshPushKeepsTheCallsRelay() {
        let h = harness()
        XCTAssertEqual(ice(h, "viewer-1", #"{"peer":"cam-1"}"#)["body"]?["path"]?["relays"], j(#"["b","a"]"#))
        h.establish("viewer-1", "cam-1", sid: "s1")
        h.advance(ms: 3_600_000 - 240_000)  // within the refresh lead of the credentials' expiry
        let push = h.tick().first { $0.topic == "rtc/v1/down/viewer-1" && $0.json["type"] == "ICE_CONFIG" }
        XCTAssertEqual(push?.json["body"]?["iceServers"]?.arrayValue?[0]["urls"], j(#"["stun:b.example:3478","stun:a.example:3478"]"#),
                       "the pushed refresh still leads with the call's relay b")
    }
}
