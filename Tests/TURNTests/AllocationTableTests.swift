import STUN
import XCTest

@testable import TURN

private func tuple(_ port: UInt16, ip: String = "198.51.100.7") -> FiveTuple {
    FiveTuple(client: TransportAddress(ip: IPAddress(ip)!, port: port),
              server: TransportAddress(ip: IPAddress("203.0.113.1")!, port: 3478), transport: .udp)
}

private func allocation(_ port: UInt16, user: UInt64 = 1, expiry: UInt64 = 600_000_000_000) -> Allocation {
    Allocation(fiveTuple: tuple(port), relayed: TransportAddress(ip: IPAddress("203.0.113.1")!, port: 50_000 + port),
               userKey: user, expiry: expiry, created: 0, creatingTransaction: TransactionID(high: 1, low: UInt64(port)))
}

final class AllocationTableTests: XCTestCase {
    func testLookupInsertRemoveKeepsEveryProbeChain() {
        var limits = TurnLimits()
        limits.maxAllocations = 64
        let table = AllocationTable(limits: limits)
        var ids: [UInt16: AllocationID] = [:]
        for port in UInt16(1)...64 {
            guard case .success(let id) = table.insert(allocation(port)) else { return XCTFail("insert \(port)") }
            ids[port] = id
        }
        XCTAssertEqual(table.count, 64)
        XCTAssertEqual(table.insert(allocation(99)), .failure(.tableFull))
        // Remove every third; the rest must still be found (backward-shift deletion).
        for port in stride(from: UInt16(1), through: 64, by: 3) { table.remove(ids[port]!) }
        for port in UInt16(1)...64 {
            let found = table.lookup(tuple(port))
            if (port - 1) % 3 == 0 {
                XCTAssertNil(found, "\(port) was removed")
                XCTAssertFalse(table.contains(ids[port]!), "a removed handle is stale")
            } else {
                XCTAssertEqual(found, ids[port], "\(port)")
            }
        }
        XCTAssertEqual(table.count, 64 - 22)
        XCTAssertEqual(table.ids.count, table.count)
        // Freed records are reused, with new generations.
        guard case .success(let reused) = table.insert(allocation(200)) else { return XCTFail("reuse") }
        XCTAssertEqual(table.lookup(tuple(200)), reused)
        XCTAssertEqual(table.capacity, 64, "never grows")
    }

    func testQuotas() {
        var limits = TurnLimits()
        limits.maxAllocations = 10
        limits.userQuota = 2
        limits.totalQuota = 3
        let table = AllocationTable(limits: limits)
        XCTAssertNotNil(try? table.insert(allocation(1, user: 7)).get())
        XCTAssertNotNil(try? table.insert(allocation(2, user: 7)).get())
        XCTAssertEqual(table.insert(allocation(3, user: 7)), .failure(.userQuota))
        XCTAssertNotNil(try? table.insert(allocation(4, user: 8)).get())
        XCTAssertEqual(table.insert(allocation(5, user: 9)), .failure(.totalQuota))
    }

    func testExpirySweepReportsAndRemoves() {
        let table = AllocationTable(limits: TurnLimits())
        _ = table.insert(allocation(1, expiry: 100))
        _ = table.insert(allocation(2, expiry: 300))
        var expired: [UInt16] = []
        table.removeExpired(now: 200) { _, record in expired.append(record.fiveTuple.client.port) }
        XCTAssertEqual(expired, [1])
        XCTAssertNil(table.lookup(tuple(1)))
        XCTAssertNotNil(table.lookup(tuple(2)))
    }

    func testModifyThroughHandle() {
        let table = AllocationTable(limits: TurnLimits())
        let id = try! table.insert(allocation(1)).get()
        table[id].bytesToPeer += 172
        XCTAssertEqual(table[id].bytesToPeer, 172)
    }
}

final class AllocationStateTests: XCTestCase {
    let second: UInt64 = 1_000_000_000
    let peerA = IPAddress("192.0.2.10")!
    let peerB = IPAddress("2001:db8::20")!

