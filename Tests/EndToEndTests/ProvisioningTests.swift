import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// Provisioning over the control socket against the real daemon: live effect on TURN and
/// signaling, persistence across restarts and `kill -9`, refusal of a bad store.
final class ProvisioningTests: XCTestCase {
    func testTurnUsersAndSecretsTakeEffectLive() throws {
        let gateway = try GatewayProcess(flags: ["--turn", "--realm", "example.org"])
        // No credential yet: nobody allocates.
        let bob = try TurnTestClient(port: gateway.port, username: "bob", password: "pw-bob")
        XCTAssertEqual(try bob.allocate().errorCode, 401)
        _ = try ctlOK(gateway, ["turn-user", "add", "bob", "--password", "pw-bob"])
        let listed = try ctlOK(gateway, ["turn-user", "list"])
        XCTAssertEqual(listed?["users"]?.arrayValue?.first?["name"]?.stringValue, "bob")
        XCTAssertFalse(listed?.jsonText.contains("key") ?? true, "keys are never shown")
        // The reply comes once the workers have the change: no wait.
        let again = try TurnTestClient(port: gateway.port, username: "bob", password: "pw-bob")
        XCTAssertTrue(try again.allocate().isSuccess, "allowed right after turn-user add")
        _ = try ctlOK(gateway, ["turn-user", "remove", "bob"])
        let gone = try TurnTestClient(port: gateway.port, username: "bob", password: "pw-bob")
        XCTAssertEqual(try gone.allocate().errorCode, 401, "refused right after turn-user remove")

        // REST secrets: add one, mint a credential with it; rotation keeps it valid during the overlap.
        let added = try ctlOK(gateway, ["secret", "add"])
        let first = try XCTUnwrap(added?["secret"]?.stringValue)
        let rotated = try ctlOK(gateway, ["secret", "rotate", "--overlap", "3600"])
        XCTAssertEqual(rotated?["previous"]?["id"]?.stringValue, added?["id"]?.stringValue)
        let secrets = try ctlOK(gateway, ["secret", "list"])
        XCTAssertEqual(secrets?["secrets"]?.arrayValue?.count, 2)
        XCTAssertFalse(secrets?.jsonText.contains(first) ?? true, "secrets are never listed")
        let username = "\(Int(time(nil)) + 600):cam-1"
        let password = try restPassword(username, secret: first)
        func allocateWithFirst() throws -> TurnAnswer {
            let client = try TurnTestClient(port: gateway.port, username: username, password: password)
            client.realm = "example.org"
            return try client.allocate()
        }
        XCTAssertTrue(try allocateWithFirst().isSuccess, "the previous secret works during the overlap")
        _ = try ctlOK(gateway, ["secret", "remove", try XCTUnwrap(added?["id"]?.stringValue)])
        XCTAssertEqual(try allocateWithFirst().errorCode, 401, "a removed secret is refused")
        gateway.stopCleanly()
    }

    /// A secret replaced in the configuration file stops working at the reload, not at a restart.
    func testReloadReplacesTheRestSecretLive() throws {
        let leaked = "leaked-secret-\(UUID().uuidString)", fresh = "fresh-secret-\(UUID().uuidString)"
        let gateway = try GatewayProcess(config: "use-auth-secret\nstatic-auth-secret = \(leaked)\n", flags: ["--realm", "example.org"])
        let username = "\(Int(time(nil)) + 600):cam-1"
        func allocate(_ secret: String) throws -> TurnAnswer {
            let client = try TurnTestClient(port: gateway.port, username: username, password: try restPassword(username, secret: secret))
            client.realm = "example.org"
            return try client.allocate()
        }
        XCTAssertTrue(try allocate(leaked).isSuccess)
        try gateway.rewriteConfig("use-auth-secret\nstatic-auth-secret = \(fresh)\n")
        let reloaded = try ctl(gateway, ["reload"])
        XCTAssertEqual(reloaded.json?["restartNeeded"]?.boolValue, false, "\(String(describing: reloaded.json))")
        XCTAssertEqual(try allocate(leaked).errorCode, 401, "the replaced secret is refused at once")
        XCTAssertTrue(try allocate(fresh).isSuccess)
        // A change that needs a restart is named.
        try gateway.rewriteConfig("use-auth-secret\nstatic-auth-secret = \(fresh)\nmin-port = 50000\n")
        let named = try ctl(gateway, ["reload"])
        XCTAssertEqual(named.json?["restartFor"]?.arrayValue?.compactMap(\.stringValue), ["min-port/max-port"])
        gateway.stopCleanly()
    }

