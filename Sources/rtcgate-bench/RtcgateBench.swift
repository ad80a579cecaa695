import ArgumentParser
import Glibc

/// Entry point: `rtcgate-bench <subcommand>`.
@main
struct RtcgateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtcgate-bench",
        abstract: "Load generators for rtcgate (and any STUN server): STUN, TURN, TLS handshakes, MQTT signaling.",
        subcommands: [StunBench.self, TurnBench.self, TLSHandshakeBench.self, SignalBench.self, PathBench.self])
}

/// `rtcgate-bench stun`: closed-loop STUN Binding load with full response validation.
struct StunBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stun",
        abstract: "Closed-loop STUN Binding load; validates every response.",
        discussion: """
            Keeps --window requests in flight over --sockets sockets (UDP), or one request per \
            connection over --sockets TCP connections (--tcp). Exits non-zero when nothing was \
            answered or any invalid response was seen.
            """)

    @Option(help: "Server address: IPv4:port, [IPv6]:port or localhost:port.")
    var server = "127.0.0.1:3478"

    @Option(help: "UDP sockets (or TCP connections with --tcp).")
    var sockets = 8

    @Option(help: "Requests in flight in total (UDP; TCP uses one per connection).")
    var window = 64

    @Flag(help: "Add FINGERPRINT to requests.")
    var fingerprint = false

    @OptionGroup var runOptions: RunOptions

    @Flag(help: "Use TCP (RFC 8489 framing by header length), one request at a time per connection.")
    var tcp = false

    func validate() throws {
        guard (1...4096).contains(sockets) else { throw ValidationError("--sockets must be 1...4096") }
        guard tcp || (sockets...65_536).contains(window) else { throw ValidationError("--window must be ≥ --sockets and ≤ 65536") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let endpoint: ServerEndpoint
        do { endpoint = try ServerEndpoint(parsing: server) } catch { throw ValidationError("\(error)") }
        let config = LoadConfig(
            server: endpoint, sockets: sockets, window: tcp ? sockets : window,
            durationNanos: runOptions.durationNanos, warmupNanos: runOptions.warmupNanos,
            timeoutNanos: runOptions.timeoutNanos, fingerprint: fingerprint, serverPid: runOptions.serverPid)
        let result: LoadResult
        do {
            result = tcp ? try TCPLoadGenerator(config: config).run() : try UDPLoadGenerator(config: config).run()
        } catch {
            writeStandardError("rtcgate-bench: \(error)\n")
            throw ExitCode(2)
        }
        let report = Report(result: result, server: server, fingerprint: fingerprint)
        print(runOptions.json ? report.json() : report.text())
        if result.failed { throw ExitCode(1) }
    }
}

/// Writes to file descriptor 2 (the C `stderr` global is not concurrency-safe in Swift 6).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
