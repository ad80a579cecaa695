import XCTest
@testable import Signaling

final class TokenBucketTests: XCTestCase {
    func testBurstThenRefill() {
        var b = TokenBucket(ratePerSecond: 5, capacity: 10, nowMs: 1000)
        for _ in 0..<10 { XCTAssertEqual(b.take(nowMs: 1000), .allowed) }
        XCTAssertEqual(b.take(nowMs: 1000), .limited(retryAfterMs: 200))
        XCTAssertEqual(b.take(nowMs: 1150), .limited(retryAfterMs: 50))
        XCTAssertEqual(b.take(nowMs: 1200), .allowed)
        XCTAssertEqual(b.take(nowMs: 1200), .limited(retryAfterMs: 200))
        XCTAssertEqual(b.available(nowMs: 100_000), 10)  // capped at capacity
    }

    func testRetryAfterRoundsUp() {
        var b = TokenBucket(ratePerSecond: 3, capacity: 1, nowMs: 0)
        XCTAssertEqual(b.take(nowMs: 0), .allowed)
        XCTAssertEqual(b.take(nowMs: 0), .limited(retryAfterMs: 334))  // 1000/3 = 333.3…
        XCTAssertEqual(b.take(nowMs: 333), .limited(retryAfterMs: 1))
        XCTAssertEqual(b.take(nowMs: 334), .allowed)
    }

    func testNoDriftOverManySmallSteps() {
        var b = TokenBucket(ratePerSecond: 20, capacity: 40, nowMs: 0)
        for _ in 0..<40 { XCTAssertEqual(b.take(nowMs: 0), .allowed) }
        var allowed = 0
        var t: UInt64 = 0
        for _ in 0..<10_000 {  // 10 s in 1 ms steps: exactly 200 tokens
            t += 1
            if b.take(nowMs: t) == .allowed { allowed += 1 }
        }
        XCTAssertEqual(allowed, 200)
    }

    func testClockGoingBackwardsRefillsNothing() {
        var b = TokenBucket(ratePerSecond: 1, capacity: 1, nowMs: 5000)
        XCTAssertEqual(b.take(nowMs: 5000), .allowed)
        XCTAssertEqual(b.take(nowMs: 1000), .limited(retryAfterMs: 1000))
        XCTAssertEqual(b.take(nowMs: 6000), .allowed)
    }

    func testExtremeValuesDoNotOverflow() {
        var b = TokenBucket(ratePerSecond: .max, capacity: .max, nowMs: 0)
        XCTAssertEqual(b.take(nowMs: .max), .allowed)
        var zero = TokenBucket(ratePerSecond: 0, capacity: 1, nowMs: 0)
        XCTAssertEqual(zero.take(nowMs: 0), .allowed)
        XCTAssertEqual(zero.take(nowMs: 1_000_000), .limited(retryAfterMs: .max))
    }
}
