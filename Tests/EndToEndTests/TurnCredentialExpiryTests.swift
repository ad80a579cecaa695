import Foundation
import Glibc
import STUN
import XCTest

/// TURN REST credentials that expire mid-call: the allocation made while they were valid keeps
/// being refreshed and relaying (coturn and pion cut such calls off); a new allocation with the
/// expired credentials is refused.
final class TurnCredentialExpiryTests: XCTestCase {
    private let secret = "northnorthnorth1"

    func testAllocationOutlivesItsRestCredential() throws {
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        let gateway = try GatewayProcess(flags: ["--realm", "example.org", "--use-auth-secret", "--static-auth-secret", secret,
                                                 "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)",
                                                 "--allowed-peer-ip", "127.0.0.1", "--workers", "1"], port: port)
        let expiry = UInt64(Date().timeIntervalSince1970) + 2
        let username = "\(expiry):cam-1"
        let caller = try TurnTestClient(port: gateway.port, username: username, password: try restPassword(username, secret: secret))
        let allocated = try caller.allocate()
        XCTAssertEqual(allocated.type.messageClass, .successResponse, "\(allocated)")
        let peerSocket = try UDPClient(bindTo: "127.0.0.1")
        XCTAssertEqual(try caller.createPermission([peerSocket.localAddress]).type.messageClass, .successResponse)

        // Past the credential's expiry (nonces stay valid: they are good for 10 minutes).
        while UInt64(Date().timeIntervalSince1970) <= expiry + 1 { usleep(100_000) }
        let refreshed = try caller.refresh()
        XCTAssertEqual(refreshed.type.messageClass, .successResponse, "the call survives its credential's expiry: \(refreshed)")
        XCTAssertEqual(try caller.createPermission([peerSocket.localAddress]).type.messageClass, .successResponse)
        try caller.sendIndication(Array("still here".utf8), to: peerSocket.localAddress)
        let delivered = receiveFrom(peerSocket.fd, timeout: 1)
        XCTAssertEqual(delivered.map { String(decoding: $0.bytes, as: UTF8.self) }, "still here", "and keeps relaying")

        let latecomer = try TurnTestClient(port: gateway.port, username: username, password: try restPassword(username, secret: secret))
        let refused = try latecomer.allocate()
        XCTAssertEqual(refused.errorCode, 401, "expired credentials cannot start a new allocation: \(refused)")
        gateway.stopCleanly()
    }
}
