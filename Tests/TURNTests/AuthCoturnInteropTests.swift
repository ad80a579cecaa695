import Foundation
import TestSupport
import XCTest
@testable import TURN

/// Mints TURN REST credentials with `RestCredentials.mint` and has a real coturn
/// (`turnserver --use-auth-secret`) accept them via `turnutils_uclient`. Loopback only,
/// bounded by timeouts; fails when coturn is not installed (setup.sh installs it).
final class AuthCoturnInteropTests: XCTestCase {
    private static let turnserver = "/usr/bin/turnserver"
    private static let uclient = "/usr/bin/turnutils_uclient"

    private func run(_ path: String, _ arguments: [String], timeout: TimeInterval) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    func testCoturnAcceptsMintedCredentials() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.turnserver),
              FileManager.default.isExecutableFile(atPath: Self.uclient) else {
            return XCTFail("coturn's turnserver and turnutils_uclient are needed (packaging/dev/setup.sh installs them)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("turn-auth-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = Int.random(in: 36_000...38_999)
        let relayBase = Int.random(in: 50_000...59_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.turnserver)
        server.arguments = ["-n", "--use-auth-secret", "--static-auth-secret=north", "--realm=example.org",
                            "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port=\(port)",
                            "--min-port=\(relayBase)", "--max-port=\(relayBase + 200)", "--allow-loopback-peers",
                            "--no-tls", "--no-dtls", "--no-cli", "--simple-log",
                            "--log-file=\(directory.appendingPathComponent("turn.log").path)",
                            "--userdb=\(directory.appendingPathComponent("turndb").path)",
                            "--pidfile=\(directory.appendingPathComponent("turn.pid").path)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let log = directory.appendingPathComponent("turn.log")
        waitUntil("turnserver did not start", timeout: 10) {
            (try? String(contentsOf: log, encoding: .utf8))?.contains("Total General servers") == true || !server.isRunning
        }
        XCTAssertTrue(server.isRunning, "turnserver exited early")

        let now = UInt64(Date().timeIntervalSince1970)
        var rest = RestCredentials(secrets: ["north"])
        let good = try XCTUnwrap(rest.mint(clientId: "cam-1", now: now, ttl: 3600))
        let client = ["-y", "-n", "1", "-p", "\(port)", "127.0.0.1"]
        XCTAssertEqual(try run(Self.uclient, ["-u", good.username, "-w", good.password] + client, timeout: 15), 0,
                       "coturn refused minted credentials \(good)")

        // Control cases, so the check above can fail: wrong password, expired, unknown secret.
        XCTAssertNotEqual(try run(Self.uclient, ["-u", good.username, "-w", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="] + client,
                                  timeout: 15), 0)
        let expired = try XCTUnwrap(rest.mint(clientId: "cam-1", now: now - 7200, ttl: 3600))
        XCTAssertNotEqual(try run(Self.uclient, ["-u", expired.username, "-w", expired.password] + client, timeout: 15), 0)
        rest.rotate(adding: "south")
        let rotated = try XCTUnwrap(rest.mint(clientId: "cam-1", now: now, ttl: 3600))
        XCTAssertNotEqual(try run(Self.uclient, ["-u", rotated.username, "-w", rotated.password] + client, timeout: 15), 0)
    }
}
