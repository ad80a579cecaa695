import Foundation
import Glibc
import TestSupport
import XCTest

/// A harness failure (timeout, missing tool, unexpected exit), with what was seen.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where the repository, the built binaries and the helper tools are.
enum TestPaths {
    /// The folder holding Package.swift, found by walking up from this file.
    static let repoRoot: String = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.path
            }
            directory = directory.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }()

    /// The directory of the test bundle's executable (where SwiftPM puts `rtcgate` too), or
    /// `.build/debug` when the binaries are not next to it.
    static let binaryDirectory: String = {
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let directory = URL(fileURLWithPath: executable).deletingLastPathComponent().path
            if FileManager.default.isExecutableFile(atPath: directory + "/rtcgate") { return directory }
        }
        return repoRoot + "/.build/debug"
    }()

    static var rtcgate: String { binaryDirectory + "/rtcgate" }
    static var bench: String { binaryDirectory + "/rtcgate-bench" }
    static var boardProfile: String { repoRoot + "/board/dev/profile.conf" }

    /// The Python with aioice: $RTCGATE_PYTHON, else the project's venv.
    static var python: String {
        ProcessInfo.processInfo.environment["RTCGATE_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
            ?? repoRoot + "/.venv/bin/python"
    }

    /// `name` looked up in $PATH (and the sbin/bin folders Debian uses), or nil.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/bin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Monotonic seconds.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The outcome of a finished process.
struct ToolResult {
    /// Exit status, or the signal number when `signaled`.
    var status: Int32
    var signaled: Bool
    var stdout: String
    var stderr: String
    var seconds: Double
}

/// The environment for child processes: ours, minus JOURNAL_STREAM (rtcgate would switch to
/// journald-style `<6>` prefixes under systemd).
private func childEnvironment() -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "JOURNAL_STREAM")
    return environment
}

/// Kills `process` and waits (bounded) for the kernel to reap it.
private func killAndReap(_ process: Process) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    _ = holds(within: 5) { !process.isRunning }
}

