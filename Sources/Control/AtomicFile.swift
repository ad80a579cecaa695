import Glibc

/// Whole-file reads and crash-safe replacement: a reader sees the old file or the new one, never
/// a mixture, whatever moment the process or the machine stops.
enum AtomicFile {
    /// A step of `write`, for tests that make one fail.
    enum Step: Sendable, Equatable {
        case create, write, fsync, rename, fsyncDirectory
    }

    /// The temporary name used by this process for `path`.
    static func temporaryPath(for path: String) -> String { "\(path).tmp-\(getpid())" }

    /// Replaces `path` with `bytes`: a temporary file in the same directory (O_EXCL, `mode`),
    /// written in full, fsync'ed, renamed over `path`, then the directory fsync'ed. On failure the
    /// temporary file is removed and `path` is untouched (unless only the directory fsync failed).
    /// `failing` makes one step fail with the given errno (tests only).
    static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600,
                      failing: (step: Step, errno: Int32)? = nil) throws(ProvisioningError) {
        let temporary = temporaryPath(for: path)
        func fail(_ step: Step, _ operation: String, _ target: String, _ code: Int32 = errno) -> ProvisioningError {
            .io(operation: operation, path: target, errno: failing?.step == step ? failing!.errno : code)
        }
        func injected(_ step: Step) -> Bool { failing?.step == step }

        var fd = injected(.create) ? -1 : open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 && errno == EEXIST && !injected(.create) {
            // Left by an earlier process that had our pid (e.g. before a reboot).
            unlink(temporary)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        }
        if fd < 0 { throw fail(.create, "creating", temporary) }
        var closed = false
        defer { if !closed { close(fd) } }
        do throws(ProvisioningError) {
            var offset = 0
            while offset < bytes.count {
                let n = injected(.write) ? -1 : bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR && !injected(.write) { continue }
                throw fail(.write, "writing", temporary, n == 0 ? EIO : errno)
            }
            if injected(.fsync) || fsync(fd) != 0 { throw fail(.fsync, "fsync of", temporary) }
            closed = true
            if close(fd) != 0 { throw fail(.fsync, "closing", temporary) }
            if injected(.rename) || rename(temporary, path) != 0 { throw fail(.rename, "renaming \(temporary) to", path) }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(of: path, failing: injected(.fsyncDirectory) ? failing?.errno : nil)
    }

    /// fsyncs the directory holding `path`, so a rename in it survives a power loss.
    static func syncDirectory(of path: String, failing: Int32? = nil) throws(ProvisioningError) {
        let directory = parentDirectory(of: path)
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw .io(operation: "opening directory", path: directory, errno: failing ?? errno) }
        defer { close(fd) }
        if failing != nil || fsync(fd) != 0 {
            let code = failing ?? errno
            if code != EINVAL { throw .io(operation: "fsync of directory", path: directory, errno: code) }
        }
    }

    /// The whole file, or nil when it does not exist. Refuses files over `limit` bytes.
    static func read(_ path: String, limit: Int) throws(ProvisioningError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .io(operation: "opening", path: path, errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "reading", path: path, errno: errno)
            }
            bytes += chunk[0..<n]
            if bytes.count > limit { throw .refusedFile(path: path, reason: "larger than \(limit) bytes") }
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}
