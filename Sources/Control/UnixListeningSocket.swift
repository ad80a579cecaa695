import CSystem
import Glibc
import Reactor

/// Why the control socket could not be set up.
public enum ControlServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Something answers on the socket path: another daemon is running.
    case alreadyRunning(path: String)
    /// The path exists and is not a socket; it is left alone.
    case notASocket(path: String)
    /// The path does not fit `sockaddr_un` (107 bytes).
    case pathTooLong(path: String)
    /// A system call failed: what was attempted and its errno.
    case system(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .alreadyRunning(let path): "another rtcgate is running on \(path)"
        case .notASocket(let path): "\(path) exists and is not a socket; refusing to replace it"
        case .pathTooLong(let path): "control socket path \(path) is too long (at most 107 bytes)"
        case .system(let operation, let code): "\(operation): \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// A listening, non-blocking Unix stream socket bound to a path, with the path's permissions
/// set, that unlinks its path on `close()` if the file there is still its own.
struct UnixListeningSocket {
    let fd: Int32
    let path: String
    private let device: UInt64
    private let inode: UInt64

    /// Prepares the path (parent directory, stale socket), binds, sets `mode` and the group, and
    /// listens.
    init(path: String, mode: mode_t, group: gid_t?, backlog: Int32) throws(ControlServerError) {
        guard let address = SocketAddress(unixPath: path) else { throw .pathTooLong(path: path) }
        var inherited = stat()
        if let fd = InheritedSockets.take(.unixListener, path) {
            // Handed over by the process this one replaces (docs/handover.md): the same socket,
            // at the same path, with its mode and group.
            guard lstat(path, &inherited) == 0 else {
                Glibc.close(fd)
                throw .system(operation: "stat(\(path))", errno: errno)
            }
            self.fd = fd
            self.path = path
            device = UInt64(inherited.st_dev)
            inode = UInt64(inherited.st_ino)
            return
        }
        try Self.createParentDirectory(of: path)
        try Self.removeStaleSocket(path, address: address)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .system(operation: "socket(AF_UNIX)", errno: errno) }
        var info = stat()
        do throws(ControlServerError) {
            if address.withSockAddr({ bind(fd, $0, $1) }) != 0 {
                let code = errno
                if code == EADDRINUSE { throw .alreadyRunning(path: path) }
                throw .system(operation: "bind(\(path))", errno: code)
            }
            do throws(ControlServerError) {
                if chmod(path, mode) != 0 { throw .system(operation: "chmod(\(path))", errno: errno) }
                if let group, chown(path, uid_t.max, group) != 0 {
                    throw .system(operation: "chown(\(path), group \(group))", errno: errno)
                }
                if lstat(path, &info) != 0 { throw .system(operation: "stat(\(path))", errno: errno) }
                if listen(fd, backlog) != 0 { throw .system(operation: "listen(\(path))", errno: errno) }
            } catch {
                unlink(path)
                throw error
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
        self.path = path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// Accepts one pending connection (non-blocking, close-on-exec); -1 when none is pending.
    func acceptClient() -> Int32 {
        rtcgate_accept4(fd, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
    }

    /// Closes this process's descriptor only: the successor of a handover serves the socket now.
    func relinquish() { Glibc.close(fd) }

    /// Closes the socket and removes its path, unless another file has replaced it since.
    func close() {
        Glibc.close(fd)
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode {
            unlink(path)
        }
    }

    /// Creates the missing directories above `path` with mode 0750.
    static func createParentDirectory(of path: String) throws(ControlServerError) {
        var components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        components.removeLast()
        var current = path.hasPrefix("/") ? "" : "."
        for component in components where !component.isEmpty {
            current += "/" + component
            var info = stat()
            if stat(current, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw .system(operation: "control socket directory \(current)", errno: ENOTDIR)
                }
                continue
            }
            if mkdir(current, 0o750) != 0 && errno != EEXIST {
                throw .system(operation: "mkdir(\(current))", errno: errno)
            }
        }
    }

    /// Removes a socket file nobody listens on; refuses a live socket or a file that is not a
    /// socket.
    static func removeStaleSocket(_ path: String, address: SocketAddress) throws(ControlServerError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        // Non-blocking: a listener whose backlog is full answers EAGAIN instead of blocking us.
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if probe < 0 { throw .system(operation: "socket(AF_UNIX)", errno: errno) }
        defer { Glibc.close(probe) }
        if address.withSockAddr({ connect(probe, $0, $1) }) == 0 { throw .alreadyRunning(path: path) }
        let code = errno
        if code == EAGAIN { throw .alreadyRunning(path: path) }
        guard code == ECONNREFUSED else {
            throw .system(operation: "probing the existing socket \(path)", errno: code)
        }
        if unlink(path) != 0 && errno != ENOENT { throw .system(operation: "unlink(\(path))", errno: errno) }
    }
}
