import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// The path model across three gateways (docs/paths.md), for real: `Tests/Clients/relay_path_lab.py`
/// puts three rtcgates and a broker on hosts of their own (network namespaces behind a router), an
/// impaired A↔B link in between (a userspace netem on a TUN device: 40 ± 30 ms, 30 % loss each way)
/// and a C 5 ms away from everyone; a camera homed at A and a viewer homed at B (aiortc) call.
final class RelayPathTests: XCTestCase {
    func testCallsAvoidAnImpairedLinkAndComeBackWhenItHeals() throws {
        guard geteuid() == 0 else { throw HarnessError("RelayPathTests needs root (ip netns, /dev/net/tun)") }
        let run = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/relay_path_lab.py", "--rtcgate", TestPaths.rtcgate,
                                                 "--measure"], timeout: 300)
        let report = try XCTUnwrap(try? JSONParser.parse(Array((run.stdout.split(separator: "\n").last ?? "").utf8)),
                                   run.stdout + run.stderr)
        let context = String(run.stdout.suffix(6_000))
        XCTAssertEqual(report["ok"]?.boolValue, true, context)
        XCTAssertLessThanOrEqual(report["convergeSeconds"]?.numberValue?.doubleValue ?? 99, 20, "every instance sees every relay link")
        XCTAssertLessThanOrEqual(report["impairVisibleSeconds"]?.numberValue?.doubleValue ?? 99, 10, "the impairment shows within 10 s")

        // While A↔B is impaired: the call crosses C, the same path from both ends, media through C.
        let impaired = report["impairedCall"]
        let camera = impaired?["camera"], viewer = impaired?["viewer"]
        XCTAssertEqual(camera?["ok"]?.boolValue, true, context)
        XCTAssertEqual(viewer?["ok"]?.boolValue, true, context)
        let cameraRelays = camera?["path"]?["relays"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let viewerRelays = viewer?["path"]?["relays"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(cameraRelays.contains("c"), "the path goes through C: \(cameraRelays)")
        XCTAssertEqual(cameraRelays, Array(viewerRelays.reversed()), "both ends were given the ends of one path")
        XCTAssertFalse(cameraRelays.first == "a" && cameraRelays.last == "b", "not the impaired A→B")
        XCTAssertEqual(camera?["path"]?["degraded"]?.boolValue, false)
        let relayIPs = ["a": "10.77.1.1", "b": "10.77.2.1", "c": "10.77.3.1"]
        XCTAssertEqual(camera?["localCandidate"]?.stringValue?.split(separator: ":").first.map(String.init), relayIPs[cameraRelays.first ?? ""],
                       "the camera's selected pair is on the relay it was given")
        XCTAssertEqual(viewer?["localCandidate"]?.stringValue?.split(separator: ":").first.map(String.init), relayIPs[viewerRelays.first ?? ""],
                       "and the viewer's")
        XCTAssertGreaterThan(impaired?["relayedPackets"]?["c"]?.intValue ?? 0, 100, "C's relay counters moved: the media crossed C")
        XCTAssertEqual(impaired?["relayedPackets"]?["a"]?.intValue, 0, "A relayed nothing of this call")
        XCTAssertLessThan(viewer?["probe"]?["loss"]?.numberValue?.doubleValue ?? 1, 0.05, "the chosen path is not the lossy one")
        let excluded = report["pathImpaired"]?["excluded"]?.arrayValue?.map { "\($0["from"]?.stringValue ?? "")-\($0["to"]?.stringValue ?? "")" }
        XCTAssertTrue(excluded?.contains("a-b") == true, "ctl path names the excluded edge: \(String(describing: excluded))")

        // The default (each end on its home relay) through the impaired link, for comparison: it
        // loses what the netem drops, or (30 % each way) the call does not even come up.
        let homeViewer = report["homeCall"]?["viewer"]
        if homeViewer?["ok"]?.boolValue == true {
            let home = homeViewer?["probe"]
            XCTAssertGreaterThan(home?["loss"]?.numberValue?.doubleValue ?? 0, 0.2, "the home path loses what the netem drops")
            XCTAssertGreaterThan(home?["rttMedianMs"]?.numberValue?.doubleValue ?? 0, viewer?["probe"]?["rttMedianMs"]?.numberValue?.doubleValue ?? 1e9)
        } else {
            XCTAssertNotNil(homeViewer?["error"]?.stringValue, "the home call failed on the impaired link: \(String(describing: homeViewer))")
        }

        // Lifted: within 10 s the model goes back to A and B, and the next call leaves C alone.
        XCTAssertLessThanOrEqual(report["liftVisibleSeconds"]?.numberValue?.doubleValue ?? 99, 10, "the switch back shows within 10 s")
        let again = report["againCall"]
        XCTAssertEqual(again?["viewer"]?["ok"]?.boolValue, true, context)
        let againRelays = again?["camera"]?["path"]?["relays"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertFalse(againRelays.isEmpty || againRelays.contains("c"), "the next call goes A/B without C: \(againRelays)")
        XCTAssertEqual(again?["relayedPackets"]?["c"]?.intValue, 0, "C relayed nothing of it")
        XCTAssertLessThan(again?["viewer"]?["probe"]?["loss"]?.numberValue?.doubleValue ?? 1, 0.05)
    }
}
