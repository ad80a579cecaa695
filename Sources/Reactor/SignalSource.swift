import CSystem
import Glibc

/// Delivers SIGTERM, SIGINT and SIGHUP through a signalfd registered with an event loop, so signal
/// handling is ordinary loop code (no async-signal-safety concerns).
///
/// Call `blockSignals()` on the main thread before any other thread starts, so no thread
/// receives them asynchronously.
public final class SignalSource: EventHandler {
    /// The signals rtcgate handles.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR2]

    private let fd: Int32
    private let onSignal: (Int32) -> Void
    private var registration: Registration?

    /// Blocks the handled signals (and SIGPIPE, which becomes EPIPE) in the calling thread and
    /// every thread it starts afterwards.
    public static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    public init(loop: EventLoop, onSignal: @escaping (Int32) -> Void) throws(SystemError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Self.handled { sigaddset(&set, signal) }
        fd = signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
        if fd < 0 { throw SystemError("signalfd") }
        self.onSignal = onSignal
        registration = try loop.register(fd: fd, events: EPOLLIN.rawValue, handler: self)
    }

    deinit { close(fd) }

    public func handleEvents(_ events: UInt32, loop: EventLoop) {
        var info = signalfd_siginfo()
        while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            onSignal(Int32(info.ssi_signo))
        }
    }
}
