import XCTest

/// The shipped broker configuration (packaging/mosquitto/rtcgate.conf + rtcgate.acl) on a real
/// mosquitto: each client writes only its own up/status topics and reads only its own down topic,
/// no anonymous or wrong-password logins, no client-id takeover of rtcgate's connection.
final class BrokerACLTests: XCTestCase {
    func testShippedACLHoldsOnARealMosquitto() throws {
        let result = try runTool("/bin/bash", [TestPaths.repoRoot + "/packaging/mosquitto/check-acl.sh"], timeout: 120)
        XCTAssertEqual(result.status, 0, "\(result.stdout)\n\(result.stderr)")
        XCTAssertTrue(result.stdout.contains("all checks passed"), result.stdout)
        XCTAssertFalse(result.stdout.contains("FAIL"), result.stdout)
    }
}
