import STUN
import XCTest

@testable import TURN

/// The core owns an allocation's life: it ties the relayed addresses to the allocation when the
/// Allocate succeeds and closes them on every way the allocation ends.
final class AllocationLifecycleTests: XCTestCase {
    private func allocate(_ harness: inout TurnHarness, dual: Bool = false, lifetime: UInt32? = nil) -> AllocationID? {
        let response = harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            if dual { try b.appendUInt32(.additionalAddressFamily, 0x02 << 24) }
            if let lifetime { try b.appendUInt32(.lifetime, lifetime) }
        })
        XCTAssertNil(errorCode(response))
        return harness.core.allocations.lookup(clientTuple)
    }

    func testAllocateBindsEveryRelayedAddressToTheAllocation() throws {
        var harness = TurnHarness()
        let id = try XCTUnwrap(allocate(&harness, dual: true))
        let allocation = harness.core.allocations[id]
        XCTAssertEqual(harness.relays.bound.map(\.address), [allocation.relayed, allocation.additionalRelayed!])
        XCTAssertEqual(harness.relays.bound.map(\.id), [id, id])
    }

    func testRefreshToZeroClosesBothRelays() throws {
        var harness = TurnHarness()
        let id = try XCTUnwrap(allocate(&harness, dual: true))
        let allocation = harness.core.allocations[id]
        XCTAssertNil(errorCode(harness.send(turnRequest(.refresh) { b throws(StunBuildError) in try b.appendUInt32(.lifetime, 0) })))
        XCTAssertFalse(harness.core.allocations.contains(id))
        XCTAssertEqual(harness.relays.closed, [allocation.relayed, allocation.additionalRelayed!])
    }

    func testRemoveAllocationClosesItsRelaysOnceAndIgnoresAStaleID() throws {
        var harness = TurnHarness()
        let id = try XCTUnwrap(allocate(&harness))
        let relayed = harness.core.allocations[id].relayed
        harness.core.removeAllocation(id, relays: &harness.relays)
        harness.core.removeAllocation(id, relays: &harness.relays)
        XCTAssertEqual(harness.relays.closed, [relayed], "a second removal of the same handle does nothing")
    }

    func testExpiryEndsOnlyLapsedAllocationsAndClosesTheirRelays() throws {
        var harness = TurnHarness()
        let id = try XCTUnwrap(allocate(&harness, lifetime: 600))
        let relayed = harness.core.allocations[id].relayed
        XCTAssertEqual(harness.core.removeExpired(now: 599 * second, relays: &harness.relays), 0)
        XCTAssertTrue(harness.relays.closed.isEmpty)
        XCTAssertEqual(harness.core.removeExpired(now: 601 * second, relays: &harness.relays), 1)
        XCTAssertEqual(harness.relays.closed, [relayed])
        XCTAssertFalse(harness.core.allocations.contains(id))
    }

    /// Data for a peer leaves from the relayed address of the peer's family, and data from a
    /// peer names the client's 5-tuple: the shell needs nothing else from the table.
    func testRelayDecisionsCarryTheAddressesToSendWith() throws {
        var harness = TurnHarness()
        let id = try XCTUnwrap(allocate(&harness, dual: true))
        let allocation = harness.core.allocations[id]
        let v4Peer = TransportAddress(ip: IPAddress("192.0.2.50")!, port: 5000)
        let v6Peer = TransportAddress(ip: IPAddress("2001:db8::7")!, port: 5000)
        for peer in [v4Peer, v6Peer] {
            XCTAssertNil(errorCode(harness.send(turnRequest(.createPermission) { b throws(StunBuildError) in
                try b.appendXorAddress(.xorPeerAddress, peer) })))
        }
        for (peer, expected) in [(v4Peer, allocation.relayed), (v6Peer, allocation.additionalRelayed!)] {
            let indication = sendIndication(to: peer, [1, 2, 3])
            try indication.withUnsafeBytes { raw in
                guard case .toPeer(let decided, let relayed, let to, let data) = harness.core.relaySendIndication(
                    try StunMessageView(raw), from: clientTuple, now: 1) else { return XCTFail("not relayed to \(peer)") }
                XCTAssertEqual(decided, id)
                XCTAssertEqual(relayed, expected, "peer \(peer)")
                XCTAssertEqual(to, peer)
                XCTAssertEqual(Array(data), [1, 2, 3])
            }
        }
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { slot.deallocate() }
        let data = UnsafeMutableRawBufferPointer(rebasing: slot[64..<67])
        guard case .toClient(_, let fiveTuple, _) = harness.core.relayPeerData(data, from: v6Peer, to: id, now: 2) else {
            return XCTFail("peer data not relayed")
        }
        XCTAssertEqual(fiveTuple, clientTuple)
    }

}