    func testPermissionsExpireRefreshAndHaveACap() {
        var a = allocation(1)
        XCTAssertTrue(a.permit(peerA, now: 0, lifetimeNanos: 300 * second, limit: 2))
        XCTAssertTrue(a.isPermitted(peerA, now: 299 * second))
        XCTAssertFalse(a.isPermitted(peerA, now: 300 * second), "permissions last exactly their lifetime")
        XCTAssertTrue(a.permit(peerA, now: 200 * second, lifetimeNanos: 300 * second, limit: 2), "refresh")
        XCTAssertTrue(a.isPermitted(peerA, now: 450 * second))
        XCTAssertTrue(a.permit(peerB, now: 200 * second, lifetimeNanos: 300 * second, limit: 2))
        XCTAssertFalse(a.permit(IPAddress("192.0.2.99")!, now: 200 * second, lifetimeNanos: 300 * second, limit: 2),
                       "the per-allocation cap refuses a third live permission")
        XCTAssertTrue(a.permit(IPAddress("192.0.2.99")!, now: 600 * second, lifetimeNanos: 300 * second, limit: 2),
                      "expired entries are reused")
        XCTAssertEqual(a.livePermissions(now: 600 * second), 1)
    }

    func testChannelBindingRulesOfRFC8656() {
        var a = allocation(1)
        let p1 = TransportAddress(ip: peerA, port: 5000)
        let p2 = TransportAddress(ip: peerA, port: 5001)
        let life = 600 * second, quarantine = 300 * second
        XCTAssertEqual(a.bindChannel(0x4000, to: p1, now: 0, lifetimeNanos: life, quarantineNanos: quarantine, limit: 16), .bound)
        XCTAssertEqual(a.peer(forChannel: 0x4000, now: 1), p1)
        XCTAssertEqual(a.channel(forPeer: p1, now: 1), 0x4000)
        XCTAssertEqual(a.bindChannel(0x4000, to: p2, now: 1, lifetimeNanos: life, quarantineNanos: quarantine, limit: 16),
                       .conflict, "a bound number cannot move to another peer")
        XCTAssertEqual(a.bindChannel(0x4001, to: p1, now: 1, lifetimeNanos: life, quarantineNanos: quarantine, limit: 16),
                       .conflict, "a bound peer cannot take a second number")
        XCTAssertEqual(a.bindChannel(0x4000, to: p1, now: 500 * second, lifetimeNanos: life, quarantineNanos: quarantine, limit: 16),
                       .bound, "rebinding the same pair refreshes it")
        // Expired at 1100 s, but the number stays reserved for 5 more minutes.
        XCTAssertNil(a.peer(forChannel: 0x4000, now: 1100 * second))
        XCTAssertEqual(a.bindChannel(0x4000, to: p2, now: 1200 * second, lifetimeNanos: life, quarantineNanos: quarantine, limit: 16),
                       .conflict)
        XCTAssertEqual(a.bindChannel(0x4000, to: p2, now: 1401 * second, lifetimeNanos: life, quarantineNanos: quarantine, limit: 16),
                       .bound)
        XCTAssertEqual(a.bindChannel(0x4002, to: TransportAddress(ip: peerB, port: 1), now: 1401 * second, lifetimeNanos: life,
                                     quarantineNanos: quarantine, limit: 1), .full)
    }

    func testLifetimeNegotiation() {
        let limits = TurnLimits()
        XCTAssertEqual(limits.grantedLifetime(requested: nil), 600)
        XCTAssertEqual(limits.grantedLifetime(requested: 30), 600, "below the default is raised to it")
        XCTAssertEqual(limits.grantedLifetime(requested: 1200), 1200)
        XCTAssertEqual(limits.grantedLifetime(requested: 99_999), 3600, "capped at max-allocate-lifetime")
        XCTAssertEqual(limits.grantedLifetime(requested: 0), 0, "a Refresh with 0 deletes")
    }
}
