import Signaling
import XCTest

final class ClusterMembershipTests: XCTestCase {
    private let ids = (0..<1_000).map { "cam-\($0)" }

    func testEveryClientHasExactlyOneOwnerAndTheSplitIsEven() {
        var a = ClusterMembership(name: "a")
        var b = ClusterMembership(name: "b")
        a.set("b", online: true)
        b.set("a", online: true)
        XCTAssertEqual(a.online, ["a", "b"])
        XCTAssertEqual(b.online, ["a", "b"])
        let ownedByA = ids.filter { a.owns($0) }
        let ownedByB = ids.filter { b.owns($0) }
        XCTAssertEqual(Set(ownedByA).intersection(ownedByB), [], "nobody is served twice")
        XCTAssertEqual(ownedByA.count + ownedByB.count, ids.count, "nobody is left out")
        XCTAssertTrue((400...600).contains(ownedByA.count), "roughly even: \(ownedByA.count)")
        XCTAssertEqual(ids.map { a.owner(of: $0) }, ids.map { b.owner(of: $0) }, "both agree")
    }

    func testAnInstanceGoingAwayHandsItsClientsToTheOthers() {
        var a = ClusterMembership(name: "a")
        XCTAssertTrue(a.set("b", online: true))
        XCTAssertFalse(a.set("b", online: true), "no change")
        XCTAssertTrue(a.set("b", online: false))
        XCTAssertTrue(ids.allSatisfy { a.owns($0) }, "alone, it owns everyone")
        XCTAssertFalse(a.set("a", online: false), "it never removes itself")
        XCTAssertEqual(a.online, ["a"])
    }

    func testTheHashIsStable() {
        // Pinned (standard FNV-1a 64, cross-checked with Python): builds must agree on owners.
        XCTAssertEqual(ClusterMembership(name: "x").owner(of: "anything"), "x")
        var m = ClusterMembership(name: "a")
        m.set("b", online: true)
        m.set("c", online: true)
        XCTAssertEqual(["cam-1", "viewer-1", "doorbell", "a"].map { m.owner(of: $0) }, ["a", "b", "c", "b"])
    }
}
