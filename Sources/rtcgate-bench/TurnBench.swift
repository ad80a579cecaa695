import ArgumentParser
import CBenchShim
import CSystem
import Glibc
import STUN

/// `rtcgate-bench turn`: closed-loop relay load through TURN allocations (or holding them).
struct TurnBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "turn",
        abstract: "Closed-loop TURN relay load (UDP, TCP or TLS) through an echo peer; validates every reply.",
        discussion: """
            Creates --allocations allocations (long-term credentials), each on its own client socket; \
            in channel mode binds channel 0x4000+i to the bench's echo peer (127.0.0.1), in send mode \
            installs a permission for it. Then keeps --window payloads in flight per allocation, \
            client → server → echo peer → server → client, for --duration seconds after --warmup. \
            hold mode sends nothing: it keeps the allocations for --duration and reports the server's \
            RSS. With --transport tcp or tls each allocation is its own connection (TLS: a full \
            handshake, no resumption), messages are framed back to back (ChannelData padded to 4 \
            bytes); the relay and the echo peer stay UDP. Allocations are deleted (Refresh LIFETIME 0) at the end. Exit status: 2 when set-up \
            fails, 1 when nothing round-tripped, any reply was invalid, or (hold) any allocation failed.
            """)

    @Option(help: "TURN server: IPv4:port (the echo peer is on 127.0.0.1).")
    var server = "127.0.0.1:3478"

    @Option(help: "Long-term credential username.")
    var user = "alice"

    @Option(help: "Long-term credential password.")
    var password = "secret"

    @Option(help: "Expected REALM (the key uses the server's REALM, which must equal it).")
    var realm: String?

    @Option(help: "Allocations, one client socket each.")
    var allocations = 4

    @Option(help: "Payloads in flight per allocation.")
    var window = 16

    @Option(help: "Payload bytes per message (24...1200).")
    var payload = 172

    @Option(help: "channel (ChannelData), send (Send/Data indications) or hold (no traffic).")
    var mode = "channel"

    @Flag(help: "Send the generator's and the echo peer's runs with UDP GSO: less generator CPU on shared cores; the server still receives single datagrams.")
    var generatorGso = false

    @Option(help: "Client transport to the server: udp, tcp or tls (TURN over TLS, RFC 8656 turns:).")
    var transport = "udp"

    @Option(help: "TLS: PEM CA file the server certificate must chain to (default: no certificate check).")
    var ca: String?

    @Option(name: .customLong("tls-version"), help: "TLS: 1.2 or 1.3 only (default: negotiate either).")
    var tlsVersion: String?

    @Flag(help: "TLS: one record per refill of the window instead of one per message.")
    var batchRecords = false

    @Option(help: "Open loop over UDP: this many messages per second in all, sent whatever the replies do (0: closed loop, --window in flight per allocation). With a rate, --window bounds the messages in flight per allocation.")
    var rate: Double = 0

    @OptionGroup var runOptions: RunOptions

    private var turnMode: TurnMode { TurnMode(rawValue: mode) ?? .channel }

    func validate() throws {
        guard TurnMode(rawValue: mode) != nil else { throw ValidationError("--mode must be channel, send or hold") }
        guard ["udp", "tcp", "tls"].contains(transport) else { throw ValidationError("--transport must be udp, tcp or tls") }
        guard tlsVersion == nil || tlsVersion == "1.2" || tlsVersion == "1.3" else { throw ValidationError("--tls-version must be 1.2 or 1.3") }
        guard !generatorGso || transport == "udp" else { throw ValidationError("--generator-gso needs --transport udp") }
        let maxAllocations = turnMode == .hold ? 10_000 : 4096
        guard (1...maxAllocations).contains(allocations) else { throw ValidationError("--allocations must be 1...\(maxAllocations)") }
        guard (1...(rate > 0 ? 8192 : 256)).contains(window) else { throw ValidationError("--window must be 1...256 (1...8192 with --rate)") }
        guard rate >= 0, rate <= 5_000_000, rate == 0 || transport == "udp" else { throw ValidationError("--rate must be 0...5000000, over --transport udp") }
        guard (TurnWire.stampSize...1200).contains(payload) else { throw ValidationError("--payload must be 24...1200") }
        // No Refresh, ChannelBind or CreatePermission refreshes are sent: stay within the
        // permission lifetime (300 s), and the allocation lifetime (600 s) when holding.
        let limit = turnMode == .hold ? 540.0 : 280.0
        guard runOptions.duration + (turnMode == .hold ? 0 : runOptions.warmup) <= limit else {
            throw ValidationError("--duration\(turnMode == .hold ? "" : " + --warmup") must be in (0, \(Int(limit))] s (no refreshes are sent)")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        raiseFileLimit(to: UInt64(allocations) + 64)
        let endpoint: ServerEndpoint
        do { endpoint = try ServerEndpoint(parsing: server) } catch { throw ValidationError("\(error)") }
        guard !endpoint.isIPv6 else { throw ValidationError("turn needs an IPv4 server (the echo peer is 127.0.0.1)") }
        let timeoutNanos = runOptions.timeoutNanos
        let tls: TLSClientContext?
        do { tls = transport == "tls" ? try TLSClientContext(caFile: ca, version: tlsVersion) : nil } catch { try fail("\(error)") }
        let session = TurnSession(credentials: TurnCredentials(username: user, password: password, realm: realm),
                                  timeoutNanos: timeoutNanos, stream: transport != "udp", tls: tls)
        let echo: EchoPeer
        do { echo = try EchoPeer(segmentation: generatorGso) } catch { try fail("\(error)") }
        let peer = TransportAddress(ip: IPAddress("127.0.0.1")!, port: echo.port)

        var report = TurnReport(mode: turnMode, server: server, allocations: allocations, window: window, payload: payload)
        report.transport = transport
        report.serverBeforeSetup = runOptions.serverPid.flatMap { ServerSample.read(pid: $0) }
        let setupStart = monotonicNanos()
        // Bounded: a minute plus 20 ms per allocation, whatever the server does.
        let setupDeadline = setupStart + 60_000_000_000 + UInt64(allocations) * 20_000_000
        for i in 0..<allocations {
            if monotonicNanos() > setupDeadline {
                report.note(setupError: "set-up deadline passed")
                if turnMode != .hold { break }
                continue
            }
            do {
                try session.open(index: i, endpoint: endpoint)
                try session.allocate(i)
                switch turnMode {
                case .channel: try session.channelBind(i, channel: UInt16(0x4000 + i), peer: peer)
                case .send: try session.createPermission(i, peer: peer)
                case .hold: break
                }
                report.allocationsOK += 1
            } catch {
                report.note(setupError: "\(error)")
                if turnMode != .hold { break }
            }
        }
        report.setupMillis = Double(monotonicNanos() - setupStart) / 1e6
        defer { session.closeAll() }

        if turnMode != .hold && report.allocationsOK < allocations {
            let (deleted, errors) = session.deleteAll()
            report.deleted = deleted; report.deleteErrors = errors
            try fail("set-up failed after \(report.allocationsOK) of \(allocations) allocations: \(report.firstSetupError ?? "?")")
        }

        if turnMode == .hold {
            report.serverStart = report.serverBeforeSetup
            let holdStart = monotonicNanos()
            let cpuStart = ownCPUSeconds()
            let serverHoldStart = runOptions.serverPid.flatMap { ServerSample.read(pid: $0) }
            let end = holdStart + runOptions.durationNanos
            while true {
                let now = monotonicNanos()
                guard now < end else { break }
                var ts = timespec(tv_sec: 0, tv_nsec: Int(min(end - now, 100_000_000)))
                nanosleep(&ts, nil)
            }
            report.serverEnd = runOptions.serverPid.flatMap { ServerSample.read(pid: $0) }
            report.holdCPUStart = serverHoldStart
            report.elapsedSeconds = Double(monotonicNanos() - holdStart) / 1e9
            report.generatorCPUSeconds = ownCPUSeconds() - cpuStart
        } else {
            let config = LoadConfig(
                server: endpoint, sockets: allocations, window: allocations * window,
                durationNanos: runOptions.durationNanos, warmupNanos: runOptions.warmupNanos,
                timeoutNanos: timeoutNanos, fingerprint: false, serverPid: runOptions.serverPid)
            let generator: TurnLoadGenerator
            do {
                generator = try TurnLoadGenerator(config: config, mode: turnMode, window: window, payload: payload,
                                                  fds: session.fds, echo: echo, segmentation: generatorGso,
                                                  links: session.links, batchRecords: batchRecords, rate: rate)
            } catch {
                _ = session.deleteAll()
                try fail("\(error)")
            }
            let result = generator.run()
            report.load = result
            report.serverStart = result.serverStart
            report.serverEnd = result.serverEnd
            report.elapsedSeconds = result.elapsedSeconds
            report.generatorCPUSeconds = result.generatorCPUSeconds
        }
        let (deleted, errors) = session.deleteAll()
        report.deleted = deleted
        report.deleteErrors = errors
        report.serverAfterDelete = runOptions.serverPid.flatMap { ServerSample.read(pid: $0) }
        report.protocol = session.controls.first?.link?.protocolDescription ?? transport
        print(runOptions.json ? report.json() : report.text())
        if report.failed { throw ExitCode(1) }
    }

    private func fail(_ message: String) throws -> Never {
        writeStandardError("rtcgate-bench turn: \(message)\n")
        throw ExitCode(2)
    }
}

