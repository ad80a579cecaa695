import CBenchShim
import CSystem
import Glibc

/// Parameters of one load run, already validated.
struct LoadConfig {
    var server: ServerEndpoint
    var sockets: Int
    var window: Int
    var durationNanos: UInt64
    var warmupNanos: UInt64
    var timeoutNanos: UInt64
    var fingerprint: Bool
    var serverPid: Int32?
}

/// Counters of the measured interval (the warm-up only feeds `invalidDuringWarmup`).
struct LoadCounters {
    /// Valid Binding success responses.
    var responses: UInt64 = 0
    var sent: UInt64 = 0
    /// Requests outstanding longer than the timeout (then replaced).
    var lost: UInt64 = 0
    /// Answers to requests already counted lost (not invalid: just slow).
    var late: UInt64 = 0
    var sendErrors: UInt64 = 0
    var receiveErrors: UInt64 = 0
    /// Valid responses that carried a correct FINGERPRINT.
    var fingerprinted: UInt64 = 0
    // Invalid responses by reason.
    var badTxid: UInt64 = 0
    var badAddress: UInt64 = 0
    var notSuccess: UInt64 = 0
    var malformed: UInt64 = 0
    var badFingerprint: UInt64 = 0

    var invalid: UInt64 { badTxid + badAddress + notSuccess + malformed + badFingerprint }
}

/// Everything a run reports, measured over the interval after the warm-up.
struct LoadResult {
    var counters: LoadCounters
    var invalidDuringWarmup: UInt64
    var elapsedSeconds: Double
    var histogram: LatencyHistogram
    var generatorCPUSeconds: Double
    var serverStart: ServerSample?
    var serverEnd: ServerSample?
    var transport: String
    var sockets: Int
    var window: Int

    var requestsPerSecond: Double { elapsedSeconds > 0 ? Double(counters.responses) / elapsedSeconds : 0 }

    /// Server CPU seconds consumed during the measured interval, if known.
    var serverCPUSeconds: Double? {
        guard let s = serverStart, let e = serverEnd else { return nil }
        return e.cpuSeconds - s.cpuSeconds
    }

    /// A benchmark against a broken server must not look fine.
    var failed: Bool { counters.responses == 0 || counters.invalid > 0 || invalidDuringWarmup > 0 }
}

/// Phase bookkeeping shared by the UDP and TCP engines: warm-up, then the
/// measured interval, with resource snapshots taken at both edges.
struct MeasurementClock {
    let measureStart: UInt64
    let end: UInt64
    var measuring = false
    var actualStart: UInt64 = 0
    var cpuStart = 0.0
    var serverStart: ServerSample? = nil

    init(now: UInt64, config: LoadConfig) {
        measureStart = now + config.warmupNanos
        end = measureStart + config.durationNanos
    }

    /// The next deadline the event loop must wake up for.
    var nextPhaseEdge: UInt64 { measuring ? end : measureStart }

    /// At the end of the warm-up: takes the resource snapshots and returns true once, so the
    /// caller resets its counters and histogram.
    mutating func enterMeasurementIfDue(now: UInt64, serverPid: Int32?) -> Bool {
        guard !measuring && now >= measureStart else { return false }
        measuring = true
        serverStart = serverPid.flatMap { ServerSample.read(pid: $0) }
        cpuStart = ownCPUSeconds()
        actualStart = monotonicNanos()
        return true
    }
}

extension LoadCounters {
    /// Books the verdict on a success response whose transaction id matched.
    @inline(__always)
    mutating func record(_ verdict: StunWire.BodyVerdict, latencyNanos: UInt64, into histogram: LatencyHistogram) {
        switch verdict {
        case .ok(let fingerprinted):
            responses += 1
            if fingerprinted { self.fingerprinted += 1 }
            histogram.record(nanos: latencyNanos)
        case .malformed: malformed += 1
        case .badFingerprint: badFingerprint += 1
        case .badAddress: badAddress += 1
        }
    }
}

/// Sends `headers[0..<count]` on `fd` with sendmmsg, continuing after partial sends and EINTR;
/// returns how many datagrams went out (the rest failed).
func sendDatagrams(_ fd: Int32, _ headers: UnsafeMutablePointer<rtcgate_mmsghdr>, count: Int) -> Int {
    var done = 0
    while done < count {
        let sent = rtcgate_sendmmsg(fd, headers + done, UInt32(count - done), 0)
        if sent < 0 {
            if errno == EINTR { continue }
            break
        }
        done += Int(sent)
    }
    return done
}

/// The schedule every closed-loop engine runs: warm-up, then the measured interval; epoll
/// wake-ups bounded by the next timeout scan and the next phase edge; stops at the deadline (or
/// earlier when `keepGoing` turns false). The engine supplies what happens at each step.
/// Returns the clock, with its measurement edges filled in.
/// With `pace`, the loop also wakes at least every millisecond and calls it (open-loop sending).
func runClosedLoop(epfd: Int32, config: LoadConfig, tokens: UnsafeMutablePointer<UInt32>, masks: UnsafeMutablePointer<UInt32>,
                   keepGoing: () -> Bool = { true }, onMeasurementStart: () -> Void,
                   onEvent: (UInt32) -> Void, onScan: (UInt64) -> Void, pace: ((UInt64) -> Void)? = nil) -> MeasurementClock {
    var now = monotonicNanos()
    var clock = MeasurementClock(now: now, config: config)
    let scanInterval = max(1_000_000, min(config.timeoutNanos / 4, 20_000_000))
    var nextScan = now + scanInterval
    while now < clock.end && keepGoing() {
        if clock.enterMeasurementIfDue(now: now, serverPid: config.serverPid) { onMeasurementStart() }
        let wake = min(nextScan, clock.nextPhaseEdge)
        let waitMs = wake > now ? Int32(min((wake - now + 999_999) / 1_000_000, pace == nil ? 1000 : 1)) : 0
        let n = rb_epoll_wait(epfd, tokens, masks, 256, waitMs)
        if n > 0 { for e in 0..<Int(n) { onEvent(tokens[e]) } }
        now = monotonicNanos()
        pace?(now)
        if now >= nextScan {
            onScan(now)
            nextScan = now + scanInterval
        }
    }
    if !clock.measuring {
        clock.actualStart = monotonicNanos()
        clock.cpuStart = ownCPUSeconds()
    }
    return clock
}
