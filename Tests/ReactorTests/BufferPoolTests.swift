import Reactor
import XCTest

final class BufferPoolTests: XCTestCase {
    func testSlotsAreDistinctAlignedAndHaveHeadroom() {
        let pool = BufferPool(capacity: 8, slotSize: 2000, headroom: 64)
        XCTAssertEqual(pool.slotSize, 2048, "slot size rounds up to a cache line")
        var seen = Set<Int>()
        for _ in 0..<8 {
            let slot = try! XCTUnwrap(pool.acquire())
            let base = Int(bitPattern: pool.base(of: slot))
            XCTAssertEqual(base % 64, 0)
            XCTAssertEqual(Int(bitPattern: pool.payload(of: slot).baseAddress!) - base, 64)
            XCTAssertEqual(pool.payload(of: slot).count, 2048 - 64)
            XCTAssertTrue(seen.insert(base).inserted)
        }
        XCTAssertEqual(pool.used, 8)
    }

    func testExhaustionIsCountedNotFatal() {
        let pool = BufferPool(capacity: 2, slotSize: 256, headroom: 16)
        let a = pool.acquire(), b = pool.acquire()
        XCTAssertNotNil(a)
        XCTAssertNotNil(b)
        XCTAssertNil(pool.acquire())
        XCTAssertNil(pool.acquire())
        XCTAssertEqual(pool.exhaustions, 2)
        XCTAssertEqual(pool.lowWaterMark, 0)
        pool.release(a!)
        XCTAssertEqual(pool.acquire(), a, "a released slot is handed out again")
    }

    func testDoubleReleaseIsCountedAndIgnored() {
        let pool = BufferPool(capacity: 2, slotSize: 256, headroom: 16)
        let a = pool.acquire()!
        pool.release(a)
        pool.release(a)
        pool.release(BufferSlot(index: 99))
        XCTAssertEqual(pool.invalidReleases, 2)
        XCTAssertEqual(pool.used, 0)
        XCTAssertNotNil(pool.acquire())
        XCTAssertNotNil(pool.acquire())
        XCTAssertNil(pool.acquire(), "a double release must not create a third slot")
    }
}
