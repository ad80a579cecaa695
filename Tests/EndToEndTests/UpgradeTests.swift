import BrokerHarness
import Foundation
import Glibc
import JSON
import Reactor
import TestSupport
import XCTest

/// Firmware updates without dropping a call (issue #16, docs/handover.md): `rtcgate ctl upgrade`
/// hands the sockets and the state to another build while a real call runs through the relay,
/// and every way it can go wrong leaves exactly one rtcgate serving.
final class UpgradeTests: XCTestCase {
    /// An aiortc call (video plus 20 ms pings on an unreliable data channel) over the relay, and
    /// `ctl upgrade` to a build with another version in the middle of the pings.
    func testCallCarriesOnWhileAnotherBuildTakesOver() throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home relay-only", "viewer-1": "role=viewer groups=home"])
        let build = try PatchedBuild(version: "0.1.0-upgraded")
        let directory = TemporaryDirectory()
        var successor: Int32 = 0
        defer {
            stopProcess(successor)
            // Kept for a look after the run: the peers' logs and rtcgate's (both processes).
            let kept = TestPaths.repoRoot + "/.build/upgrade-call"
            try? FileManager.default.removeItem(atPath: kept)
            try? FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
            for name in ["camera.out", "camera.err", "viewer.out", "viewer.err"] {
                try? FileManager.default.copyItem(atPath: directory.file(name), toPath: kept + "/" + name)
            }
            try? rig.gateway.log.write(toFile: kept + "/rtcgate.log", atomically: true, encoding: .utf8)
            build.remove()
            directory.remove()
        }
        let common = ["--broker", "127.0.0.1:\(rig.broker.port)", "--password", SignalingRig.password, "--messages", "5",
                      "--timeout", "75", "--video-frames", "30"]
        let camera = try WebRTCPeerRun(common + ["--id", "cam-1", "--peer", "viewer-1", "--role", "answerer", "--probe-seconds", "10"],
                                   directory: directory, name: "camera")
        try waitUntil("the camera never came online at rtcgate", timeout: 30) {
            try ctl(rig.gateway, ["stats"]).json?["signaling_presence_changes_total"]?["state=online"]?.intValue ?? 0 >= 1
        }
        let viewer = try WebRTCPeerRun(common + ["--id", "viewer-1", "--peer", "cam-1", "--role", "offerer", "--probe-seconds", "10"],
                                   directory: directory, name: "viewer")
        defer { for peer in [camera.process, viewer.process] where peer.isRunning { kill(peer.processIdentifier, SIGKILL) } }
        guard waitUntil("the viewer never started its pings: \(viewer.log.suffix(3000))", timeout: 45, { viewer.log.contains("probing:") }) else { return }
        usleep(2_000_000)

        let before = try XCTUnwrap(statusJSON(rig.gateway))
        let allocationsBefore = try XCTUnwrap(try ctl(rig.gateway, ["allocation", "list"]).json?["allocations"]?.arrayValue)
        let sessionsBefore = before["planes"]?["signaling"]?["sessions"]?.intValue
        XCTAssertEqual(allocationsBefore.count, 2, "one relay allocation per peer")
        XCTAssertEqual(sessionsBefore, 1)

