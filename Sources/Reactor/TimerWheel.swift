/// Something a timer calls when it fires.
public protocol TimerHandler: AnyObject {
    /// `context` is the value given to `schedule`; `now` the loop's monotonic time in ns.
    func timerFired(context: UInt64, now: UInt64)
}

/// A handle to a scheduled timer; stale handles (fired or cancelled) are ignored by `cancel`.
public struct TimerID: Hashable, Sendable {
    @usableFromInline let index: Int32
    @usableFromInline let generation: UInt32
}

/// A hashed timer wheel with a fixed number of timer records, allocated at start-up.
///
/// Scheduling and cancelling are O(1); `advance` visits only the slots whose ticks have passed.
/// When every record is in use, `schedule` returns nil and counts the refusal, so a flood of
/// timers can never grow memory.
public final class TimerWheel {
    /// The wheel's resolution: timers fire at most one tick late.
    public let tickNanos: UInt64
    /// How many `schedule` calls were refused because all records were in use.
    public private(set) var refusals: UInt64 = 0
    /// Timers currently pending.
    public private(set) var pending = 0

    private let slotCount: Int
    private var slotHeads: [Int32]
    private var deadlines: [UInt64]
    private var contexts: [UInt64]
    private var handlers: [TimerHandler?]
    private var next: [Int32]
    private var prev: [Int32]
    private var slotOf: [Int32]
    private var generations: [UInt32]
    private var freeHead: Int32
    /// The last tick `advance` has processed.
    private var currentTick: UInt64

    /// - Parameters:
    ///   - capacity: the most timers that can be pending at once.
    ///   - tickNanos: resolution (default 10 ms).
    ///   - slots: wheel size; timers further than `slots` ticks away wait extra rounds.
    ///   - now: the monotonic time the wheel starts at.
    public init(capacity: Int, tickNanos: UInt64 = 10_000_000, slots: Int = 512, now: UInt64 = MonotonicClock.now()) {
        precondition(capacity > 0 && slots > 0 && tickNanos > 0)
        self.tickNanos = tickNanos
        slotCount = slots
        slotHeads = Array(repeating: -1, count: slots)
        deadlines = Array(repeating: 0, count: capacity)
        contexts = Array(repeating: 0, count: capacity)
        handlers = Array(repeating: nil, count: capacity)
        next = (0..<Int32(capacity)).map { $0 + 1 < Int32(capacity) ? $0 + 1 : -1 }
        prev = Array(repeating: -1, count: capacity)
        slotOf = Array(repeating: -1, count: capacity)
        generations = Array(repeating: 0, count: capacity)
        freeHead = 0
        currentTick = now / tickNanos
    }

    /// The most timers that can be pending at once.
    public var capacity: Int { deadlines.count }

    /// Calls `handler.timerFired(context:now:)` once, no earlier than `deadline` (monotonic ns).
    @discardableResult
    public func schedule(at deadline: UInt64, handler: TimerHandler, context: UInt64 = 0) -> TimerID? {
        guard freeHead >= 0 else {
            refusals &+= 1
            return nil
        }
        let i = freeHead
        freeHead = next[Int(i)]
        deadlines[Int(i)] = deadline
        contexts[Int(i)] = context
        handlers[Int(i)] = handler
        // A deadline at or before the processed tick goes in the next slot to be visited.
        // Processing tick t means now ≥ t × tickNanos, so a timer belongs to the tick its
        // deadline rounds up to.
        let tick = max(dueTick(deadline), currentTick + 1)
        link(i, slot: Int(tick % UInt64(slotCount)))
        pending += 1
        return TimerID(index: i, generation: generations[Int(i)])
    }

    /// Cancels a pending timer; returns false when it already fired or was cancelled.
    @discardableResult
    public func cancel(_ id: TimerID) -> Bool {
        let i = Int(id.index)
        guard i < capacity, generations[i] == id.generation, slotOf[i] != -1 else { return false }
        if slotOf[i] == Self.firingMark {
            handlers[i] = nil  // detached for firing in this advance: just silence it
            return true
        }
        unlink(id.index)
        retire(id.index)
        return true
    }