/// The allocations of one run and their control-plane clients.
final class TurnSession {
    let credentials: TurnCredentials
    let timeoutNanos: UInt64
    private let scratch = TurnControl.Scratch()
    private(set) var controls: [TurnControl] = []

    /// Over TCP/TLS (`stream`) each allocation is a connection (`tls`: its TLS context).
    let stream: Bool
    let tls: TLSClientContext?

    init(credentials: TurnCredentials, timeoutNanos: UInt64, stream: Bool = false, tls: TLSClientContext? = nil) {
        self.credentials = credentials
        self.timeoutNanos = timeoutNanos
        self.stream = stream
        self.tls = tls
    }

    var fds: [Int32] { controls.map(\.fd) }
    /// The connections, over TCP/TLS.
    var links: [StreamLink]? { stream ? controls.compactMap(\.link) : nil }

    /// Opens allocation `index`'s socket; over TCP/TLS connects and completes the handshake
    /// (bounded by the timeout, at least 2 s).
    func open(index: Int, endpoint: ServerEndpoint) throws {
        precondition(index == controls.count)
        guard stream else {
            let (fd, _) = try endpoint.connectedSocket(type: Int32(SOCK_DGRAM.rawValue))
            controls.append(TurnControl(fd: fd, index: index))
            return
        }
        let deadline = monotonicNanos() + max(timeoutNanos, 2_000_000_000)
        let link = try endpoint.streamLink(tls: tls, deadline: deadline)
        do { try link.handshake(deadline: deadline) } catch { throw BenchError("allocation \(index): \(error)") }
        controls.append(TurnControl(fd: link.fd, index: index, link: link))
    }

