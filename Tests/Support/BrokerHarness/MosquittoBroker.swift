import Foundation
import Glibc

/// A failure of the broker harness (missing tool, broker not starting), with what was seen.
public struct BrokerHarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A real mosquitto broker on a free 127.0.0.1 port, private to one test, in its own folder.
///
/// `.open` runs an anonymous broker (for the MQTT client's own tests). `.rtcgate(users:)` runs the
/// configuration rtcgate ships (`packaging/mosquitto/rtcgate.conf` and `rtcgate.acl`): the conf is
/// used line for line, with only its `/etc/mosquitto/` paths pointed at the test's folder and a
/// loopback listener put in front; the ACL file is copied unchanged; the password file is made with
/// `mosquitto_passwd`. `.dynsec(adminPassword:)` runs `packaging/mosquitto/dynsec/rtcgate-dynsec.conf`
/// the same way, with the plugin's file made by `init-dynsec.sh` in the test's folder.
public final class MosquittoBroker {
    public enum Setup {
        case open
        case rtcgate(users: [String: String])
        /// Anonymous, TLS only, with a server certificate for 127.0.0.1 signed by a fresh CA
        /// (`caFile` then names the CA to trust).
        case tls
        /// The shipped dynamic-security configuration; the broker user `rtcgate` has `adminPassword`.
        case dynsec(adminPassword: String)
    }

    public let port: UInt16
    public let directory: String
    public let configPath: String
    public let logPath: String
    private var process: Process?

