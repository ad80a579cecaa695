import CBenchShim
import Glibc
import Reactor

/// How the measured messages travel.
enum SignalMode: String, CaseIterable {
    /// Client → `up` → rtcgate → `down` → peer.
    case gateway
    /// The gateway user's connection → `down` → client: the broker hop alone (the baseline).
    case direct
}

/// Everything one measured phase counts; filled by the load loop and the clients' callbacks
/// (one thread: the event loop's).
final class PhaseStats {
    let mode: SignalMode
    /// The measured interval, in ns since the run's epoch: a message counts when its send time
    /// (`ts`, also carried in its body) falls inside it.
    let measureStart: UInt64
    let measureEnd: UInt64
    let histogram = LatencyHistogram()

    var sent: UInt64 = 0
    var delivered: UInt64 = 0
    /// Sent and delivered in warm-up (or after the interval); not in the figures.
    var sentOutside: UInt64 = 0
    var deliveredOutside: UInt64 = 0
    /// QoS 1 redeliveries of a `seq` already seen.
    var duplicates: UInt64 = 0
    /// CANDIDATES from someone other than the receiver's peer, or without `ts`/`seq`.
    var unexpected: UInt64 = 0
    /// Publishes the MQTT client refused (not connected, or too many unacknowledged).
    var sendDrops: UInt64 = 0
    /// STATUS errors by name (rate-limited included), and rate-limited alone: all received while
    /// the phase ran (warm-up and drain included; a STATUS carries no send time).
    var statusErrors: [String: UInt64] = [:]
    var rateLimited: UInt64 = 0
    /// Other messages from rtcgate (PEER_STATUS, END, GO_AWAY…) by type.
    var otherMessages: [String: UInt64] = [:]
    /// Largest delay between a message's scheduled time and its publish (generator lag).
    var maxLagNanos: UInt64 = 0
    /// Offered rate (msg/s) and pairs carrying it.
    var offeredRate = 0.0
    var pairs = 0

    /// The measured interval (the `ts` window), seconds.
    var elapsedSeconds = 0.0
    /// Wall time between the CPU/RSS samples taken at its start and end, seconds.
    var sampleSeconds = 0.0
    var generatorCPUSeconds = 0.0
    var serverStart: ServerSample?
    var serverEnd: ServerSample?
    var brokerStart: ServerSample?
    var brokerEnd: ServerSample?

    init(mode: SignalMode, measureStart: UInt64, measureEnd: UInt64) {
        self.mode = mode
        self.measureStart = measureStart
        self.measureEnd = measureEnd
    }

    func isMeasured(ts: UInt64) -> Bool { ts >= measureStart && ts < measureEnd }

    var lost: UInt64 { sent > delivered ? sent - delivered : 0 }
    var deliveredPerSecond: Double { elapsedSeconds > 0 ? Double(delivered) / elapsedSeconds : 0 }

    func noteStatus(error: String) {
        statusErrors[error, default: 0] += 1
        if error == "rate-limited" { rateLimited += 1 }
    }

    /// Cores a process used over the measured interval (CPU seconds / wall seconds).
    func cores(_ start: ServerSample?, _ end: ServerSample?) -> Double? {
        guard let start, let end, sampleSeconds > 0 else { return nil }
        return (end.cpuSeconds - start.cpuSeconds) / sampleSeconds
    }

    var serverCores: Double? { cores(serverStart, serverEnd) }
    var brokerCores: Double? { cores(brokerStart, brokerEnd) }
    var generatorCores: Double { sampleSeconds > 0 ? generatorCPUSeconds / sampleSeconds : 0 }
}

/// The `seq` values one client has received from its peer (a growable bit set), to tell
/// QoS 1 duplicates from new messages.
struct SeqSet {
    private var words: [UInt64] = []

    /// Inserts `seq`; false when it was already there.
    mutating func insert(_ seq: UInt64) -> Bool {
        let word = Int(seq >> 6), bit = UInt64(1) << (seq & 63)
        guard word < 1 << 26 else { return true }  // absurd seq: do not grow without bound
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 64)) }
        if words[word] & bit != 0 { return false }
        words[word] |= bit
        return true
    }
}

/// Wakes the event loop at an exact CLOCK_MONOTONIC time (a timerfd), so that messages leave on
/// their schedule instead of in bursts at the loop's millisecond epoll time-outs.
final class ScheduleTimer: EventHandler {
    private let fd: Int32
    private var registration: Registration?

    init(loop: EventLoop) throws {
        fd = rb_timerfd_create()
        guard fd >= 0 else { throw BenchError.posix("timerfd_create") }
        do {
            registration = try loop.register(fd: fd, events: rb_epollin(), handler: self)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Fires once at `monotonicNanos` (re-arming replaces the previous deadline).
    func arm(at monotonicNanos: UInt64) { _ = rb_timerfd_arm(fd, monotonicNanos) }

    func handleEvents(_ events: UInt32, loop: EventLoop) {
        var expirations: UInt64 = 0
        _ = read(fd, &expirations, 8)
    }

    /// Deregisters (the loop holds the timer strongly until then) and closes the descriptor.
    func close(loop: EventLoop) {
        if let registration { loop.deregister(registration) }
        registration = nil
        Glibc.close(fd)
    }
}
