import BrokerAdmin
import BrokerHarness
import Foundation
import MQTT
import Reactor
import TestSupport
import XCTest

/// Collects what a client's delegate is told, and hands dynsec responses to a provisioner.
final class Inbox: MQTTClientDelegate {
    struct Message: Equatable {
        var topic: String
        var payload: String
    }

    var messages: [Message] = []
    var connects = 0
    var disconnects: [String] = []
    weak var provisioner: DynsecProvisioner?

    func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int) { connects += 1 }
    func mqttClientDidDisconnect(_ client: MQTTClient, reason: String) { disconnects.append(reason) }
    func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                    correlationData: [UInt8]?, retained: Bool) {
        // What the signaling service does with the response topic.
        if topic.hasPrefix(DynsecCommands.responseTopic) { provisioner?.handleResponse(payload: payload) }
        messages.append(Message(topic: topic, payload: String(decoding: payload, as: UTF8.self)))
    }

    func received(_ topic: String, _ payload: String) -> Bool { messages.contains(Message(topic: topic, payload: payload)) }
}

/// A loop, a dynsec broker and clients on it; every wait is bounded (TestSupport).
class DynsecTestCase: XCTestCase {
    var loop: EventLoop!
    var broker: MosquittoBroker!
    let adminPassword = "admin-" + DynsecProvisioner.generatePassword()
    /// Clients made by `connect`, stopped at tear-down, and their delegates (held weakly by them).
    private var clients: [MQTTClient] = []
    private var inboxes: [Inbox] = []

    override func setUpWithError() throws {
        loop = try EventLoop(maxRegistrations: 64, timerCapacity: 256, tickNanos: 5_000_000)
        broker = try MosquittoBroker(.dynsec(adminPassword: adminPassword))
    }

    override func tearDown() {
        if let broker, broker.pid > 0 { kill(broker.pid, SIGCONT) }
        for client in clients { client.stop(flushMillis: 200) }
        clients = []
        inboxes = []
        broker = nil
        loop = nil
    }

    /// A started client (username = `id`); waits ≤ 5 s for the connection when `expectConnect`.
    func connect(_ id: String, password: String, subscriptions: [String] = [], expectConnect: Bool = true,
                 file: StaticString = #filePath, line: UInt = #line) throws -> (MQTTClient, Inbox) {
        let config = MQTTClientConfig(port: Int(broker.port), clientId: id, username: id, password: password,
                                      subscriptions: subscriptions, reconnectMinMs: 100, reconnectMaxMs: 300)
        let client = try MQTTClient(config: config, loop: loop)
        let inbox = Inbox()
        client.delegate = inbox
        client.start()
        clients.append(client)
        inboxes.append(inbox)
        if expectConnect {
            waitUntil(loop, "\(id) did not connect: \(inbox.disconnects); broker log:\n\(broker.log)", file: file, line: line) {
                client.isConnected
            }
            waitUntil(loop, "\(id): subscriptions not acknowledged", file: file, line: line) {
                client.counters.subscriptionsAcknowledged >= UInt64(subscriptions.count)
            }
        }
        return (client, inbox)
    }

    /// The gateway's connection (broker user `rtcgate`) and a provisioner on it.
    func gateway(subscriptions: [String] = ["$share/rtcgate/rtc/v1/up/+", "rtc/v1/status/+"], timeoutMs: UInt64 = 5000,
                 maxPending: Int = 256) throws -> (MQTTClient, Inbox, DynsecProvisioner) {
        let (client, inbox) = try connect("rtcgate", password: adminPassword, subscriptions: subscriptions)
        let provisioner = DynsecProvisioner(client: client, loop: loop, timeoutMs: timeoutMs, maxPending: maxPending)
        inbox.provisioner = provisioner
        return (client, inbox, provisioner)
    }

    /// Starts a request and runs the loop until its completion (≤ `timeout` s); nil if none came.
    func outcome(timeout: Double = 8, _ start: (@escaping DynsecProvisioner.Completion) -> Void) -> Result<Void, DynsecError>? {
        var results: [Result<Void, DynsecError>] = []
        start { results.append($0) }
        _ = holds(within: timeout, loop: loop) { !results.isEmpty }  // the caller checks what came
        runLoop(loop, for: 0.05)  // a second completion would show here
        XCTAssertLessThanOrEqual(results.count, 1, "completion called more than once")
        return results.first
    }

    func XCTAssertSuccess(_ result: Result<Void, DynsecError>?, _ what: String, file: StaticString = #filePath,
                          line: UInt = #line) {
        guard case .success = result else {
            return XCTFail("\(what): \(String(describing: result)); broker log:\n\(broker.log)", file: file, line: line)
        }
    }

    func failure(_ result: Result<Void, DynsecError>?) -> DynsecError? {
        if case .failure(let error) = result { return error }
        return nil
    }
}
