import Glibc
import Reactor
import XCTest

// How tests wait. Every wait is bounded. A wait for something that must happen fails the test
// at the caller's line when it does not (`waitUntil`); `holds(within:)` only reports, for a test
// that expects the thing NOT to happen or decides itself what a timeout means; `runLoop(_:for:)`
// lets an event loop turn for a fixed time, for the few waits that have nothing to poll.

/// Polls `condition` (every 5 ms) until it holds or `timeout` seconds pass. On timeout the
/// test fails at the caller's line with `message`; returns whether the condition held.
@discardableResult
public func waitUntil(_ message: @autoclosure () -> String = "condition not met", timeout: Double = 5,
                      file: StaticString = #filePath, line: UInt = #line, _ condition: () throws -> Bool) rethrows -> Bool {
    if try holds(within: timeout, condition) { return true }
    XCTFail("timed out after \(timeout) s: \(message())", file: file, line: line)
    return false
}

/// As `waitUntil`, running `loop` between checks (for tests that drive an event loop on the
/// test thread).
@discardableResult
public func waitUntil(_ loop: EventLoop, _ message: @autoclosure () -> String = "condition not met", timeout: Double = 5,
                      file: StaticString = #filePath, line: UInt = #line, _ condition: () throws -> Bool) rethrows -> Bool {
    if try holds(within: timeout, loop: loop, condition) { return true }
    XCTFail("timed out after \(timeout) s: \(message())", file: file, line: line)
    return false
}

/// Whether `condition` holds within `timeout` seconds (polled every 5 ms, running `loop` in
/// between when given). Never fails the test.
public func holds(within timeout: Double, loop: EventLoop? = nil, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
    while true {
        if try condition() { return true }
        let now = MonotonicClock.now()
        if now >= deadline { return false }
        let step = min(deadline - now, 5_000_000)
        if let loop {
            loop.runOnce(maxWaitNanos: step)
        } else {
            usleep(UInt32(step / 1_000))
        }
    }
}

/// Runs `loop` for `seconds`, expecting nothing: to let traffic that has no observable end
/// settle, or to give something that must NOT happen the time to show.
public func runLoop(_ loop: EventLoop, for seconds: Double) {
    _ = holds(within: seconds, loop: loop) { false }
}

/// Whether `fd` has data to read (or an end of file) now, without blocking.
public func isReadable(_ fd: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, 0) == 1
}