        let statsBefore = try XCTUnwrap(try ctl(rig.gateway, ["stats"]).json)
        let upgrade = try ctlUpgrade(rig.gateway, binary: build.path)
        XCTAssertEqual(upgrade.status, 0, "ctl upgrade: \(upgrade.stderr)\nrtcgate:\n\(rig.gateway.log.suffix(4000))")
        let after = try XCTUnwrap(statusJSON(rig.gateway))
        successor = Int32(after["pid"]?.intValue ?? 0)
        XCTAssertEqual(after["version"]?.stringValue, "0.1.0-upgraded")
        XCTAssertNotEqual(successor, rig.gateway.pid)
        XCTAssertEqual(successor, startedChildPid(rig.gateway.log))
        XCTAssertEqual(after["handover"]?["allocationsRestored"]?.intValue, 2)
        XCTAssertEqual(after["planes"]?["signaling"]?["sessions"]?.intValue, sessionsBefore, "sessions carried over")
        let allocationsAfter = try XCTUnwrap(try ctl(rig.gateway, ["allocation", "list"]).json?["allocations"]?.arrayValue)
        XCTAssertEqual(Set(allocationsAfter.compactMap { $0["relayed"]?.stringValue }), Set(allocationsBefore.compactMap { $0["relayed"]?.stringValue }),
                       "the same relayed addresses")
        // Counters carry on from the old process's totals (a scrape never sees one go back).
        let statsAfter = try XCTUnwrap(try ctl(rig.gateway, ["stats"]).json)
        func total(_ value: JSONValue?) -> Int? { value?.intValue ?? value?.objectValue?.reduce(0) { $0 + ($1.1.intValue ?? 0) } }
        for name in ["udp_datagrams_received_total", "turn_packets_total", "mqtt_messages_received_total", "signaling_messages_total"] {
            let was = total(statsBefore[name]), now = total(statsAfter[name])
            XCTAssertNotNil(was, name)
            XCTAssertGreaterThanOrEqual(now ?? -1, was ?? Int.max, "\(name) went back")
        }
        XCTAssertTrue(holds(within: 5) { !processAlive(rig.gateway.pid) }, "the old process exits: \(processDiagnosis(rig.gateway.pid))")
        XCTAssertTrue(holds(within: 10) { statusJSON(rig.gateway)?["planes"]?["signaling"]?["connected"]?.boolValue == true })

