import CSystem
import Glibc
import Synchronization

/// Something the event loop calls when its file descriptor is ready.
public protocol EventHandler: AnyObject {
    /// `events` is the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP …).
    func handleEvents(_ events: UInt32, loop: EventLoop)
}

/// A registration of one descriptor with an `EventLoop`.
public struct Registration: Hashable, Sendable {
    public let fd: Int32
    @usableFromInline let slot: UInt32
}

/// Wakes or stops an event loop from any thread.
public final class LoopWaker: Sendable {
    @usableFromInline let eventFD: Int32
    private let stopRequested = Atomic<Bool>(false)

    init() throws(SystemError) {
        eventFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if eventFD < 0 { throw SystemError("eventfd") }
    }

    deinit { close(eventFD) }

    /// Interrupts the loop's current wait.
    public func wake() {
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
    }

    /// Asks the loop to return from `run()` after its current iteration.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }

    func drain() {
        var value: UInt64 = 0
        _ = read(eventFD, &value, 8)
    }
}

/// One epoll loop with a timer wheel. Every socket of a thread is driven from here; handlers run
/// on the loop's thread, one at a time, so no state they touch needs a lock.
public final class EventLoop {
    /// The loop's timers.
    public let timers: TimerWheel
    /// Use from any thread to wake or stop this loop.
    public let waker: LoopWaker

    private let epollFD: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity: Int32
    private var handlers: [EventHandler?]
    private var descriptors: [Int32]
    private var freeSlots: [UInt32]
    private static let wakerSlot = UInt64(UInt32.max)

    /// - Parameters:
    ///   - maxRegistrations: descriptors this loop can watch at once (fixed at start-up).
    ///   - timerCapacity: timers that can be pending at once.
    public init(maxRegistrations: Int = 1024, timerCapacity: Int = 4096, tickNanos: UInt64 = 10_000_000) throws(SystemError) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epollFD < 0 { throw SystemError("epoll_create1") }
        eventCapacity = 256
        events = .allocate(capacity: Int(eventCapacity))
        handlers = Array(repeating: nil, count: maxRegistrations)
        descriptors = Array(repeating: -1, count: maxRegistrations)
        freeSlots = (0..<UInt32(maxRegistrations)).reversed()
        timers = TimerWheel(capacity: timerCapacity, tickNanos: tickNanos)
        waker = try LoopWaker()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakerSlot
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, waker.eventFD, &event) != 0 { throw SystemError("epoll_ctl") }
    }

    deinit {
        close(epollFD)
        events.deallocate()
    }

    /// Watches `fd` for `events` (EPOLLIN, EPOLLOUT…); the handler is held strongly until
    /// `deregister`.
    public func register(fd: Int32, events mask: UInt32, handler: EventHandler) throws(SystemError) -> Registration {
        guard let slot = freeSlots.popLast() else { throw SystemError("register", code: ENFILE) }
        var event = epoll_event()
        event.events = mask
        event.data.u64 = UInt64(slot)
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
            let code = errno
            freeSlots.append(slot)
            throw SystemError("epoll_ctl(ADD)", code: code)
        }
        handlers[Int(slot)] = handler
        descriptors[Int(slot)] = fd
        return Registration(fd: fd, slot: slot)
    }

    /// Changes the event mask of a registration.
    public func modify(_ registration: Registration, events mask: UInt32) throws(SystemError) {
        var event = epoll_event()
        event.events = mask
        event.data.u64 = UInt64(registration.slot)
        if epoll_ctl(epollFD, EPOLL_CTL_MOD, registration.fd, &event) != 0 { throw SystemError("epoll_ctl(MOD)") }
    }

    /// Stops watching; call before closing the descriptor.
    public func deregister(_ registration: Registration) {
        let slot = Int(registration.slot)
        guard slot < handlers.count, descriptors[slot] == registration.fd else { return }
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.fd, nil)
        handlers[slot] = nil
        descriptors[slot] = -1
        freeSlots.append(registration.slot)
    }

    /// Number of descriptors currently registered.
    public var registrationCount: Int { handlers.count - freeSlots.count }

    /// Runs until `waker.stop()` is called.
    /// Between events and timers it sleeps in epoll_wait without a timeout: `stop()` wakes it
    /// through the waker, so an idle loop never wakes on its own.
    public func run() {
        while !waker.isStopRequested {
            runOnce(maxWaitNanos: nil)
        }
    }

    /// Waits at most until the next timer (or `maxWaitNanos`; nil = no limit), dispatches ready
    /// handlers and due timers.
    public func runOnce(maxWaitNanos: UInt64?) {
        let now = MonotonicClock.now()
        let timeoutMs: Int32
        switch (timers.nanosUntilNextDeadline(now: now), maxWaitNanos) {
        case (nil, nil): timeoutMs = -1
        case (let next?, nil): timeoutMs = Int32(clamping: (next + 999_999) / 1_000_000)
        case (let next, let limit?): timeoutMs = Int32(clamping: (min(next ?? limit, limit) + 999_999) / 1_000_000)
        }
        let count = epoll_wait(epollFD, events, eventCapacity, timeoutMs)
        if count > 0 {
            for i in 0..<Int(count) {
                let event = events[i]
                if event.data.u64 == Self.wakerSlot {
                    waker.drain()
                    continue
                }
                let slot = Int(event.data.u64)
                guard slot < handlers.count, let handler = handlers[slot] else { continue }
                handler.handleEvents(event.events, loop: self)
            }
        }
        timers.advance(to: MonotonicClock.now())
    }
}
