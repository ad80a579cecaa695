import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// A real Chromium, with only the JavaScript the gateway serves (`packaging/web`: rtcgate.js and
/// mqtt.js, loaded from the broker's WebSockets listener), sees a relay-only camera online in its
/// directory, calls it and decodes its video through rtcgate's relay; hanging up ends the session
/// on the gateway. The camera is `Tests/Clients/camera_device.py` (aiortc, test pattern).
final class BrowserViewerTests: XCTestCase {
    /// A signaling rig whose broker also serves `packaging/web` over a `ws` listener; its port.
    private func browserRig(clients: [String: String], extraConfig: String = "") throws -> (SignalingRig, UInt16) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            throw HarnessError("chromium-driver is not installed (packaging/dev/setup.sh installs it)")
        }
        let rig = try SignalingRig(clients: clients, extraConfig: extraConfig, webSockets: TestPaths.repoRoot + "/packaging/web")
        return (rig, try XCTUnwrap(rig.broker.webSocketsPort))
    }

    /// `Tests/Clients/camera_device.py` as cam-1 on the rig's broker, once it is online.
    private func startCamera(_ rig: SignalingRig, seconds: Int) throws -> BackgroundTool {
        let camera = try BackgroundTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/camera_device.py",
                                                           "--broker", "127.0.0.1:\(rig.broker.port)", "--id", "cam-1",
                                                           "--password", SignalingRig.password, "--duration", "\(seconds)"])
        guard holds(within: 20, { camera.output.contains(#"{"ready": true}"#) }) else {
            throw HarnessError("the camera did not come online: \(camera.output)")
        }
        return camera
    }

    func testChromiumCallsACameraThroughTheGateway() throws {
        let (rig, wsPort) = try browserRig(clients: ["cam-1": "role=device groups=home relay-only", "viewer-1": "role=viewer groups=home"])
        let camera = try startCamera(rig, seconds: 60)
        let screenshot = TestPaths.repoRoot + "/.build/browser-viewer-call.png"
        let viewer = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/chromium_viewer.py",
                                                    "--base", "http://127.0.0.1:\(wsPort)", "--id", "viewer-1",
                                                    "--password", SignalingRig.password, "--camera", "cam-1", "--frames", "30",
                                                    "--timeout", "20", "--screenshot", screenshot], timeout: 90)
        let report = try? JSONParser.parse(Array((viewer.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertEqual(report?["ok"]?.boolValue, true, viewer.stdout + viewer.stderr + "\ncamera:\n" + camera.output
                       + "\nrtcgate:\n" + rig.gateway.log.suffix(3000))
        XCTAssertGreaterThanOrEqual(report?["framesDecoded"]?.intValue ?? 0, 30)
        XCTAssertLessThanOrEqual(report?["firstFrameMs"]?.intValue ?? .max, 5_000, "first frame within 5 s of the click")
        XCTAssertEqual(report?["localType"]?.stringValue, "relay", "relay-only camera: the viewer's end is relayed")
        XCTAssertEqual(report?["remoteType"]?.stringValue, "relay", "and so is the camera's")
        XCTAssertEqual(report?["directory"]?.arrayValue?.first?["id"]?.stringValue, "cam-1")
        XCTAssertTrue(holds(within: 5) {
            (try? ctl(rig.gateway, ["status"]))?.json?["planes"]?["signaling"]?["sessions"]?.intValue == 0
        }, "hanging up ended the session on the gateway")
        kill(camera.process.processIdentifier, SIGTERM)
        XCTAssertTrue(holds(within: 10) { !camera.process.isRunning })
        XCTAssertTrue(camera.output.contains(#""answered": 1"#), camera.output)
        rig.gateway.stopCleanly()
    }

    /// The shipped viewer page (packaging/web/index.html) as a person uses it: sign in, the
    /// camera online, click, live video with the figures panel, hang up. A
    /// screenshot of the call is kept at .build/viewer-page-call.png.
    func testViewerPageSignsInCallsAndHangsUp() throws {
        let (rig, wsPort) = try browserRig(clients: ["cam-1": "role=device groups=home relay-only", "viewer-1": "role=viewer groups=home"])
        let camera = try startCamera(rig, seconds: 60)
        let screenshot = TestPaths.repoRoot + "/.build/viewer-page-call.png"
        let viewer = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/chromium_viewer.py", "--page",
                                                    "--base", "http://127.0.0.1:\(wsPort)", "--id", "viewer-1",
                                                    "--password", SignalingRig.password, "--camera", "cam-1", "--frames", "30",
                                                    "--timeout", "20", "--screenshot", screenshot], timeout: 90)
        let report = try? JSONParser.parse(Array((viewer.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertEqual(report?["ok"]?.boolValue, true, viewer.stdout + viewer.stderr + "\ncamera:\n" + camera.output)
        XCTAssertTrue(report?["callState"]?.stringValue?.hasPrefix("Live: cam-1") == true, "\(String(describing: report))")
        XCTAssertTrue(report?["panel"]?.stringValue?.contains("yes, over UDP") == true, "relayed, shown: \(String(describing: report))")
        XCTAssertEqual(report?["afterHangup"]?.stringValue, "Call ended")
        XCTAssertTrue(FileManager.default.fileExists(atPath: screenshot))
        XCTAssertTrue(holds(within: 5) {
            (try? ctl(rig.gateway, ["status"]))?.json?["planes"]?["signaling"]?["sessions"]?.intValue == 0
        }, "hanging up on the page ended the session")
        kill(camera.process.processIdentifier, SIGTERM)
        rig.gateway.stopCleanly()
    }

    /// A camera that dies mid-call (SIGKILL: its Last Will) shows offline in the page's
    /// directory, and the page says why the call ended.
    func testCameraGoingOfflineMidCallIsShown() throws {
        let (rig, wsPort) = try browserRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"])
        let camera = try startCamera(rig, seconds: 60)
        let viewer = try runTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/chromium_viewer.py", "--page",
                                                    "--base", "http://127.0.0.1:\(wsPort)", "--id", "viewer-1",
                                                    "--password", SignalingRig.password, "--camera", "cam-1", "--frames", "10",
                                                    "--timeout", "20", "--kill-camera", "\(camera.process.processIdentifier)"],
                                 timeout: 90)
        let report = try? JSONParser.parse(Array((viewer.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertEqual(report?["cameraShownOffline"]?.boolValue, true, viewer.stdout + viewer.stderr)
        XCTAssertTrue(report?["offlineMessage"]?.stringValue?.contains("offline") == true, viewer.stdout)
        XCTAssertEqual(report?["afterHangup"]?.stringValue, "Call ended", viewer.stdout)
        XCTAssertTrue(holds(within: 5) {
            (try? ctl(rig.gateway, ["status"]))?.json?["planes"]?["signaling"]?["sessions"]?.intValue == 0
        }, "the gateway ended the session")
        rig.gateway.stopCleanly()
    }

    /// Two viewers call one camera whose gateway allows one viewer per device: the first
    /// watches, the second sees the refusal explained on its page.
    func testASecondViewerOverTheLimitSeesWhy() throws {
        let (rig, wsPort) = try browserRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home",
                                             "viewer-2": "role=viewer groups=home"], extraConfig: "signal-max-viewers = 1\n")
        let camera = try startCamera(rig, seconds: 60)
        defer { kill(camera.process.processIdentifier, SIGTERM) }
        let script = TestPaths.repoRoot + "/Tests/Clients/chromium_viewer.py"
        let common = ["--page", "--base", "http://127.0.0.1:\(wsPort)", "--password", SignalingRig.password, "--camera", "cam-1",
                      "--frames", "10", "--timeout", "20"]
        let first = try BackgroundTool(TestPaths.python, [script, "--id", "viewer-1", "--hold", "12"] + common)
        XCTAssertTrue(holds(within: 30) {
            (try? ctl(rig.gateway, ["status"]))?.json?["planes"]?["signaling"]?["sessions"]?.intValue == 1
        }, first.output)
        let second = try runTool(TestPaths.python, [script, "--id", "viewer-2", "--expect-error"] + common, timeout: 60)
        let report = try? JSONParser.parse(Array((second.stdout.split(separator: "\n").last ?? "").utf8))
        XCTAssertTrue(report?["pageError"]?.stringValue?.contains("busy (too many viewers)") == true, second.stdout + second.stderr)
        XCTAssertEqual(report?["callState"]?.stringValue, "Call failed", second.stdout)
        XCTAssertTrue(holds(within: 40) { !first.process.isRunning }, "the first viewer hangs up by itself")
        XCTAssertTrue(first.output.contains(#""ok": true"#), "the first viewer watched throughout: \(first.output)")
        rig.gateway.stopCleanly()
    }

    /// The broker restarts mid-call: the page shows it reconnecting, comes back by itself, and
    /// the next call works.
    func testPageReconnectsAfterABrokerRestartAndCallsAgain() throws {
        let (rig, wsPort) = try browserRig(clients: ["cam-1": "role=device groups=home", "viewer-1": "role=viewer groups=home"])
        let camera = try startCamera(rig, seconds: 90)
        let marker = camera.directory.file("live")
        let viewer = try BackgroundTool(TestPaths.python, [TestPaths.repoRoot + "/Tests/Clients/chromium_viewer.py", "--page",
                                                           "--base", "http://127.0.0.1:\(wsPort)", "--id", "viewer-1",
                                                           "--password", SignalingRig.password, "--camera", "cam-1",
                                                           "--frames", "10", "--timeout", "25", "--reconnect-marker", marker])
        XCTAssertTrue(holds(within: 40) { FileManager.default.fileExists(atPath: marker) }, viewer.output)
        rig.broker.stop()
        sleep(1)
        try rig.broker.start()
        XCTAssertTrue(holds(within: 80) { !viewer.process.isRunning }, viewer.output)
        let report = try? JSONParser.parse(Array((viewer.output.split(separator: "\n").last { $0.hasPrefix("{") } ?? "").utf8))
        XCTAssertEqual(report?["sawReconnecting"]?.boolValue, true, viewer.output)
        XCTAssertGreaterThanOrEqual(report?["secondCallFrames"]?.intValue ?? 0, 10, "the call after the restart: \(viewer.output)")
        rig.gateway.stopCleanly()
    }
}
