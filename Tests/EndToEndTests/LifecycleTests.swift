import Foundation
import Glibc
import STUN
import TestSupport
import XCTest

/// Sends `count` Binding requests back to back from `client` and returns how many distinct
/// ones were answered (every answer checked) and how long sending took.
private func flood(_ client: UDPClient, port: UInt16, count: Int,
                   file: StaticString = #filePath, line: UInt = #line) throws -> (answered: Int, seconds: Double) {
    let requests = try (0..<count).map { _ in try StunWire.request() }
    let started = monotonicSeconds()
    for request in requests { try client.send(request.bytes, to: "127.0.0.1", port: port) }
    let seconds = monotonicSeconds() - started
    var answered = Set<TransactionID>()
    let ids = Set(requests.map(\.transactionID))
    for bytes in client.receiveAll(quiet: 0.3, limit: 3) {
        let reply = try StunReply(bytes)
        XCTAssertTrue(ids.contains(reply.transactionID), file: file, line: line)
        XCTAssertEqual(reply.xorMapped, client.localAddress, file: file, line: line)
        assertAmplification(request: requests[0].bytes.count, reply: bytes.count, file: file, line: line)
        answered.insert(reply.transactionID)
    }
    return (answered.count, seconds)
}

/// Start-up, reload, shutdown and configuration errors of the real binary.
final class LifecycleTests: XCTestCase {
    /// SIGHUP applies a new rate limit and log level from the file; a broken file is refused
    /// and the gateway keeps serving with the settings it had.
    func testSighupReloadsRateLimitAndRefusesBrokenFile() throws {
        let gateway = try GatewayProcess(config: "# reload test\nstun-rate-limit = 0\n")
        let client = try UDPClient(bindTo: "127.0.0.1")
        let unlimited = try flood(client, port: gateway.port, count: 50)
        XCTAssertEqual(unlimited.answered, 50, "rate limit 0 answers everything")

        try gateway.rewriteConfig("stun-rate-limit = 3\nstun-rate-burst = 3\nlog-level = debug\n")
        gateway.send(signal: SIGHUP)
        XCTAssertTrue(gateway.waitForLog(" reloaded"), "no 'reloaded' line: \(gateway.log)")
        let reloaded = gateway.log.split(separator: "\n").last { $0.contains(" reloaded") }.map(String.init) ?? ""
        XCTAssertTrue(reloaded.contains("log_level=debug"), reloaded)
        XCTAssertTrue(reloaded.contains("stun_rate_limit=3/s burst 3"), reloaded)
        XCTAssertTrue(reloaded.contains("restart_needed=no"), reloaded)
        // The reload is logged once the workers confirmed the new limit: no wait.
        let limited = try flood(client, port: gateway.port, count: 50)
        XCTAssertLessThanOrEqual(limited.answered, 3 + Int((3 * limited.seconds).rounded(.up)) + 1,
                                 "burst 3 after reload (sent in \(limited.seconds) s)")
        XCTAssertGreaterThanOrEqual(limited.answered, 1)

        try gateway.rewriteConfig("stun-rate-limit = 3\nstun-rate-burst = lots\n")
        gateway.send(signal: SIGHUP)
        XCTAssertTrue(gateway.waitForLog("reload refused"), "no 'reload refused' line: \(gateway.log)")
        XCTAssertTrue(gateway.log.contains("\(gateway.configPath):2"), "refusal names file:line: \(gateway.log)")
        XCTAssertTrue(gateway.isRunning)
        // Still serving, and still with the limit from the last good reload (burst 3).
        let other = try UDPClient(bindTo: "127.0.0.2")
        let afterRefusal = try flood(other, port: gateway.port, count: 20)
        XCTAssertGreaterThanOrEqual(afterRefusal.answered, 1, "serving after a refused reload")
        XCTAssertLessThanOrEqual(afterRefusal.answered, 3 + Int((3 * afterRefusal.seconds).rounded(.up)) + 1)

        // The level applies live: at `warning`, the per-second info summaries and the info/notice
        // shutdown lines stop (nothing in rtcgate logs at debug yet, so that is what shows).
        try gateway.rewriteConfig("stun-rate-limit = 3\nstun-rate-burst = 3\nlog-level = warning\n")
        gateway.send(signal: SIGHUP)
        try waitUntil("the reload to warning never applied") { try ctl(gateway, ["config"]).json?["logLevel"]?.stringValue == "warning" }
        let before = gateway.log
        usleep(1_500_000)  // the window observed: more than one stats interval, in which no info line may appear
        let exit = gateway.stopCleanly()
        let after = exit.log.dropFirst(before.count)
        XCTAssertFalse(after.contains(" info ") || after.contains(" notice "),
                       "info/notice lines after reloading log-level = warning: \(after)")
    }

