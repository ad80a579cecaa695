import CSystem
import Glibc

/// A joinable POSIX thread running one closure: each media worker's event loop runs on one.
public final class WorkerThread: Sendable {
    private let handle: pthread_t

    private final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread named `name` (at most 15 bytes are kept by the kernel).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let threadName = String(name.utf8.prefix(15)) ?? "worker"
        let box = Unmanaged.passRetained(Box {
            rtcgate_set_thread_name(threadName)
            body()
        }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if result != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError("pthread_create", code: result)
        }
        handle = thread
    }

    /// Waits for the thread to finish.
    public func join() {
        pthread_join(handle, nil)
    }
}