        XCTAssertTrue(holds(within: 60) { !viewer.process.isRunning && !camera.process.isRunning }, "the call did not end")
        let viewerResult = try XCTUnwrap(viewer.result, "viewer: \(viewer.log.suffix(3000))")
        let cameraResult = try XCTUnwrap(camera.result, "camera: \(camera.log.suffix(3000))")
        XCTAssertEqual(viewerResult["ok"] as? Bool, true, "viewer: \(viewerResult)\n\(viewer.log.suffix(3000))")
        XCTAssertEqual(cameraResult["ok"] as? Bool, true, "camera: \(cameraResult)\n\(camera.log.suffix(3000))")
        let probe = try XCTUnwrap(viewerResult["probe"] as? [String: Any])
        XCTAssertLessThanOrEqual(probe["lost"] as? Int ?? 99, 1, "pings lost across the upgrade: \(probe)")
        XCTAssertEqual(probe["pairBefore"] as? String, probe["pairAfter"] as? String, "the same candidate pair")
        XCTAssertTrue((probe["pairBefore"] as? String ?? "").hasPrefix("relay"), "\(probe)")
        XCTAssertGreaterThan(probe["videoFramesDuring"] as? Int ?? 0, 100, "video kept coming: \(probe)")
        for result in [viewerResult, cameraResult] {
            let states = result["iceStates"] as? [String] ?? []
            XCTAssertEqual(states.filter { $0 == "checking" }.count, 1, "no ICE restart: \(states)")
            XCTAssertFalse(states.contains("failed") || states.contains("disconnected"), "\(states)")
        }
        print("handover during the call: \(after["handover"].map(\.jsonText) ?? "-"); probe \(probe)")
    }

    /// TCP and TLS connections cannot be handed over (a TLS session's state lives in OpenSSL): the
    /// old process keeps serving them, and their allocations, until they close, then exits. A
    /// load over TURN/TCP and one over TURN/TLS through an upgrade lose nothing.
    func testTCPAndTLSClientsStayWithTheOldProcessUntilTheyLeave() throws {
        let certificates = try TLSCertificates()
        let tlsPort = try freePort()
        let gateway = try GatewayProcess(flags: ["--realm", "example.org", "--user", "alice:secret", "--allowed-peer-ip", "127.0.0.1",
                                                 "--workers", "2", "--tls-listening-port", "\(tlsPort)",
                                                 "--cert", certificates.certificatePath, "--pkey", certificates.keyPath])
        var successor: Int32 = 0
        defer { stopProcess(successor) }
        func load(_ transport: String, _ port: UInt16) throws -> BackgroundTool {
            try BackgroundTool(TestPaths.bench, ["turn", "--server", "127.0.0.1:\(port)", "--user", "alice", "--password", "secret",
                                                 "--realm", "example.org", "--mode", "channel", "--allocations", "2", "--window", "4",
                                                 "--transport", transport, "--duration", "6", "--warmup", "1", "--json"]
                                              + (transport == "tls" ? ["--ca", certificates.caPath] : []))
        }
        let tcp = try load("tcp", gateway.port), tls = try load("tls", tlsPort)
        usleep(2_500_000)
        let upgrade = try ctlUpgrade(gateway)
        XCTAssertEqual(upgrade.status, 0, upgrade.stderr + gateway.log.suffix(3000))
        successor = Int32(statusJSON(gateway)?["pid"]?.intValue ?? 0)
        XCTAssertNotEqual(successor, gateway.pid)
        XCTAssertTrue(gateway.waitForLog("TCP/TLS connection(s) stay with this process", timeout: 5), gateway.log.suffix(2000).description)
        XCTAssertTrue(processAlive(gateway.pid), "the old process serves its TCP/TLS clients")
        try gateway.waitUntilServing(timeout: 2)  // UDP: the successor

        for (name, run) in [("tcp", tcp), ("tls", tls)] {
            XCTAssertTrue(holds(within: 30) { !run.process.isRunning }, "\(name) load still running")
            let line = run.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }).map(String.init) ?? ""
            let figures = try XCTUnwrap(try? JSONParser.parse(Array(line.utf8)), "\(name): \(run.output.suffix(2000))")
            XCTAssertEqual(figures["lost"]?.intValue, 0, "\(name): \(line)")
            XCTAssertEqual(figures["invalid"]?["total"]?.intValue, 0, "\(name): \(line)")
            XCTAssertGreaterThan(Double(figures["rtps"].map(\.jsonText) ?? "0") ?? 0, 100, "\(name): \(line)")
        }
        XCTAssertTrue(holds(within: 5) { !processAlive(gateway.pid) }, "the old process leaves with its last connection: \(processDiagnosis(gateway.pid))")
        XCTAssertTrue(gateway.log.contains("rtcgate handed over and stopped"), gateway.log.suffix(2000).description)
    }

    /// The systemd contract (Type=notify, NotifyAccess=all), on a notification socket of our
    /// own: READY=1 once serving; across an upgrade the new process names itself the main pid
    /// (MAINPID=) and then says READY=1.
    func testSystemdIsToldReadyAndTheNewMainPid() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("notify.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        func notifications(within seconds: Double) -> [String] {
            var seen: [String] = []
            let deadline = monotonicSeconds() + seconds
            var buffer = [UInt8](repeating: 0, count: 512)
            while monotonicSeconds() < deadline {
                guard pollReadable(fd, timeout: deadline - monotonicSeconds()) else { break }
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { seen.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
            }
            return seen
        }
        let gateway = try GatewayProcess(environment: ["NOTIFY_SOCKET": path])
        XCTAssertEqual(notifications(within: 1), ["READY=1"])
        let upgrade = try ctlUpgrade(gateway)
        XCTAssertEqual(upgrade.status, 0, upgrade.stderr)
        let successor = Int32(statusJSON(gateway)?["pid"]?.intValue ?? 0)
        defer { stopProcess(successor) }
        XCTAssertEqual(notifications(within: 1), ["MAINPID=\(successor)", "MAINPID=\(successor)\nREADY=1"])
    }

    /// One instance of a cluster upgraded: the other never sees it go offline (no offline status,
    /// no Last Will: a clean DISCONNECT), the successor sees the other online, and a call set up
    /// through the cluster afterwards reaches its recipient exactly once.
    func testAClusterInstanceIsUpgradedWithoutLeaving() throws {
        let password = SignalingRig.password
        let broker = try MosquittoBroker(.rtcgate(users: ["rtcgate": password, "rtcgate-b": password, "cam-1": password, "viewer-1": password]),
                                         gatewayUsers: ["rtcgate-b"])
        func instance(_ name: String, user: String) throws -> GatewayProcess {
            let lines = ["signal-client = cam-1 role=device groups=home", "signal-client = viewer-1 role=viewer groups=home",
                         "mqtt-host = 127.0.0.1", "mqtt-port = \(broker.port)", "mqtt-user = \(user)", "mqtt-password = \(password)",
                         "cluster-instance = \(name)", "use-auth-secret", "static-auth-secret = upgrade-cluster-secret"]
            return try GatewayProcess(config: lines.joined(separator: "\n") + "\n")
        }
        let a = try instance("a", user: "rtcgate"), b = try instance("b", user: "rtcgate-b")
        XCTAssertTrue(b.waitForLog("cluster: instance a is online", timeout: 10), b.log)
        let upgrade = try ctlUpgrade(a)
        XCTAssertEqual(upgrade.status, 0, upgrade.stderr + a.log.suffix(3000))
        let successor = Int32(statusJSON(a)?["pid"]?.intValue ?? 0)
        defer { stopProcess(successor) }
        XCTAssertTrue(holds(within: 10) { statusJSON(a)?["planes"]?["signaling"]?["connected"]?.boolValue == true })
        XCTAssertTrue(a.waitForLog("cluster: instance b is online", count: 2, timeout: 10), "the successor sees b: \(a.log.suffix(2000))")
        usleep(1_000_000)  // an offline status of a would have reached b by now
        XCTAssertFalse(b.log.contains("cluster: instance a is offline"), "b saw a leave: \(b.log.suffix(2000))")

        let loop = try EventLoop(maxRegistrations: 16, timerCapacity: 64, tickNanos: 5_000_000)
        let cam = try SignalTestClient(id: "cam-1", password: password, brokerPort: broker.port, loop: loop)
        let viewer = try SignalTestClient(id: "viewer-1", password: password, brokerPort: broker.port, loop: loop)
        waitUntil(loop, "clients not ready") { cam.isReady && viewer.isReady }
        viewer.send(["v": 1, "type": "OFFER", "sid": "after", "to": "cam-1", "mid": "after", "body": ["sdp": sampleSDP()]])
        waitUntil(loop, "OFFER delivered after the upgrade: \(a.log.suffix(1500))") { !cam.received("OFFER").isEmpty }
        runLoop(loop, for: 0.5)
        XCTAssertEqual(cam.received("OFFER").count, 1, "exactly once")
        XCTAssertEqual(viewer.received("STATUS").filter { $0["mid"] as? String == "after" }.compactMap { $0["code"] as? Int }, [200])
    }

    /// A build that reads another snapshot format refuses; the running rtcgate serves on, and a
    /// compatible upgrade afterwards still works.
    func testIncompatibleBuildIsRefusedAndTheRunningOneServesOn() throws {
        let gateway = try GatewayProcess(flags: ["--realm", "example.org", "--user", "alice:secret", "--workers", "2"])
        let incompatible = try PatchedBuild(snapshotFormat: 9)
        var successor: Int32 = 0
        defer {
            stopProcess(successor)
            incompatible.remove()
        }
        let refused = try ctlUpgrade(gateway, binary: incompatible.path)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("snapshot format 1 is not the one this build reads (9)"), refused.stderr)
        XCTAssertEqual(statusJSON(gateway)?["pid"]?.intValue, Int(gateway.pid))
        let child = try XCTUnwrap(startedChildPid(gateway.log))
        XCTAssertFalse(processAlive(child), "the refusing build is gone")
        try gateway.waitUntilServing(timeout: 2)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: gateway.directory.path).contains { $0.hasPrefix("handover-") })

        let upgraded = try ctlUpgrade(gateway)
        XCTAssertEqual(upgraded.status, 0, upgraded.stderr + gateway.log.suffix(3000))
        successor = Int32(statusJSON(gateway)?["pid"]?.intValue ?? 0)
        XCTAssertNotEqual(successor, gateway.pid)
        try gateway.waitUntilServing(timeout: 2)
    }

    /// A configuration changed to another number of workers cannot take the sockets over one for
    /// one (the kernel steers each flow to a socket, each socket is a worker's): refused.
    func testAnotherWorkerCountIsRefused() throws {
        let gateway = try GatewayProcess(config: "workers = 2\n")
        try gateway.rewriteConfig("workers = 3\n")
        let refused = try ctlUpgrade(gateway)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("runs 3 media workers, the running rtcgate 2"), refused.stderr)
        XCTAssertEqual(statusJSON(gateway)?["pid"]?.intValue, Int(gateway.pid))
        try gateway.waitUntilServing(timeout: 2)
        gateway.stopCleanly()
    }

    /// The successor cannot reach the broker within `handover-timeout`: it gives up, and the
    /// running rtcgate resumes (its workers read again, and it reconnects to the broker).
    func testSuccessorThatIsNotReadyGivesUp() throws {
        let rig = try SignalingRig(clients: ["cam-1": "role=device groups=home"], flags: ["--handover-timeout", "2"])
        rig.broker.stop()
        let refused = try ctlUpgrade(rig.gateway)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("not ready within the bound") && refused.stderr.contains("broker"), refused.stderr)
        XCTAssertEqual(statusJSON(rig.gateway)?["pid"]?.intValue, Int(rig.gateway.pid))
        XCTAssertFalse(processAlive(try XCTUnwrap(startedChildPid(rig.gateway.log))))
        try rig.gateway.waitUntilServing(timeout: 2)
        try rig.broker.start()
        XCTAssertTrue(rig.gateway.waitForLog("signaling connected", count: 2, timeout: 20), rig.gateway.log.suffix(3000).description)
    }

    /// A new process that hangs while it serves: the old one changes nothing meanwhile (writes
    /// to the store are refused, the new process read it already), and at its deadline it kills
    /// the new one and resumes.
    func testAHungSuccessorIsKilledAndTheStoreWasLeftAlone() throws {
        let gateway = try GatewayProcess(flags: ["--handover-timeout", "1"], environment: ["RTCGATE_HANDOVER_STALL_AT": "new-after-serving"])
        let upgrade = try BackgroundTool(TestPaths.rtcgate, ["ctl", "--socket", gateway.controlSocket, "upgrade", "--wait", "30"])
        XCTAssertTrue(gateway.waitForLog("workers stopped reading", timeout: 10), gateway.log.suffix(2000).description)
        let busy = try ctl(gateway, ["device", "add", "cam-9", "--group", "home"])
        XCTAssertEqual(busy.status, 1, busy.stderr)
        XCTAssertTrue(busy.stderr.contains("handover"), busy.stderr)
        XCTAssertEqual(try ctl(gateway, ["status"]).status, 0, "reads still answer")
        XCTAssertTrue(holds(within: 20) { !upgrade.process.isRunning }, "ctl upgrade still waiting")
        XCTAssertEqual(upgrade.process.terminationStatus, 1, upgrade.output)
        XCTAssertTrue(upgrade.output.contains("timed out during 'serving'"), upgrade.output)
        XCTAssertFalse(processAlive(try XCTUnwrap(startedChildPid(gateway.log))))
        try gateway.waitUntilServing(timeout: 2)
        XCTAssertEqual(try ctl(gateway, ["device", "add", "cam-9", "--group", "home"]).status, 0, "writes work again")
        gateway.stopCleanly()
    }

    /// SIGTERM to the old process in the middle of a handover: it kills the new one, resumes and
    /// stops as usual (no hang on its paused workers), leaving nothing behind.
    func testStoppingTheOldProcessMidHandoverEndsBoth() throws {
        let gateway = try GatewayProcess(environment: ["RTCGATE_HANDOVER_STALL_AT": "new-after-serving"])
        let upgrade = try BackgroundTool(TestPaths.rtcgate, ["ctl", "--socket", gateway.controlSocket, "upgrade", "--wait", "30"])
        XCTAssertTrue(gateway.waitForLog("workers stopped reading", timeout: 10), gateway.log.suffix(2000).description)
        let child = try XCTUnwrap(startedChildPid(gateway.log))
        let exit = gateway.stopCleanly()
        XCTAssertLessThan(exit.seconds, 3, "stopped promptly")
        XCTAssertTrue(holds(within: 3) { !processAlive(child) }, "the new process went with it")
        XCTAssertTrue(exit.log.contains("handover failed: stop requested"), exit.log.suffix(2000).description)
        XCTAssertFalse(FileManager.default.fileExists(atPath: gateway.controlSocket), "a clean stop removes the socket file")
        withExtendedLifetime(upgrade) {}
    }

    /// Only root or rtcgate's own user may start a handover, even where the control socket lets
    /// others in.
    func testUpgradeNeedsRootOrRtcgatesUser() throws {
        // uid/gid 65534 is a member of control-group: the control socket lets it in.
        let gateway = try GatewayProcess(flags: ["--control-group", "65534"])
        chmod(gateway.directory.path, 0o755)
        XCTAssertEqual(try ctl(gateway, ["status"], as: 65534).status, 0, "control-group members may use the socket")
        let refused = try ctl(gateway, ["upgrade"], as: 65534)
        XCTAssertEqual(refused.status, 4, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("only root or rtcgate's own user"), refused.stderr)
        XCTAssertNil(startedChildPid(gateway.log), "nothing was started")
        gateway.stopCleanly()
    }

    /// Each side killed at each step of the handover: exactly one rtcgate is left, it serves
    /// STUN and the control socket, and no handover socket is left behind. A TURN allocation
    /// made before lives on wherever its state reached the survivor (refreshed with the same
    /// nonce, relaying to its peer); where the old process died before handing it over, it is
    /// gone (437), never half there.
    func testACrashAtAnyStepLeavesExactlyOneServer() throws {
        let steps = ["old-after-offer", "old-after-pause", "old-after-snapshot", "old-before-commit",
                     "new-after-offer", "new-after-snapshot", "new-after-serving", "new-before-ready"]
        for step in steps {
            let gateway = try GatewayProcess(flags: ["--realm", "example.org", "--user", "alice:secret", "--workers", "2",
                                                     "--allowed-peer-ip", "127.0.0.1"],
                                             environment: ["RTCGATE_HANDOVER_CRASH_AT": step])
            let client = try TurnTestClient(port: gateway.port)
            let allocated = try client.allocate()
            let relayed = try XCTUnwrap(allocated.relayed.first, "\(step): \(allocated)")
            let peer = try UDPClient(bindTo: "127.0.0.1")
            XCTAssertNil(try client.createPermission([peer.localAddress]).errorCode, step)

            let outcome = try ctlUpgrade(gateway, wait: 20)
            let child = try XCTUnwrap(startedChildPid(gateway.log), step)
            let oldSurvives = step.hasPrefix("new-")
            let survivor = oldSurvives ? gateway.pid : child
            let casualty = oldSurvives ? child : gateway.pid
            XCTAssertTrue(holds(within: 10) { !processAlive(casualty) }, "\(step): pid \(casualty) still there")
            XCTAssertTrue(holds(within: 10) { statusJSON(gateway)?["pid"]?.intValue == Int(survivor) },
                          "\(step): the survivor \(survivor) does not answer ctl; ctl upgrade: \(outcome.stderr)\n\(gateway.log.suffix(3000))")
            XCTAssertNoThrow(try gateway.waitUntilServing(timeout: 3), step)
            XCTAssertEqual(outcome.status, oldSurvives ? 1 : 0, "\(step): \(outcome.stderr)")
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: gateway.directory.path).contains { $0.hasPrefix("handover-") }, step)

            let refresh = try client.exchange(try client.build(.refresh, authenticated: true) { try $0.appendUInt32(.lifetime, 600) })
            if step == "old-after-offer" || step == "old-after-pause" {
                XCTAssertEqual(refresh.errorCode, 437, "\(step): the allocation went with the old process: \(refresh)")
            } else {
                XCTAssertNil(refresh.errorCode, "\(step): the allocation and its nonce live on: \(refresh)")
                try client.sendIndication([7, 7, 7], to: peer.localAddress)
                let relayedData = receiveFrom(peer.fd, timeout: 2)
                XCTAssertEqual(relayedData?.bytes, [7, 7, 7], step)
                XCTAssertEqual(relayedData?.source, relayed, "\(step): from the same relayed address")
            }
            if oldSurvives {
                gateway.stopCleanly()
            } else {
                stopProcess(child)
            }
        }
    }
}