    func allocate(_ i: Int) throws {
        try controls[i].allocate(credentials: credentials, scratch: scratch, timeoutNanos: timeoutNanos)
    }

    func channelBind(_ i: Int, channel: UInt16, peer: TransportAddress) throws {
        try controls[i].channelBind(channel, peer: peer, credentials: credentials, scratch: scratch, timeoutNanos: timeoutNanos)
    }

    func createPermission(_ i: Int, peer: TransportAddress) throws {
        try controls[i].createPermission(peer: peer, credentials: credentials, scratch: scratch, timeoutNanos: timeoutNanos)
    }

    /// Refresh(0) for every allocation made, bounded to 200 ms each and 20 s in total; first
    /// drains what the load left queued on each socket. Returns (deleted, failed).
    func deleteAll() -> (Int, Int) {
        var deleted = 0, failed = 0
        let deadline = monotonicNanos() + 20_000_000_000
        let drain = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 8)
        defer { drain.deallocate() }
        for i in controls.indices where controls[i].allocated {
            for _ in 0..<4096 where controls[i].link == nil { if recv(controls[i].fd, drain, 2048, Int32(MSG_DONTWAIT)) < 0 { break } }
            guard monotonicNanos() < deadline else { failed += 1; continue }
            do {
                try controls[i].delete(credentials: credentials, scratch: scratch, timeoutNanos: min(timeoutNanos, 200_000_000))
                deleted += 1
            } catch {
                failed += 1
            }
        }
        return (deleted, failed)
    }

    func closeAll() {
        for c in controls where c.link == nil { close(c.fd) }  // a link closes its own
        controls.removeAll()
    }
}
