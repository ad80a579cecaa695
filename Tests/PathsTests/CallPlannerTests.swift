import Paths
import XCTest

/// Calls planned over measured links: three relays A, B, C; a device homed at A, a viewer at B.
final class CallPlannerTests: XCTestCase {
    private let good = LinkEstimate(rttMicros: 10_000, loss: 0, jitterMicros: 1_000)
    private let lossy = LinkEstimate(rttMicros: 10_000, loss: 0.3, jitterMicros: 5_000)
    private let device = (id: "cam-1", site: Optional("a")), viewer = (id: "viewer-1", site: Optional("b"))

    private func table(ab: LinkEstimate) -> LinkTable {
        var links = LinkTable(relayCapacity: 8, clientCapacity: 4)
        XCTAssertTrue(links.setRelays([("c", "c"), ("a", "a"), ("b", "b")]))
        links.setRow(from: "a", links: [("b", ab), ("c", good)], at: 100)
        links.setRow(from: "b", links: [("a", ab), ("c", good)], at: 100)
        links.setRow(from: "c", links: [("a", good), ("b", good)], at: 100)
        return links
    }

    func testHomeRelaysWhenTheirLinkIsGood() {
        var planner = CallPlanner(relayCapacity: 8)
        let path = planner.plan(device, viewer, links: table(ab: good), policy: PathPolicy(), now: 110)
        XCTAssertEqual(path?.relays, ["a", "b"])
        XCTAssertEqual(path?.relay(for: "cam-1"), "a")
        XCTAssertEqual(path?.relay(for: "viewer-1"), "b")
        XCTAssertEqual(path?.costMicros, 5_000 + 10_000 + 5_000, "site defaults and the A↔B link")
        XCTAssertEqual(planner.plan(viewer, device, links: table(ab: good), policy: PathPolicy(), now: 110)?.relays, ["b", "a"],
                       "the viewer's end is its own first")
    }

    func testAnImpairedLinkIsAvoidedThroughC() {
        var links = table(ab: lossy)
        // Both clients measured C as well (LINK_REPORT).
        links.report(client: "cam-1", relay: "c", estimate: LinkEstimate(rttMicros: 8_000, loss: 0, jitterMicros: 500), expires: 700, now: 110)
        links.report(client: "viewer-1", relay: "c", estimate: LinkEstimate(rttMicros: 9_000, loss: 0, jitterMicros: 500), expires: 700, now: 110)
        var planner = CallPlanner(relayCapacity: 8)
        let path = planner.plan(device, viewer, links: links, policy: PathPolicy(), now: 110)
        XCTAssertEqual(path?.relays, ["c"], "both on C (8 + 9 ms) beats A→C→viewer (24 ms) and camera→C→B (23 ms)")
        XCTAssertEqual(path?.costMicros, 17_000)
        XCTAssertEqual(path?.degraded, false)
        XCTAssertEqual(path?.excluded.map { "\($0.from)-\($0.to)" }, ["a-b"])
        XCTAssertEqual(planner.plan(viewer, device, links: links, policy: PathPolicy(), now: 110)?.relays, ["c"], "same path")
        // The viewer's own measurement of C is poor: the camera's end moves to C, the viewer keeps B.
        links.report(client: "viewer-1", relay: "c", estimate: LinkEstimate(rttMicros: 30_000, loss: 0, jitterMicros: 500), expires: 700, now: 110)
        XCTAssertEqual(planner.plan(device, viewer, links: links, policy: PathPolicy(), now: 110)?.relays, ["c", "b"])
        XCTAssertEqual(planner.plan(viewer, device, links: links, policy: PathPolicy(), now: 110)?.relays, ["b", "c"])
        // Lifting the impairment: the next plan goes A→B again.
        links.setRow(from: "a", links: [("b", good), ("c", good)], at: 120)
        links.setRow(from: "b", links: [("a", good), ("c", good)], at: 120)
        XCTAssertEqual(planner.plan(device, viewer, links: links, policy: PathPolicy(), now: 121)?.relays, ["a", "b"])
    }

    func testWithoutAnAlternativeThePathIsDegradedOrRefused() {
        var planner = CallPlanner(relayCapacity: 8)
        let path = planner.plan(device, viewer, links: table(ab: lossy), policy: PathPolicy(), now: 110)
        XCTAssertEqual(path?.relays, ["a", "b"], "C is three relays away (A→C→B): not a TURN path")
        XCTAssertEqual(path?.degraded, true)
        var strict = PathPolicy()
        strict.strict = true
        XCTAssertNil(planner.plan(device, viewer, links: table(ab: lossy), policy: strict, now: 110))
    }

