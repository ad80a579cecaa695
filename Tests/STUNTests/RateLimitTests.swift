import STUN
import XCTest

final class RateLimitTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000

    private func answered(_ responder: inout BindingResponder, from source: TransportAddress, at now: UInt64,
                          count: Int) throws -> Int {
        let request = try buildMessage()
        var answered = 0
        for _ in 0..<count {
            if case .reply = respond(&responder, request, from: source, now: now).0 { answered += 1 }
        }
        return answered
    }

    func testBurstThenRefillOverInjectedTime() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 10, burst: 5))
        let t0 = 5 * second
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: t0, count: 8), 5)
        XCTAssertEqual(responder.counters.drops[.rateLimited], 3)
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: t0 + second / 10, count: 3), 1, "100 ms refills one token")
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: t0 + second / 10 + second / 20, count: 3), 0)
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: t0 + 60 * second, count: 10), 5, "capped at burst")
        // Time going backwards never refills or crashes.
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: 0, count: 2), 0)
    }

    func testSourcesAreIndependent() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 1, burst: 2))
        let other = TransportAddress(ip: IPAddress("198.51.100.7")!, port: 9)
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: second, count: 5), 2)
        XCTAssertEqual(try answered(&responder, from: other, at: second, count: 5), 2)
        let samePortDifferent = TransportAddress(ip: sourceV4.ip, port: 1)
        XCTAssertEqual(try answered(&responder, from: samePortDifferent, at: second, count: 1), 0, "keyed by address, not port")
    }

    func testIPv6GroupedBySlash64() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 1, burst: 3))
        let a = TransportAddress(ip: IPAddress("2001:db8:1:2::1")!, port: 1)
        let b = TransportAddress(ip: IPAddress("2001:db8:1:2:ffff::9")!, port: 2)
        let c = TransportAddress(ip: IPAddress("2001:db8:1:3::1")!, port: 1)
        XCTAssertEqual(try answered(&responder, from: a, at: second, count: 2), 2)
        XCTAssertEqual(try answered(&responder, from: b, at: second, count: 5), 1, "same /64 shares the bucket")
        XCTAssertEqual(try answered(&responder, from: c, at: second, count: 5), 3, "another /64 has its own")
    }

    func testIPv4MappedSharesTheIPv4Bucket() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 1, burst: 2))
        let mapped = TransportAddress(ip: IPAddress("::ffff:192.0.2.1")!, port: 1)
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: second, count: 1), 1)
        XCTAssertEqual(try answered(&responder, from: mapped, at: second, count: 5), 1)
    }

    func testZeroRateIsUnlimited() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 0, burst: 1))
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: second, count: 2_000), 2_000)
        XCTAssertEqual(responder.rateLimiter.trackedSources, 0)
    }

    func testLiveReload() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 1, burst: 1))
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: second, count: 3), 1)
        responder.updateRateLimit(ratePerSecond: 0, burst: 0)
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: second, count: 3), 3)
        responder.updateRateLimit(ratePerSecond: 100, burst: 10)
        XCTAssertEqual(responder.config.ratePerSecond, 100)
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: 2 * second, count: 20), 10)
    }

    func testFullTableEvictsWithoutGrowing() throws {
        var limiter = SourceRateLimiter(capacity: 8, ratePerSecond: 1, burst: 1)
        XCTAssertEqual(limiter.capacity, 8)
        for index in 0..<1_000 {
            XCTAssertTrue(limiter.allow(.v4(0x0A00_0000 + UInt32(index)), now: UInt64(index) * 1_000),
                          "a new source always starts with a full bucket")
        }
        XCTAssertEqual(limiter.capacity, 8, "never grows")
        XCTAssertLessThanOrEqual(limiter.trackedSources, 8)
        XCTAssertGreaterThan(limiter.evictions, 900)
        // The most recent source is still tracked (the stalest entries went first).
        XCTAssertFalse(limiter.allow(.v4(0x0A00_0000 + 999), now: 999 * 1_000))

        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 5, burst: 5, rateTableCapacity: 3))
        XCTAssertEqual(responder.rateLimiter.capacity, 8, "rounded up to the probe window")
        XCTAssertEqual(try answered(&responder, from: sourceV4, at: second, count: 1), 1)
    }

    func testProvedSourceHasALargerFiniteBudgetForAWhileAndIsEvictedLast() {
        var limiter = SourceRateLimiter(capacity: 8, ratePerSecond: 1, burst: 1, provenRatePerSecond: 2, provenBurst: 100)
        let site = IPAddress.v4(0xC000_0201), stranger = IPAddress.v4(0xC000_0202)
        XCTAssertTrue(limiter.allow(site, now: 0))
        XCTAssertFalse(limiter.allow(site, now: 1), "its burst is spent")
        limiter.prove(site, now: 2, for: 1_000)
        XCTAssertTrue(limiter.isProven(site, now: 500))
        XCTAssertEqual((0..<150).filter { limiter.allow(site, now: 3 + UInt64($0)) }.count, 100,
                       "the proved burst, and no more: a spoofer can forge a proved address")
        limiter.prove(site, now: 200, for: 1_000)
        XCTAssertFalse(limiter.allow(site, now: 201), "renewing a proof does not refill the bucket")
        XCTAssertFalse(limiter.allow(stranger, now: 10) && limiter.allow(stranger, now: 11), "another source keeps its budget")
        XCTAssertFalse(limiter.isProven(site, now: 1_202))
        XCTAssertFalse(limiter.allow(site, now: 1_203) && limiter.allow(site, now: 1_204), "limited again once the proof lapses")

        // A flood of new sources through a full table evicts unproved entries, never the proved one.
        var table = SourceRateLimiter(capacity: 8, ratePerSecond: 1, burst: 1, provenRatePerSecond: 10, provenBurst: 10)
        table.prove(site, now: 0, for: 1_000_000)
        for index in 0..<1_000 { _ = table.allow(.v4(0x0A00_0000 + UInt32(index)), now: UInt64(index + 1)) }
        XCTAssertTrue(table.isProven(site, now: 2_000), "the proved source survived 1,000 strangers")
        XCTAssertEqual(table.capacity, 8)

        // Disabled limiting ignores proofs.
        var off = SourceRateLimiter(capacity: 8, ratePerSecond: 0, burst: 0)
        off.prove(site, now: 0, for: 10)
        XCTAssertEqual(off.trackedSources, 0)
    }
}