    /// Nanoseconds from `now` until `advance` will fire the earliest pending timer (the start of
    /// its due tick), or nil when none is pending. Scans the wheel one round ahead, then every
    /// pending timer for a far deadline.
    public func nanosUntilNextDeadline(now: UInt64) -> UInt64? {
        guard pending > 0 else { return nil }
        let nowTick = now / tickNanos
        let firstTick = min(currentTick + 1, nowTick)  // overdue slots first
        var step: UInt64 = 0  // a while loop: a UInt64 range would allocate in debug builds
        while step < UInt64(slotCount) {
            var i = slotHeads[Int((firstTick + step) % UInt64(slotCount))]
            var earliest = UInt64.max
            while i >= 0 {
                earliest = min(earliest, deadlines[Int(i)])
                i = next[Int(i)]
            }
            if earliest != .max, dueTick(earliest) <= firstTick + step {
                // `advance` fires a timer once its due tick has begun, not at its exact deadline:
                // waking before then would only spin.
                let fireAt = dueTick(earliest) * tickNanos
                return fireAt > now ? fireAt - now : 0
            }
            step += 1
        }
        // Nothing due within a round: the earliest pending deadline, so a far timer (a summary a
        // minute out) costs one wake-up, not one per round.
        var earliest = UInt64.max
        for head in slotHeads {
            var i = head
            while i >= 0 {
                earliest = min(earliest, deadlines[Int(i)])
                i = next[Int(i)]
            }
        }
        let fireAt = dueTick(earliest) * tickNanos
        return fireAt > now ? fireAt - now : 0
    }

    /// Fires every timer whose deadline is at or before `now`.
    public func advance(to now: UInt64) {
        let nowTick = now / tickNanos
        let startTick = currentTick + 1
        guard startTick <= nowTick else { return }
        // A long stall visits each slot once, not each missed tick.
        let firstTick = nowTick - startTick >= UInt64(slotCount) ? nowTick - UInt64(slotCount) + 1 : startTick
        var tick = firstTick
        while tick <= nowTick {
            fireDue(slot: Int(tick % UInt64(slotCount)), now: now)
            tick += 1
        }
        currentTick = nowTick
    }

    private func dueTick(_ deadline: UInt64) -> UInt64 { deadline / tickNanos + (deadline % tickNanos == 0 ? 0 : 1) }

    private func fireDue(slot: Int, now: UInt64) {
        // Detach every due timer first, so handlers may schedule or cancel freely while firing.
        var firing: Int32 = -1
        var i = slotHeads[slot]
        while i >= 0 {
            let following = next[Int(i)]
            if deadlines[Int(i)] <= now {
                unlink(i)
                slotOf[Int(i)] = Self.firingMark
                next[Int(i)] = firing
                firing = i
            }
            i = following
        }
        while firing >= 0 {
            let current = firing
            firing = next[Int(current)]
            let handler = handlers[Int(current)]
            let context = contexts[Int(current)]
            slotOf[Int(current)] = -1
            retire(current)
            handler?.timerFired(context: context, now: now)
        }
    }

    private static let firingMark: Int32 = -2

    private func link(_ i: Int32, slot: Int) {
        let head = slotHeads[slot]
        next[Int(i)] = head
        prev[Int(i)] = -1
        if head >= 0 { prev[Int(head)] = i }
        slotHeads[slot] = i
        slotOf[Int(i)] = Int32(slot)
    }

    private func unlink(_ i: Int32) {
        let slot = Int(slotOf[Int(i)])
        let p = prev[Int(i)]
        let n = next[Int(i)]
        if p >= 0 { next[Int(p)] = n } else { slotHeads[slot] = n }
        if n >= 0 { prev[Int(n)] = p }
        slotOf[Int(i)] = -1
    }

    private func retire(_ i: Int32) {
        handlers[Int(i)] = nil
        generations[Int(i)] &+= 1
        next[Int(i)] = freeHead
        freeHead = i
        pending -= 1
    }
}
