import Foundation
import JSON
import XCTest

/// packaging/web/mqtt.js in a real headless Chromium against a real mosquitto (and a scripted
/// WebSocket server for framing and keepalive failures): `Tests/Clients/chromium_mqtt_js.py`
/// checks login and refusal, QoS 1 both ways, 50 in-order messages up to 100 KB, retained flags,
/// the Last Will on an abrupt close and none on close(), keepalive, split and merged packets,
/// malformed lengths, and a missing PINGRESP.
final class BrowserMQTTTests: XCTestCase {
    func testMQTTClientInChromium() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            return XCTFail("chromium-driver is not installed (packaging/dev/setup.sh installs it)")
        }
        let result = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/chromium_mqtt_js.py"], timeout: 120)
        let report = try? JSONParser.parse(Array((result.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertEqual(report?["ok"]?.boolValue, true, result.stdout + result.stderr)
        for check in ["connect", "wrongPassword", "inbound50", "will", "cleanClose", "keepalive", "framing", "keepaliveTimeout"] {
            XCTAssertEqual(report?["checks"]?[check]?.boolValue, true, check)
        }
    }
}