    func testDevicesSignalLiveAndPersistAcrossRestart() throws {
        let rig = try SignalingRig(clients: [:], brokerUsers: ["cam-1", "viewer-1"])
        let cam = try rig.connect("cam-1")
        let viewer = try rig.connect("viewer-1")
        viewer.send(["v": 1, "type": "OFFER", "sid": "s", "to": "cam-1", "mid": "1", "body": ["sdp": sampleSDP()]])
        XCTAssertEqual(rig.expect("STATUS", at: viewer)?["error"] as? String, "forbidden", "not provisioned yet")
        _ = try ctlOK(rig.gateway, ["device", "add", "cam-1", "--group", "home"])
        _ = try ctlOK(rig.gateway, ["device", "add", "viewer-1", "--role", "viewer", "--group", "home"])
        // Provisioning renews the presence subscription: the retained statuses come again.
        try waitUntil("rtcgate never saw the newly provisioned clients online") {
            try ["cam-1", "viewer-1"].allSatisfy { try ctlOK(rig.gateway, ["device", "show", $0])?["online"]?.boolValue == true }
        }
        viewer.send(["v": 1, "type": "OFFER", "sid": "s", "to": "cam-1", "mid": "2", "body": ["sdp": sampleSDP()]])
        XCTAssertEqual(rig.expect("STATUS", at: viewer, count: 2)?["code"] as? Int, 200, "\(viewer.inbox)")
        XCTAssertNotNil(rig.expect("OFFER", at: cam))
        let shown = try ctlOK(rig.gateway, ["device", "show", "cam-1"])
        XCTAssertEqual(shown?["online"]?.boolValue, true)
        XCTAssertEqual(shown?["sessions"]?.arrayValue?.count, 1)
        let sessions = try ctlOK(rig.gateway, ["session", "list"])
        XCTAssertEqual(sessions?["sessions"]?.arrayValue?.first?["sid"]?.stringValue, "s")
        // Removing the viewer ends its session (END policy) and refuses it from then on.
        _ = try ctlOK(rig.gateway, ["device", "remove", "viewer-1"])
        XCTAssertEqual((rig.expect("END", at: cam)?["body"] as? [String: Any])?["reason"] as? String, "policy")
        // The store survives a restart: cam-1 is still provisioned.
        let state = rig.gateway.stateDirectory
        rig.gateway.stopCleanly()
        let restarted = try GatewayProcess(flags: ["--state-dir", state])
        let devices = try ctlOK(restarted, ["device", "list"])
        XCTAssertEqual(devices?["devices"]?.arrayValue?.map { $0["id"]?.stringValue }, ["cam-1"])
        restarted.stopCleanly()
    }

    /// kill -9 in the middle of a stream of provisioning changes: after a restart the store is
    /// intact and holds every change that was acknowledged.
    func testKillNineDuringProvisioningLosesNothingAcknowledged() throws {
        let gateway = try GatewayProcess()
        let state = gateway.stateDirectory
        let socket = try UnixLineClient(path: gateway.controlSocket)
        var acknowledged: [String] = []
        let pid = gateway.pid
        let killer = Thread {
            usleep(150_000)  // into the stream of changes: the kill must land mid-stream
            kill(pid, SIGKILL)
        }
        killer.start()
        for i in 0..<5_000 {
            let id = "dev-\(i)"
            guard let reply = try? socket.exchange(#"{"v":1,"id":\#(i),"cmd":"device.add","args":{"id":"\#(id)","groups":["g\#(i % 7)"]}}"#),
                  reply["ok"]?.boolValue == true else { break }
            acknowledged.append(id)
        }
        waitUntil(timeout: 5) { !gateway.isRunning }
        XCTAssertGreaterThan(acknowledged.count, 5, "some changes were acknowledged before the kill")
        XCTAssertLessThan(acknowledged.count, 5_000, "the kill landed mid-stream")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []
        let restarted = try GatewayProcess(flags: ["--state-dir", state])
        let devices = try ctlOK(restarted, ["device", "list"])?["devices"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        let missing = Set(acknowledged).subtracting(devices)
        XCTAssertTrue(missing.isEmpty, "acknowledged but lost: \(missing.sorted().prefix(5)); files after the kill: \(leftovers)")
        XCTAssertLessThanOrEqual(devices.count, acknowledged.count + 1, "at most the one change in flight may also be there")
        restarted.stopCleanly()
    }

    func testCorruptNewerOrLockedStoreIsRefusedAndLeftAlone() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let state = directory.file("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        for (name, text) in [("corrupt", #"{"format":"rtcgate-provisioning","version":1,"devices":[{"id":"#),
                             ("newer", #"{"format":"rtcgate-provisioning","version":99,"revision":1,"devices":[],"turnUsers":[],"restSecrets":[]}"#)] {
            let file = state + "/provisioning.json"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let gateway = try GatewayProcess(flags: ["--state-dir", state], waitReady: false)
            waitUntil("\(name): rtcgate must refuse to start", timeout: 10) { !gateway.isRunning }
            let exit = gateway.stop()
            XCTAssertEqual(exit.status, 2, "\(name): \(exit.log)")
            XCTAssertTrue(exit.log.contains("provisioning.json"), "\(name): names the file: \(exit.log)")
            XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), text, "\(name): the file is left as it was")
        }
        // A second daemon on the same state directory is refused (the first keeps running).
        try FileManager.default.removeItem(atPath: state + "/provisioning.json")
        let first = try GatewayProcess(flags: ["--state-dir", state])
        let second = try GatewayProcess(flags: ["--state-dir", state], waitReady: false)
        waitUntil(timeout: 10) { !second.isRunning }
        XCTAssertTrue(second.stop().log.contains("in use by another rtcgate"), second.log)
        XCTAssertTrue(first.isRunning)
        first.stopCleanly()
    }
}

/// base64(HMAC-SHA1(secret, username)), computed independently of rtcgate with Python.
func restPassword(_ username: String, secret: String) throws -> String {
    let script = "import hmac,hashlib,base64,sys;print(base64.b64encode(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha1).digest()).decode())"
    let result = try runTool("/usr/bin/python3", ["-c", script, secret, username])
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
