import MallocCounter
import STUN
import XCTest

/// A class whose instances must live on the heap (positive control).
private final class HeapBox {
    var value: Int
    init(_ value: Int) { self.value = value }
}

/// Keeps a value alive beyond the optimizer's reach.
nonisolated(unsafe) private var sink: Any?

@inline(never)
private func escape(_ value: Any) {
    sink = value
}

final class AllocationTests: XCTestCase {
    /// Positive control: the interposed malloc really counts this thread's allocations, so
    /// the zero-allocation test below cannot pass vacuously.
    func testCounterSeesAllocations() {
        XCTAssertEqual(rtcgate_malloc_counter_linked(), 1)
        let before = rtcgate_malloc_count()
        // Escaping through a non-inlined sink keeps the optimizer from stack-promoting these.
        escape(HeapBox(42))
        escape([Int](repeating: 7, count: 1000))
        let after = rtcgate_malloc_count()
        XCTAssertGreaterThanOrEqual(after - before, 2, "class instance and array buffer must be counted")

        // A direct malloc call from Swift (resolved through libc's PLT) is counted exactly once.
        let beforeRaw = rtcgate_malloc_count()
        let raw = malloc(64)
        let afterRaw = rtcgate_malloc_count()
        escape(raw as Any)  // otherwise LLVM may elide the malloc/free pair in release builds
        sink = nil
        free(raw)
        XCTAssertEqual(afterRaw - beforeRaw, 1)
    }

    /// 100,000 varied Binding requests through `handle` with pre-allocated buffers: zero mallocs.
    func testHandleDoesNotAllocate() throws {
        // Pre-build a pool of requests: v4/v6 sources, with/without FINGERPRINT, cookie-less,
        // 420-triggering and 400-triggering ones, plus drops.
        var requests: [[UInt8]] = []
        for index in 0..<32 {
            let fingerprint = index % 2 == 0
            requests.append(try buildMessage { b in
                if index % 3 == 0 { try b.appendUInt32(.priority, UInt32(index)) }
                if index % 5 == 0 { try b.appendUInt32(AttributeType(rawValue: 0x0003), 0) }  // CHANGE-REQUEST → 420
                if fingerprint { try b.appendFingerprint() }
            })
        }
        requests.append(try buildMessage(cookieField: 0x0102_0304))
        var malformed = try buildMessage { b in try b.appendUInt32(.priority, 1) }
        malformed[22] = 0x00
        malformed[23] = 0x40  // attribute overruns → 400
        requests.append(malformed)
        var badFingerprint = try buildMessage { b in try b.appendFingerprint() }
        badFingerprint[badFingerprint.count - 1] ^= 1
        requests.append(badFingerprint)
        requests.append([0xFF, 0x00, 0x00])

        var sourceList: [TransportAddress] = []
        for index in 0..<64 {
            if index % 2 == 0 {
                let ip = IPAddress.v4(0xC000_0200 | UInt32(index))
                sourceList.append(TransportAddress(ip: ip, port: UInt16(1000 + index)))
            } else {
                let ip = IPAddress.v6(0x2001_0db8_0000_0000 | UInt64(index) << 16, UInt64(index))
                sourceList.append(TransportAddress(ip: ip, port: 3478))
            }
        }

        // Pre-allocated, manually managed buffers: the measured loop touches no Swift arrays.
        let total = requests.reduce(0) { $0 + $1.count }
        let pool = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 8)
        defer { pool.deallocate() }
        let offsets = UnsafeMutableBufferPointer<Int>.allocate(capacity: requests.count + 1)
        defer { offsets.deallocate() }
        var cursor = 0
        for (index, request) in requests.enumerated() {
            offsets[index] = cursor
            request.withUnsafeBytes { pool.baseAddress!.advanced(by: cursor).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            cursor += request.count
        }
        offsets[requests.count] = cursor
        let sources = UnsafeMutableBufferPointer<TransportAddress>.allocate(capacity: sourceList.count)
        defer { sources.deallocate() }
        _ = sources.initialize(from: sourceList)
        let response = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 8)
        defer { response.deallocate() }

        let config = BindingResponderConfig(ratePerSecond: 1_000_000, burst: 1_000_000, rateTableCapacity: 256,
                                            software: "rtcgate")
        var responder = BindingResponder(config: config)
        let requestCount = requests.count
        var now: UInt64 = 1_000_000_000

        func run(_ iterations: Int) -> (replies: Int, drops: Int) {
            var replies = 0
            var drops = 0
            for iteration in 0..<iterations {
                let which = iteration % requestCount
                let request = UnsafeRawBufferPointer(rebasing: pool[offsets[which]..<offsets[which + 1]])
                let source = sources[iteration % sources.count]
                now &+= 1_000
                switch responder.handle(request, from: source, now: now, into: response) {
                case .reply: replies += 1
                case .drop: drops += 1
                }
            }
            return (replies, drops)
        }

        _ = run(1_000)  // warm-up: lazy globals, type metadata, the CRC table
        let before = rtcgate_malloc_count()
        let (replies, drops) = run(100_000)
        let after = rtcgate_malloc_count()
        XCTAssertEqual(after - before, 0, "BindingResponder.handle allocated")

        XCTAssertGreaterThan(replies, 90_000)
        XCTAssertGreaterThan(drops, 0)
        XCTAssertGreaterThan(responder.counters.errors420, 0)
        XCTAssertGreaterThan(responder.counters.errors400, 0)
        XCTAssertGreaterThan(responder.counters.drops[.badFingerprint], 0)
    }
}