    func testSigtermStopsCleanly() throws {
        try checkCleanStop(signal: SIGTERM, name: "SIGTERM")
    }

    func testSigintStopsCleanly() throws {
        try checkCleanStop(signal: SIGINT, name: "SIGINT")
    }

    private func checkCleanStop(signal: Int32, name: String) throws {
        let gateway = try GatewayProcess()
        let exit = gateway.stop(signal: signal, timeout: 5)
        XCTAssertFalse(exit.killed, "\(name) ignored: \(exit.log)")
        XCTAssertFalse(exit.signaled, "died of signal \(exit.status)")
        XCTAssertEqual(exit.status, 0, exit.log)
        XCTAssertLessThan(exit.seconds, 2, "\(name) → exit took \(exit.seconds) s")
        XCTAssertTrue(exit.log.contains("signal \(name): shutting down"), exit.log)
        XCTAssertTrue(exit.log.contains("final counters"), exit.log)
        let last = exit.log.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasSuffix("rtcgate stopped"), "last line: \(last)")
    }

    /// An unknown option in the file: exit status 2 naming file:line, before serving.
    func testUnknownOptionInFileExits2() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = try directory.write("bad.conf", "stats-interval = 5\n\nbogus-option = yes\n")
        let port = try freePort()
        let result = try runTool(TestPaths.rtcgate, GatewayProcess.arguments(port: port, configPath: config, flags: []),
                                 timeout: 5)
        XCTAssertFalse(result.signaled)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("\(config):3"), "names file:line: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("bogus-option"), result.stderr)
    }

    func testCheckConfigDevBoard() throws {
        let result = try runTool(TestPaths.rtcgate, ["check-config", "--board", "dev"],
                                 currentDirectory: TestPaths.repoRoot, timeout: 5)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("configuration OK"), result.stdout)
        XCTAssertTrue(result.stdout.contains("reserved in all"), result.stdout)
        XCTAssertTrue(result.stdout.contains("127.0.0.1:3478"), result.stdout)
    }

    /// The port held by another socket (no SO_REUSEPORT): rtcgate refuses to start, clearly.
    func testPortTakenFailsToStart() throws {
        let port = try freePort()
        let blocker = try BoundSocket(udp: true, ip: "127.0.0.1", port: port)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = try directory.write("empty.conf", "")
        let result = try runTool(TestPaths.rtcgate, GatewayProcess.arguments(port: port, configPath: config, flags: []),
                                 timeout: 5)
        XCTAssertFalse(result.signaled, result.stderr)
        XCTAssertNotEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("cannot start"), result.stderr)
        XCTAssertTrue(result.stderr.contains("127.0.0.1:\(port)"), "names the address: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("in use"), "says why: \(result.stderr)")
        withExtendedLifetime(blocker) {}
    }

    /// SO_REUSEPORT would let a second instance (or a coturn left running) join the port and
    /// take a share of its traffic; rtcgate must refuse to start instead.
    func testSecondInstanceOnTheSamePortIsRefused() throws {
        let first = try GatewayProcess()
        defer { _ = first.stop() }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = try directory.write("empty.conf", "")
        let result = try runTool(TestPaths.rtcgate,
                                 GatewayProcess.arguments(port: first.port, configPath: config, flags: []), timeout: 5)
        XCTAssertNotEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("cannot start"), result.stderr)
        XCTAssertTrue(result.stderr.contains("in use"), result.stderr)
    }
}
