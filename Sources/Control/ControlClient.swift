import Glibc
import JSON
import Reactor

/// Why a control call failed. `exitCode` is the stable process exit code of `rtcgate ctl`.
public enum ControlClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No socket at the path, or nobody listening on it (ENOENT, ECONNREFUSED).
    case notRunning(path: String)
    /// The socket's permissions (EACCES) or the daemon's peer check (`forbidden`) refused us.
    case permissionDenied(path: String, detail: String)
    /// No complete response before the deadline.
    case timeout(path: String, seconds: Double)
    /// The daemon's answer was not a valid protocol v1 response, or the connection broke.
    case protocolError(String)
    /// The daemon answered with an error.
    case remote(code: ControlErrorCode, message: String)

    /// 1 remote error, 3 not running, 4 permission denied, 5 timeout or protocol error
    /// (0 is success and 2 a usage error, decided by the command line parser).
    public var exitCode: Int32 {
        switch self {
        case .remote: 1
        case .notRunning: 3
        case .permissionDenied: 4
        case .timeout, .protocolError: 5
        }
    }

    public var description: String {
        switch self {
        case .notRunning(let path): "rtcgate is not running (no control socket at \(path))"
        case .permissionDenied(let path, let detail): "permission denied on \(path): \(detail)"
        case .timeout(let path, let seconds): "no answer from rtcgate on \(path) within \(seconds) s"
        case .protocolError(let detail): "control protocol error: \(detail)"
        case .remote(let code, let message): "\(code.rawValue): \(message)"
        }
    }
}

/// The process exit codes of `rtcgate ctl`.
public enum ControlExitCode {
    public static let ok: Int32 = 0
    public static let remoteError: Int32 = 1
    public static let usage: Int32 = 2
    public static let notRunning: Int32 = 3
    public static let permissionDenied: Int32 = 4
    public static let timeoutOrProtocol: Int32 = 5
}

/// A blocking client of the control socket for `rtcgate ctl` and scripts: one connection per
/// call, `poll` with an overall deadline, no threads.
public struct ControlClient: Sendable {
    /// The control socket path.
    public let path: String
    /// Largest response line accepted.
    public var maxResponseBytes = 64 * 1024 * 1024

    public init(path: String) { self.path = path }

    /// Sends `command` with `args` and returns the `result` of an ok response.
    public func call(_ command: String, args: JSONValue = .object([]), timeout: Double = 10) throws(ControlClientError) -> JSONValue {
        let request = ControlRequest(id: .number(JSONNumber(Int(getpid()))), command: command, args: args)
        let response = try send(request, timeout: timeout)
        switch response.outcome {
        case .ok(let result): return result
        case .error(.forbidden, let message): throw .permissionDenied(path: path, detail: message)
        case .error(let code, let message): throw .remote(code: code, message: message)
        }
    }

    /// Sends one request and returns the daemon's response, ok or error. A `busy`, `forbidden` or
    /// `too-large` line sent by the daemon as it closes the connection is returned as the response.
    public func send(_ request: ControlRequest, timeout: Double) throws(ControlClientError) -> ControlResponse {
        let deadline = MonotonicClock.now() + UInt64(max(0, timeout) * 1e9)
        let fd = try connect()
        defer { close(fd) }
        try write(request.serialized(), to: fd, deadline: deadline, timeout: timeout)
        let line = try readLine(from: fd, deadline: deadline, timeout: timeout)
        let response: ControlResponse
        do throws(ControlFailure) {
            response = try ControlResponse.parse(line)
        } catch {
            throw .protocolError(error.message)
        }
        guard response.id == request.id || response.id.isNull else {
            throw .protocolError("response id \(response.id.jsonText) does not match request id \(request.id.jsonText)")
        }
        return response
    }

    private func connect() throws(ControlClientError) -> Int32 {
        guard let address = SocketAddress(unixPath: path) else { throw .protocolError("socket path too long: \(path)") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .protocolError("socket: \(Self.errorText(errno))") }
        if address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0 { return fd }
        let code = errno
        close(fd)
        switch code {
        case ENOENT, ECONNREFUSED, ENOTDIR: throw .notRunning(path: path)
        case EACCES, EPERM: throw .permissionDenied(path: path, detail: socketAccessHint())
        case EAGAIN: throw .remote(code: .busy, message: "the control socket's backlog is full; try again")
        default: throw .protocolError("connect(\(path)): \(Self.errorText(code))")
        }
    }

    /// Who may open the socket, from its owner, group and mode.
    private func socketAccessHint() -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot reach the socket (check the directory permissions)" }
        let mode = String(info.st_mode & 0o777, radix: 8)
        let group = ControlAccessPolicy.groupName(info.st_gid) ?? String(info.st_gid)
        return "the socket is mode \(mode), owner uid \(info.st_uid), group \(group); run as root, uid \(info.st_uid), or a member of group \(group) (you are uid \(getuid()))"
    }

    private func write(_ bytes: [UInt8], to fd: Int32, deadline: UInt64, timeout: Double) throws(ControlClientError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            let code = errno
            if n < 0 && code == EINTR { continue }
            if n < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                try wait(fd, for: Int16(POLLOUT), deadline: deadline, timeout: timeout)
                continue
            }
            // EPIPE/ECONNRESET: the daemon refused the connection; its reason may be waiting.
            return
        }
    }

    private func readLine(from fd: Int32, deadline: UInt64, timeout: Double) throws(ControlClientError) -> [UInt8] {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                let newline = chunk[0..<n].firstIndex(of: 0x0A)
                line.append(contentsOf: chunk[0..<(newline.map { $0 + 1 } ?? n)])
                if newline != nil { return line }
                if line.count > maxResponseBytes { throw .protocolError("response longer than \(maxResponseBytes) bytes") }
                continue
            }
            let code = errno
            if n < 0 && code == EINTR { continue }
            if n < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                try wait(fd, for: Int16(POLLIN), deadline: deadline, timeout: timeout)
                continue
            }
            if n == 0 || code == ECONNRESET {
                throw .protocolError(line.isEmpty ? "the daemon closed the connection without answering"
                                                  : "the daemon closed the connection in the middle of a response")
            }
            throw .protocolError("read: \(Self.errorText(code))")
        }
    }

    private func wait(_ fd: Int32, for events: Int16, deadline: UInt64, timeout: Double) throws(ControlClientError) {
        while true {
            let now = MonotonicClock.now()
            guard now < deadline else { throw .timeout(path: path, seconds: timeout) }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let ready = poll(&entry, 1, ms)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw .protocolError("poll: \(Self.errorText(errno))") }
        }
    }

    private static func errorText(_ code: Int32) -> String { "\(String(cString: strerror(code))) (errno \(code))" }
}