/// Runs `executable` to completion with stdout and stderr captured to files; throws if it is
/// still running after `timeout` seconds (after killing it).
func runTool(_ executable: String, _ arguments: [String], currentDirectory: String? = nil,
             timeout: Double = 10) throws -> ToolResult {
    guard FileManager.default.isExecutableFile(atPath: executable) else {
        throw HarnessError("\(executable) is not an executable file")
    }
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let outPath = directory.file("stdout")
    let errPath = directory.file("stderr")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    guard let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else {
        throw HarnessError("cannot open capture files in \(directory.path)")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = childEnvironment()
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    let started = monotonicSeconds()
    try process.run()
    try? out.close()
    try? err.close()
    let finished = holds(within: timeout) { !process.isRunning }
    let seconds = monotonicSeconds() - started
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    guard finished else {
        killAndReap(process)
        throw HarnessError("\(executable) \(arguments.joined(separator: " ")) still running after \(timeout) s; "
                           + "stdout: \(stdout) stderr: \(stderr)")
    }
    return ToolResult(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: stdout, stderr: stderr, seconds: seconds)
}

/// Picks a port free for UDP and TCP on both 127.0.0.1 and ::1: binds UDP on 127.0.0.1 to
/// port 0, then checks the same port binds for TCP and on ::1; closes everything.
func freePort() throws -> UInt16 {
    for _ in 0..<50 {
        let first = try BoundSocket(udp: true, ip: "127.0.0.1", port: 0)
        let port = first.port
        var others: [BoundSocket] = []
        var ok = true
        for (udp, ip) in [(false, "127.0.0.1"), (true, "::1"), (false, "::1")] {
            if let socket = try? BoundSocket(udp: udp, ip: ip, port: port) { others.append(socket) } else { ok = false; break }
        }
        if ok { return port }
    }
    throw HarnessError("no port free for UDP+TCP on 127.0.0.1 and ::1 after 50 tries")
}

/// A socket bound to an address (no SO_REUSEADDR/SO_REUSEPORT), closed on deinit.
final class BoundSocket {
    let fd: Int32
    let port: UInt16

    init(udp: Bool, ip: String, port: UInt16) throws {
        guard let (storage, length) = SocketAddressBytes.make(ip, port) else { throw HarnessError("bad address \(ip)") }
        let type = Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = socket(Int32(storage.ss_family), type, 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        if Int32(storage.ss_family) == AF_INET6 {
            var on: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = storage
        let bound = SocketAddressBytes.withSockaddr(&address) { bind(fd, $0, length) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw HarnessError("bind \(ip):\(port): errno \(code)")
        }
        self.fd = fd
        self.port = SocketAddressBytes.localPort(fd)
    }

    deinit { close(fd) }
}

/// How a gateway process ended.
struct GatewayExit {
    /// Exit status, or the signal number when `signaled`.
    var status: Int32
    var signaled: Bool
    /// Seconds from the stop signal to the exit.
    var seconds: Double
    /// True when it had to be killed with SIGKILL after the grace period.
    var killed: Bool
    /// Everything it wrote to stderr.
    var log: String
}

/// One `rtcgate run` process on a free loopback port, with the dev board profile, a private
/// configuration file and stderr captured to a file.
final class GatewayProcess {
    let port: UInt16
    let directory: TemporaryDirectory
    let configPath: String
    let logPath: String
    let process: Process
    private(set) var exit: GatewayExit?

    var pid: Int32 { process.processIdentifier }

    /// The gateway's control socket.
    var controlSocket: String { directory.file("control.sock") }
    /// The gateway's state folder (provisioning store).
    var stateDirectory: String { directory.file("state") }

    /// The command-line arguments of `rtcgate run` for this harness.
    /// The control socket and state folder sit beside the configuration file, so every
    /// gateway of a test run has its own.
    static func arguments(port: UInt16, configPath: String, flags: [String]) -> [String] {
        let directory = URL(fileURLWithPath: configPath).deletingLastPathComponent().path
        return ["run", "--board", TestPaths.boardProfile, "--config", configPath,
                "--listening-port", "\(port)", "--stats-interval", "1",
                "--control-socket", directory + "/control.sock", "--state-dir", directory + "/state"] + flags
    }

    /// Starts the gateway and, when `waitReady`, waits (≤ `readyTimeout` s) until it answers a
    /// Binding request over UDP on 127.0.0.1; throws with its log if it does not.
    init(config: String = "", flags: [String] = [], port: UInt16? = nil, waitReady: Bool = true,
         readyTimeout: Double = 10, environment: [String: String] = [:]) throws {
        self.port = try port ?? freePort()
        directory = TemporaryDirectory()
        configPath = try directory.write("rtcgate.conf", config)
        logPath = directory.file("rtcgate.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw HarnessError("cannot open \(logPath)") }
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.rtcgate)
        process.arguments = Self.arguments(port: self.port, configPath: configPath, flags: flags)
        process.environment = childEnvironment().merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()
        if waitReady { try waitUntilServing(timeout: readyTimeout) }
    }

    deinit {
        killAndReap(process)
        directory.remove()
    }

    /// The log so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool { process.isRunning }

    /// Sends `signal` to the gateway.
    func send(signal: Int32) { kill(pid, signal) }

    /// Waits (bounded) for `text` to appear in the log at least `count` times.
    @discardableResult
    func waitForLog(_ text: String, count: Int = 1, timeout: Double = 5) -> Bool {
        holds(within: timeout) { log.components(separatedBy: text).count - 1 >= count }
    }

    /// Sends Binding requests over UDP on 127.0.0.1 until one is answered.
    func waitUntilServing(timeout: Double) throws {
        let probe = try UDPClient(bindTo: "127.0.0.1")
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            guard process.isRunning else {
                throw HarnessError("rtcgate exited (status \(process.terminationStatus)) before serving; log:\n\(log)")
            }
            let request = try StunWire.request()
            try probe.send(request.bytes, to: "127.0.0.1", port: port)
            if let reply = probe.receive(timeout: 0.1), (try? StunReply(reply))?.transactionID == request.transactionID {
                return
            }
        }
        throw HarnessError("rtcgate did not answer a Binding request within \(timeout) s; log:\n\(log)")
    }

    /// Sends `signal` (default SIGTERM) and waits up to `timeout` s for the exit; after that it
    /// is killed with SIGKILL (`killed` is then true). Returns the exit and the whole log.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 5) -> GatewayExit {
        if let exit { return exit }
        let started = monotonicSeconds()
        var killed = false
        if process.isRunning {
            kill(pid, signal)
            if !holds(within: timeout, { !process.isRunning }) {
                killed = true
                killAndReap(process)
            }
        }
        let result = GatewayExit(status: process.isRunning ? -1 : process.terminationStatus,
                                 signaled: !process.isRunning && process.terminationReason == .uncaughtSignal,
                                 seconds: monotonicSeconds() - started, killed: killed, log: log)
        exit = result
        return result
    }

    /// Stops the gateway with SIGTERM and fails the test unless it exits 0 in time.
    @discardableResult
    func stopCleanly(file: StaticString = #filePath, line: UInt = #line) -> GatewayExit {
        let result = stop()
        XCTAssertFalse(result.killed, "rtcgate ignored SIGTERM for 5 s and was killed; log:\n\(result.log)", file: file, line: line)
        XCTAssertFalse(result.signaled, "rtcgate died of signal \(result.status); log:\n\(result.log)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "rtcgate exit status; log:\n\(result.log)", file: file, line: line)
        return result
    }

    /// Rewrites the configuration file (read again on SIGHUP).
    func rewriteConfig(_ text: String) throws {
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }
}

/// The `key=value` metadata of the last log line containing `message`.
func logFields(_ log: String, lineContaining message: String) -> [String: String]? {
    guard let line = log.split(separator: "\n").last(where: { $0.contains(message) }) else { return nil }
    var fields: [String: String] = [:]
    for token in line.split(separator: " ") {
        guard let equals = token.firstIndex(of: "=") else { continue }
        fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
    }
    return fields
}
