import Foundation
import XCTest

/// The built `rtcgate` gives its listening and relay UDP sockets the configured buffer sizes, as
/// the kernel itself reports them (`ss -m`, iproute2: `rb` is the receive buffer the kernel
/// charges against, twice the size asked for).
final class SocketBufferTests: XCTestCase {
    /// The `rb` of the UDP socket bound to 127.0.0.1:`port`, from `ss -uamn`.
    private func receiveBuffer(port: UInt16) throws -> Int? {
        let result = try runTool("/usr/bin/ss", ["-u", "-a", "-m", "-n", "sport = :\(port)"], timeout: 5)
        guard let range = result.stdout.range(of: "rb") else { return nil }
        return Int(result.stdout[range.upperBound...].prefix { $0.isNumber })
    }

    func testListeningAndRelaySocketsGetTheirConfiguredSizes() throws {
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        let gateway = try GatewayProcess(flags: ["--user", "alice:secret", "--realm", "example.org", "--workers", "1",
                                                 "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)",
                                                 "--socket-buffer-bytes", "524288", "--relay-socket-buffer-bytes", "98304"], port: port)
        XCTAssertEqual(try receiveBuffer(port: gateway.port), 2 * 524_288, "listening socket")
        let client = try TurnTestClient(port: gateway.port)
        let allocated = try client.allocate()
        let relayed = try XCTUnwrap(allocated.relayed.first, "\(allocated)")
        XCTAssertEqual(try receiveBuffer(port: relayed.port), 2 * 98_304, "relay socket")
        XCTAssertTrue(gateway.log.contains("relay_receive_kib=96"), "the start-up log shows the relay sockets' size:\n\(gateway.log)")
        _ = gateway.stopCleanly()
    }

    /// Without a setting, the built-in defaults apply (1 MiB listening, 64 KiB relay), not the
    /// system's ~208 KiB.
    func testDefaultsAreSized() throws {
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        let gateway = try GatewayProcess(flags: ["--user", "alice:secret", "--realm", "example.org", "--workers", "1",
                                                 "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)"], port: port)
        XCTAssertEqual(try receiveBuffer(port: gateway.port), 2 * 1_048_576, "listening socket")
        let allocated = try TurnTestClient(port: gateway.port).allocate()
        let relayed = try XCTUnwrap(allocated.relayed.first, "\(allocated)")
        XCTAssertEqual(try receiveBuffer(port: relayed.port), 2 * 65_536, "relay socket")
        _ = gateway.stopCleanly()
    }

    /// An EVEN-PORT reservation holds the next port with the smallest buffers (nothing reads
    /// it) and gives it the relay's size when a RESERVATION-TOKEN claims it.
    func testHeldReservationIsSmallUntilClaimed() throws {
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        let gateway = try GatewayProcess(flags: ["--user", "alice:secret", "--realm", "example.org", "--workers", "1",
                                                 "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)"], port: port)
        let first = try TurnTestClient(port: gateway.port)
        let even = try first.request(.allocate) { builder in
            try TurnTestClient.udpTransport(&builder)
            try builder.appendTestBytes(.evenPort, [0x80])  // R: reserve the next port
        }
        let relayed = try XCTUnwrap(even.relayed.first, "\(even)")
        let token = try XCTUnwrap(even.reservationToken, "EVEN-PORT with R gives a RESERVATION-TOKEN: \(even)")
        XCTAssertEqual(relayed.port % 2, 0)
        let held = try XCTUnwrap(try receiveBuffer(port: relayed.port + 1), "the next port is held")
        XCTAssertLessThan(held, 16_384, "a held reservation does not take a relay's buffers")
        let second = try TurnTestClient(port: gateway.port)
        let claimed = try second.request(.allocate) { builder in
            try TurnTestClient.udpTransport(&builder)
            try builder.appendTestBytes(.reservationToken, token)
        }
        XCTAssertEqual(claimed.relayed.first?.port, relayed.port + 1, "\(claimed)")
        XCTAssertEqual(try receiveBuffer(port: relayed.port + 1), 2 * 65_536, "claimed: the relay's size")
        _ = gateway.stopCleanly()
    }
}