    public static var repoRoot: String {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.path
            }
            directory = directory.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }

    public static func tool(_ name: String) -> String? {
        ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin"].map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The MQTT-over-WebSockets port (`webSockets` given), which serves `webSockets` over HTTP.
    public private(set) var webSocketsPort: UInt16?

    /// - Parameters:
    ///   - gatewayUsers: broker users of further rtcgate instances (`.rtcgate` only).
    ///   - webSockets: a folder to serve (http_dir) from a plain `ws` listener on loopback, as the
    ///     dev broker does (`packaging/mosquitto/rtcgate-dev.conf`), under the same logins and ACL.
    ///   - secureWebSockets: make that listener `wss` (and https), with a certificate for
    ///     127.0.0.1 from a test CA (`caFile`), as `packaging/mosquitto/rtcgate-websockets.conf` does.
    public init(_ setup: Setup, port: UInt16? = nil, gatewayUsers: [String] = [], webSockets: String? = nil,
                secureWebSockets: Bool = false) throws {
        guard Self.tool("mosquitto") != nil else {
            throw BrokerHarnessError("mosquitto is not installed (packaging/dev/setup.sh installs it)")
        }
        self.port = try port ?? Self.freeTCPPort()
        directory = NSTemporaryDirectory() + "rtcgate-broker-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        configPath = directory + "/mosquitto.conf"
        logPath = directory + "/mosquitto.log"
        var lines = ["listener \(self.port) 127.0.0.1"]
        switch setup {
        case .open:
            lines += ["allow_anonymous true", "persistence false"]
        case .tls:
            try Self.makeCertificates(in: directory)
            lines += ["cafile \(directory)/ca.crt", "certfile \(directory)/server.crt", "keyfile \(directory)/server.key",
                      "allow_anonymous true", "persistence false"]
        case .rtcgate(let users):
            let packaging = Self.repoRoot + "/packaging/mosquitto"
            let shipped = try String(contentsOfFile: packaging + "/rtcgate.conf", encoding: .utf8)
            lines += shipped.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "/etc/mosquitto/", with: directory + "/")
            }
            // Further gateway instances (docs/scaling.md) get a copy of the `user rtcgate` block.
            var acl = try String(contentsOfFile: packaging + "/rtcgate.acl", encoding: .utf8)
            if !gatewayUsers.isEmpty, let start = acl.range(of: "\nuser rtcgate\n") {
                let block = acl[start.upperBound...].split(separator: "\n").filter { $0.hasPrefix("topic ") }.joined(separator: "\n")
                for user in gatewayUsers { acl += "\nuser \(user)\n\(block)\n" }
            }
            try acl.write(toFile: directory + "/rtcgate.acl", atomically: true, encoding: .utf8)
            try Self.writePasswords(users, to: directory + "/rtcgate.passwd")
        case .dynsec(let adminPassword):
            lines += try Self.prepareDynsec(in: directory, adminPassword: adminPassword)
        }
        if let webSockets {
            let wsPort = try Self.freeTCPPort()
            webSocketsPort = wsPort
            lines += ["listener \(wsPort) 127.0.0.1", "protocol websockets", "socket_domain ipv4", "http_dir \(webSockets)",
                      "use_username_as_clientid true"]
            if secureWebSockets {
                try Self.makeCertificates(in: directory)
                lines += ["certfile \(directory)/server.crt", "keyfile \(directory)/server.key", "tls_version tlsv1.2"]
            }
        }
        lines += ["log_dest file \(logPath)", "log_type error", "log_type warning", "log_type notice",
                  "log_type information"]
        try lines.joined(separator: "\n").appending("\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The plugin's file of a `.dynsec` broker (the plugin rewrites it after every change).
    public var dynsecFile: String { directory + "/dynamic-security.json" }

    /// The shipped dynsec conf with its `/var/lib/mosquitto/` path pointed at `directory` (and the
    /// plugin path at wherever this machine has it), after `init-dynsec.sh` made the plugin's file.
    private static func prepareDynsec(in directory: String, adminPassword: String) throws -> [String] {
        let folder = repoRoot + "/packaging/mosquitto/dynsec"
        let shipped = try String(contentsOfFile: folder + "/rtcgate-dynsec.conf", encoding: .utf8)
        let plugin = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf", "/usr/lib",
                      "/usr/local/lib"].map { $0 + "/mosquitto_dynamic_security.so" }
            .first { FileManager.default.fileExists(atPath: $0) }
        guard let plugin else { throw BrokerHarnessError("mosquitto_dynamic_security.so is not installed") }
        let script = Process()
        script.executableURL = URL(fileURLWithPath: folder + "/init-dynsec.sh")
        script.arguments = [directory + "/dynamic-security.json", adminPassword]
        let output = Pipe()
        script.standardOutput = output
        script.standardError = output
        try script.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        guard script.terminationStatus == 0 else { throw BrokerHarnessError("init-dynsec.sh failed: \(said)") }
        // mosquitto started as root runs as `mosquitto`, and the plugin rewrites its file (a new
        // file renamed over it) in this folder after every change: the folder must be that user's.
        if getuid() == 0, let user = getpwnam("mosquitto") {
            chown(directory, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        return shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("plugin ") ? "plugin \(plugin)" : line.replacingOccurrences(of: "/var/lib/mosquitto/", with: directory + "/")
        }
    }

    /// The CA certificate of a `.tls` broker.
    public var caFile: String { directory + "/ca.crt" }

    /// A CA and a server certificate for IP 127.0.0.1, made with the openssl tool.
    private static func makeCertificates(in directory: String) throws {
        guard let openssl = tool("openssl") else { throw BrokerHarnessError("openssl is not installed") }
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rtcgate test CA",
             "-keyout", "ca.key", "-out", "ca.crt"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", "san.ext", "-out", "server.crt"],
        ]
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        for arguments in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw BrokerHarnessError("openssl \(arguments.joined(separator: " ")) failed")
            }
        }
        // mosquitto started as root reads its files as the `mosquitto` user: a test key must be readable.
        chmod(directory + "/server.key", 0o644)
    }

    private static func writePasswords(_ users: [String: String], to path: String) throws {
        guard let tool = tool("mosquitto_passwd") else { throw BrokerHarnessError("mosquitto_passwd is not installed") }
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        for (user, password) in users.sorted(by: { $0.key < $1.key }) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = ["-b", path, user, password]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BrokerHarnessError("mosquitto_passwd failed for \(user)") }
        }
    }

    /// Starts (or restarts) the broker on the same port and waits (≤ 10 s) until it accepts TCP.
    public func start() throws {
        guard process?.isRunning != true, let binary = Self.tool("mosquitto") else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-c", configPath]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.accepts(port: port) { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        throw BrokerHarnessError("mosquitto did not start on 127.0.0.1:\(port); log:\n\(log)")
    }

    /// Stops the broker (SIGTERM, then SIGKILL after 5 s) and reaps it.
    public func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    public var isRunning: Bool { process?.isRunning == true }

    /// The broker's process id (0 when not started).
    public var pid: Int32 { process?.processIdentifier ?? 0 }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// True when something accepts a TCP connection on 127.0.0.1:`port`.
    public static func accepts(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freeTCPPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BrokerHarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw BrokerHarnessError("bind: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }
}
