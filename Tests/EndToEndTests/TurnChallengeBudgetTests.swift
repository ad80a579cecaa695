import Foundation
import Glibc
import STUN
import XCTest

/// The unauthenticated answers of the built `rtcgate`: small (no reflector worth using), bounded
/// for a source that never comes back, and never in the way of real clients behind one address.
final class TurnChallengeBudgetTests: XCTestCase {
    private func startGateway(_ flags: [String]) throws -> GatewayProcess {
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        return try GatewayProcess(flags: ["--user", "alice:secret", "--min-port", "\(range.lowerBound)",
                                          "--max-port", "\(range.upperBound)"] + flags, port: port)
    }

    /// A 28-byte Allocate (header + REQUESTED-TRANSPORT) from a stranger.
    private func bareAllocate(fingerprint: Bool = false) throws -> StunRequest {
        try StunWire.request(type: StunMessageType(method: .allocate, messageClass: .request), fingerprint: fingerprint) {
            try TurnTestClient.udpTransport(&$0)
        }
    }

    /// The default realm (rtcgate.local): the 401 is at most 3.0× the Allocate (72 of 28 bytes),
    /// with no reason phrase, no FINGERPRINT unless the request had one, and a nonce that works.
    /// `nonce-security-features` adds the RFC 8489 cookie and PASSWORD-ALGORITHMS.
    func testChallengeIsCompact() throws {
        let gateway = try startGateway(["--workers", "1"])
        let client = try TurnTestClient(port: gateway.port)
        client.realm = "rtcgate.local"
        let request = try bareAllocate()
        XCTAssertEqual(request.bytes.count, 28)
        let challenge = try client.exchange(request)
        XCTAssertEqual(challenge.errorCode, 401, "\(challenge)")
        XCTAssertLessThanOrEqual(challenge.size, 84, "401 of \(challenge.size) bytes = \(Double(challenge.size) / 28)× the request")
        XCTAssertEqual(challenge.reason, "", "no reason phrase")
        XCTAssertFalse(challenge.hasFingerprint, "no FINGERPRINT when the request had none")
        XCTAssertFalse(challenge.hasPasswordAlgorithms)
        print("401 to a 28-byte Allocate: \(challenge.size) bytes (\(String(format: "%.2f", Double(challenge.size) / 28))×)")

        let withFingerprint = try client.exchange(try bareAllocate(fingerprint: true))
        XCTAssertTrue(withFingerprint.hasFingerprint, "FINGERPRINT when the request carried one")
        XCTAssertEqual(withFingerprint.size, challenge.size + 8)

        client.nonce = challenge.nonce ?? []
        let allocated = try client.allocate()
        XCTAssertTrue(allocated.isSuccess, "the compact nonce authenticates: \(allocated)")
        _ = gateway.stopCleanly()

        let featured = try startGateway(["--workers", "1", "--nonce-security-features"])
        let answer = try TurnTestClient(port: featured.port).exchange(try bareAllocate())
        XCTAssertTrue(answer.nonceText.hasPrefix("obMatJos2AAAD"), "RFC 8489 cookie offering both features: \(answer.nonceText)")
        XCTAssertTrue(answer.hasPasswordAlgorithms, "\(answer)")
        XCTAssertEqual(answer.size, challenge.size + 24)
        let alice = try TurnTestClient(port: featured.port)
        alice.realm = "rtcgate.local"
        XCTAssertTrue(try alice.allocate().isSuccess)
        _ = featured.stopCleanly()
    }

    /// 2,000 Allocates from an address that never returns a nonce (a spoofed victim) get at most
    /// 10 % answered; a real client on another address is answered meanwhile.
    func testSpoofedFloodIsBounded() throws {
        let gateway = try startGateway(["--workers", "1"])
        let spoofed = try UDPClient(bindTo: "127.0.0.2")
        var sent = 0
        let started = monotonicSeconds()
        for index in 0..<2_000 {
            try spoofed.send(try bareAllocate().bytes, to: "127.0.0.1", port: gateway.port)
            sent += 1
            if index % 50 == 49 { usleep(2_000) }  // ~0.1 s in all: paced so the socket buffer holds them
        }
        let sendSeconds = monotonicSeconds() - started
        let answered = spoofed.receiveAll(quiet: 0.5, limit: 5).count
        let bystander = try TurnTestClient(port: gateway.port)
        XCTAssertEqual(try bystander.challenge().errorCode, 401, "another source has its own budget")
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        let limited = Int(counters["turn_drop_challenge_rate_limited"] ?? "") ?? 0
        let kernelDrops = Int(counters["udp_kernel_drops"] ?? "") ?? 0
        print("flood: \(answered) of \(sent) answered in \(String(format: "%.2f", sendSeconds)) s, \(limited) refused, \(kernelDrops) dropped by the kernel")
        XCTAssertGreaterThanOrEqual(answered, 40, "the burst is answered")
        XCTAssertLessThanOrEqual(answered, sent / 10, "at most 10 % answered")
        XCTAssertEqual(answered + limited + kernelDrops, sent, "every Allocate answered, refused or counted as dropped:\n\(exit.log)")
    }

    /// 1,000 allocations from one address, 64 being set up at a time, by aioice's client (each
    /// from its own port, like many cameras behind one NAT) on one worker: every one succeeds.
    func testBurstOfAllocationsFromOneAddressAllSucceed() throws {
        guard FileManager.default.isExecutableFile(atPath: TestPaths.python) else {
            return XCTFail("no Python at \(TestPaths.python) (set RTCGATE_PYTHON or run packaging/dev/setup.sh)")
        }
        let gateway = try startGateway(["--workers", "1", "--realm", "example.org", "--max-allocations", "1024"])
        let result = try runTool(TestPaths.python, [
            TestPaths.repoRoot + "/Tests/Clients/turn_burst.py", "--port", "\(gateway.port)", "--username", "alice",
            "--password", "secret", "--count", "1000", "--concurrency", "64", "--deadline", "200",
        ], timeout: 240)
        let exit = gateway.stopCleanly()
        print("turn_burst.py: \(result.stdout)")
        XCTAssertEqual(result.status, 0, "turn_burst.py: \(result.stdout) \(result.stderr)")
        XCTAssertTrue(result.stdout.contains("\"succeeded\": 1000"), result.stdout)
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertEqual(counters["turn_allocations"], "0", "every allocation was deleted again:\n\(exit.log)")
    }
}
