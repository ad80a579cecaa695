import BrokerHarness
import Foundation
import Glibc
import MQTT
import Reactor
import TestSupport
import XCTest

/// MQTT 5 → 3.1.1 fallback against a real broker that speaks only 3.1.1 (amqtt, from the
/// project's venv): the first CONNECT (version 5) gets no CONNACK, the client switches versions
/// and connects with 3.1.1 by itself.
final class MQTTFallbackTests: XCTestCase {
    func testFallsBackTo311WhenTheBrokerOnlySpeaks311() throws {
        let repo = MosquittoBroker.repoRoot
        let amqtt = repo + "/.venv/bin/amqtt"
        guard FileManager.default.isExecutableFile(atPath: amqtt) else {
            XCTFail("amqtt is not installed in .venv (packaging/dev/setup.sh installs it)")
            return
        }
        let port = try MosquittoBroker.freeTCPPort()
        let directory = NSTemporaryDirectory() + "rtcgate-amqtt-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = """
            listeners:
              default:
                type: tcp
                bind: 127.0.0.1:\(port)
            plugins:
              amqtt.plugins.authentication.AnonymousAuthPlugin:
                allow_anonymous: true
            """
        try config.write(toFile: directory + "/amqtt.yaml", atomically: true, encoding: .utf8)
        let broker = Process()
        broker.executableURL = URL(fileURLWithPath: amqtt)
        broker.arguments = ["-c", directory + "/amqtt.yaml"]
        broker.standardOutput = FileHandle.nullDevice
        broker.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try broker.run()
        defer {
            kill(broker.processIdentifier, SIGKILL)
            broker.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(15)
        while !MosquittoBroker.accepts(port: port) && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(MosquittoBroker.accepts(port: port), "amqtt did not start")

        let loop = try EventLoop(maxRegistrations: 16, timerCapacity: 64, tickNanos: 5_000_000)
        var settings = MQTTClientConfig(port: Int(port), clientId: "fallback", protocolChoice: .auto,
                                        subscriptions: ["fb/#"], connectTimeoutMs: 1_500)
        settings.reconnectMinMs = 50
        let client = try MQTTClient(config: settings, loop: loop)
        let recorder = Recorder()
        client.delegate = recorder
        client.start()
        waitUntil(loop, "no connection; disconnects: \(recorder.disconnects)", timeout: 10) { client.isConnected }
        XCTAssertEqual(recorder.connects, [4], "connected with MQTT 3.1.1")
        XCTAssertGreaterThanOrEqual(client.counters.protocolFallbacks, 1)
        // And it works: a message to itself comes back.
        waitUntil(loop, "the subscription was not acknowledged") { client.counters.subscriptionsAcknowledged >= 1 }
        client.publish(topic: "fb/x", payload: Array("311".utf8))
        waitUntil(loop, "the message did not come back") { !recorder.messages.isEmpty }
        XCTAssertEqual(recorder.messages.first?.payload, "311")
        client.stop()
    }
}
