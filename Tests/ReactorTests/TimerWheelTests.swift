import Reactor
import XCTest

private final class Recorder: TimerHandler {
    var fired: [(context: UInt64, now: UInt64)] = []
    var onFire: ((UInt64) -> Void)?
    func timerFired(context: UInt64, now: UInt64) {
        fired.append((context, now))
        onFire?(context)
    }
}

final class TimerWheelTests: XCTestCase {
    let ms: UInt64 = 1_000_000

    func testFiresInDeadlineOrderNotEarly() {
        let wheel = TimerWheel(capacity: 16, tickNanos: 10 * ms, slots: 8, now: 1_000 * ms)
        let recorder = Recorder()
        let start: UInt64 = 1_000 * ms
        wheel.schedule(at: start + 250 * ms, handler: recorder, context: 3)  // beyond one round (80 ms)
        wheel.schedule(at: start + 15 * ms, handler: recorder, context: 1)
        wheel.schedule(at: start + 40 * ms, handler: recorder, context: 2)
        wheel.advance(to: start)
        XCTAssertTrue(recorder.fired.isEmpty)
        var now = start
        while now < start + 300 * ms {
            now += 5 * ms
            wheel.advance(to: now)
        }
        XCTAssertEqual(recorder.fired.map(\.context), [1, 2, 3])
        let deadlines: [UInt64: UInt64] = [1: start + 15 * ms, 2: start + 40 * ms, 3: start + 250 * ms]
        for event in recorder.fired {
            XCTAssertGreaterThanOrEqual(event.now, deadlines[event.context]!)
            XCTAssertLessThanOrEqual(event.now, deadlines[event.context]! + 10 * ms)
        }
        XCTAssertEqual(wheel.pending, 0)
    }

    func testCancelAndStaleHandles() {
        let wheel = TimerWheel(capacity: 4, tickNanos: ms, slots: 16, now: 0)
        let recorder = Recorder()
        let a = wheel.schedule(at: 5 * ms, handler: recorder, context: 1)!
        wheel.schedule(at: 6 * ms, handler: recorder, context: 2)
        XCTAssertTrue(wheel.cancel(a))
        XCTAssertFalse(wheel.cancel(a), "second cancel of the same timer is a no-op")
        wheel.advance(to: 0)
        wheel.advance(to: 10 * ms)
        XCTAssertEqual(recorder.fired.map(\.context), [2])
        // The record of `a` is reused; the stale handle must not cancel the new timer.
        let c = wheel.schedule(at: 20 * ms, handler: recorder, context: 3)
        XCTAssertNotNil(c)
        XCTAssertFalse(wheel.cancel(a))
        wheel.advance(to: 25 * ms)
        XCTAssertEqual(recorder.fired.map(\.context), [2, 3])
    }

    func testCapacityIsFixedAndRefusalsCounted() {
        let wheel = TimerWheel(capacity: 3, tickNanos: ms, slots: 4, now: 0)
        let recorder = Recorder()
        for i in 0..<3 { XCTAssertNotNil(wheel.schedule(at: UInt64(i + 1) * ms, handler: recorder, context: UInt64(i))) }
        XCTAssertNil(wheel.schedule(at: 9 * ms, handler: recorder))
        XCTAssertEqual(wheel.refusals, 1)
        XCTAssertEqual(wheel.capacity, 3)
    }

    func testHandlerMayCancelAnotherDueTimerAndReschedule() {
        let ms = self.ms
        let wheel = TimerWheel(capacity: 8, tickNanos: ms, slots: 4, now: 0)
        let recorder = Recorder()
        wheel.advance(to: 0)
        var second: TimerID?
        recorder.onFire = { context in
            if context == 1, let second { wheel.cancel(second) }
            if context == 1 { wheel.schedule(at: 3 * ms, handler: recorder, context: 9) }
        }
        wheel.schedule(at: 2 * ms, handler: recorder, context: 1)
        second = wheel.schedule(at: 2 * ms, handler: recorder, context: 2)
        wheel.schedule(at: 2 * ms, handler: recorder, context: 3)
        wheel.advance(to: 2 * ms)
        wheel.advance(to: 4 * ms)
        let fired = recorder.fired.map(\.context)
        XCTAssertTrue(fired.contains(1) && fired.contains(3) && fired.contains(9), "\(fired)")
        XCTAssertFalse(fired.contains(2), "a timer cancelled by an earlier handler of the same tick must not fire")
    }

    func testPastDeadlineFiresOnNextAdvance() {
        let wheel = TimerWheel(capacity: 4, tickNanos: ms, slots: 8, now: 100 * ms)
        let recorder = Recorder()
        wheel.advance(to: 105 * ms)
        wheel.schedule(at: 90 * ms, handler: recorder, context: 7)  // already due
        XCTAssertEqual(wheel.nanosUntilNextDeadline(now: 105 * ms), 0)
        wheel.advance(to: 106 * ms)
        XCTAssertEqual(recorder.fired.map(\.context), [7], "not a wheel round later")
    }

    func testLateFirstAdvanceStillFires() {
        // The loop's first wake-up can come several ticks after a timer's deadline.
        let wheel = TimerWheel(capacity: 4, tickNanos: ms, slots: 8, now: 0)
        let recorder = Recorder()
        wheel.schedule(at: 3 * ms, handler: recorder, context: 1)
        wheel.advance(to: 6 * ms)
        XCTAssertEqual(recorder.fired.map(\.context), [1])
    }

    /// The wait reported must end when `advance` will really fire the timer; an earlier wake-up
    /// would make the loop spin until the tick begins.
    func testWaitEndsWhenTheTimerCanFire() {
        let wheel = TimerWheel(capacity: 4, tickNanos: 10 * ms, slots: 64, now: 0)
        let recorder = Recorder()
        wheel.schedule(at: 25 * ms, handler: recorder)  // due in tick 3, which starts at 30 ms
        var now: UInt64 = 0
        var wakeUps = 0
        while recorder.fired.isEmpty && wakeUps < 10 {
            now += wheel.nanosUntilNextDeadline(now: now) ?? 0
            wheel.advance(to: now)
            wakeUps += 1
        }
        XCTAssertEqual(wakeUps, 1, "one wake-up, no spinning")
        XCTAssertEqual(now, 30 * ms)
    }

    func testNextDeadline() {
        let wheel = TimerWheel(capacity: 4, tickNanos: ms, slots: 64, now: 0)
        XCTAssertNil(wheel.nanosUntilNextDeadline(now: 0))
        wheel.schedule(at: 30 * ms, handler: Recorder())
        let wait = wheel.nanosUntilNextDeadline(now: 10 * ms)!
        XCTAssertEqual(wait, 20 * ms)
    }
}