    func testStaleRowsAndExpiredReportsDoNotCount() {
        var planner = CallPlanner(relayCapacity: 8)
        XCTAssertNil(planner.plan(device, viewer, links: table(ab: good), policy: PathPolicy(), now: 131), "rows 31 s old")
        var links = table(ab: good)
        links.report(client: "cam-1", relay: "b", estimate: LinkEstimate(rttMicros: 30_000, loss: 0, jitterMicros: 0), expires: 200, now: 110)
        XCTAssertEqual(planner.plan(device, viewer, links: links, policy: PathPolicy(), now: 125)?.relays, ["a", "b"],
                       "camera→A→B (20 ms) beats camera→B (30 + 5 ms)")
        links.setRow(from: "a", links: [], at: 150)
        links.setRow(from: "b", links: [], at: 150)
        XCTAssertEqual(planner.plan(device, viewer, links: links, policy: PathPolicy(), now: 150)?.relays, ["b"],
                       "the camera's report of B: both on B")
        XCTAssertNil(planner.plan(device, viewer, links: links, policy: PathPolicy(), now: 200), "the report expired")
    }

    func testOneLyingRelayCannotHideTheOtherSidesMeasurement() {
        var links = table(ab: lossy)
        links.setRow(from: "a", links: [("b", LinkEstimate(rttMicros: 1, loss: 0, jitterMicros: 0)), ("c", good)], at: 100)
        XCTAssertLessThan(links.relayLink(0, 1, now: 110, maxAge: 30)?.quality ?? 1, 0.5, "B's measurement of the loss stands")
    }

    func testTablesAreBounded() {
        var links = LinkTable(relayCapacity: 2, clientCapacity: 1)
        XCTAssertFalse(links.setRelays([("a", nil), ("b", nil), ("c", nil)]), "over capacity: refused")
        XCTAssertTrue(links.setRelays([("a", nil), ("b", nil)]))
        XCTAssertTrue(links.report(client: "x", relay: "a", estimate: good, expires: 50, now: 10))
        XCTAssertFalse(links.report(client: "y", relay: "a", estimate: good, expires: 50, now: 10), "table full")
        XCTAssertEqual(links.clientTableFull, 1)
        XCTAssertFalse(links.report(client: "x", relay: "zzz", estimate: good, expires: 50, now: 10), "not a relay")
        XCTAssertTrue(links.report(client: "y", relay: "a", estimate: good, expires: 90, now: 60), "x's reports expired: slot reused")
        XCTAssertEqual(links.reportingClients(now: 60), ["y"])
        // Relays renamed: links of the relay that stays are kept.
        links.setRow(from: "a", links: [("b", good)], at: 60)
        XCTAssertTrue(links.setRelays([("b", nil), ("d", nil)]))
        XCTAssertNil(links.clientLink("y", relay: 0, now: 60), "y reported a, which is gone")
        XCTAssertEqual(links.relays, ["b", "d"])
    }

    func testEstimatesFromProbes() {
        var window = ProbeWindow()
        XCTAssertNil(window.estimate)
        for rtt: Int64 in [10_000, 12_000, 10_000, 12_000] { window.answered(rttMicros: rtt) }
        window.lost()
        let estimate = try! XCTUnwrap(window.estimate)
        XCTAssertEqual(estimate.loss, 0.2, accuracy: 1e-9)
        XCTAssertGreaterThan(estimate.rttMicros, 10_000)
        XCTAssertLessThan(estimate.rttMicros, 12_000)
        XCTAssertGreaterThan(estimate.jitterMicros, 0)
        XCTAssertEqual(estimate.quality, (1 - 0.2 / 0.35) / (1 + Double(estimate.jitterMicros) / 50_000), accuracy: 1e-9)
        XCTAssertEqual(LinkEstimate(rttMicros: 0, loss: 0.35, jitterMicros: 0).quality, 0, "35 % loss is unusable")
        XCTAssertEqual(LinkEstimate(rttMicros: 0, loss: 1.0 / 6, jitterMicros: 0).quality, 0.524, accuracy: 0.001,
                       "one stray loss in six probes keeps a link above the default 0.5")
        XCTAssertLessThan(LinkEstimate(rttMicros: 0, loss: 2.0 / 6, jitterMicros: 0).quality, 0.1, "two do not")
        for _ in 0..<ProbeWindow.capacity { window.answered(rttMicros: 10_000) }
        XCTAssertEqual(window.estimate?.loss, 0, "the lost probe left the window")
        XCTAssertEqual(LinkEstimate(rttMicros: 0, loss: 0.07, jitterMicros: 50_000).quality, 0.4, accuracy: 1e-9)
        XCTAssertEqual(LinkEstimate(rttMicros: 20_000, loss: 0.01, jitterMicros: 0).costMicros, 25_000)
    }
}
