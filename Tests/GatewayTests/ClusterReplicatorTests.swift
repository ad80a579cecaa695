import Control
import JSON
import Signaling
import TestSupport
import XCTest

@testable import Gateway

/// Replication between instances through retained messages, with a broker reduced to what the
/// replicator relies on: one order of messages, the same for every subscriber, and the last
/// retained message per topic.
final class ClusterReplicatorTests: XCTestCase {
    /// One instance: its own store and replicator.
    private final class Instance {
        let directory = TemporaryDirectory()
        let store: ProvisioningStore
        var replicator: ClusterReplicator!
        var appliedCalls = 0

        init(name: String, broker: Broker) throws {
            store = try ProvisioningStore(directory: directory.path)
            replicator = ClusterReplicator(
                instance: name, topics: broker.topics, store: store,
                publishRetained: { [unowned broker] topic, payload in broker.publish(topic, payload) },
                applied: { [unowned self] in self.appliedCalls += 1 })
        }

        /// A change made over this instance's control socket.
        func change(_ body: (inout ProvisioningState) throws(ProvisioningError) -> Void) throws {
            let before = store.state
            try store.update(body)
            replicator.changed(from: before, to: store.state)
        }

        var deviceIds: [String] { store.state.devices.map(\.id) }
    }

    /// The broker's order: messages published are queued; `deliver` hands each, in order, to
    /// every instance (publishers included, as MQTT does without no-local).
    private final class Broker {
        let topics = SignalingTopics(prefix: "rtc/v1")
        var queue: [(topic: String, payload: [UInt8])] = []
        var retained: [String: [UInt8]] = [:]
        var instances: [Instance] = []
        /// Publishes fail while false (the broker is away).
        var reachable = true

        func publish(_ topic: String, _ payload: [UInt8]) -> Bool {
            guard reachable else { return false }
            queue.append((topic, payload))
            retained[topic] = payload
            return true
        }

        func deliver() {
            let due = queue
            queue.removeAll()
            for message in due {
                for instance in instances { deliver(message, to: instance) }
            }
        }

        /// A (re)connect: every retained record, as a subscription delivers them.
        func connect(_ instance: Instance) {
            for (topic, payload) in retained.sorted(by: { $0.key < $1.key }) { deliver((topic, payload), to: instance) }
        }

        private func deliver(_ message: (topic: String, payload: [UInt8]), to instance: Instance) {
            guard case .clusterState(let key) = topics.classify(message.topic) else { return XCTFail("not a record topic") }
            message.payload.withUnsafeBytes { instance.replicator.received(key: String(key), payload: $0) }
        }
    }

    private var broker: Broker!
    private var a: Instance!
    private var b: Instance!

    override func setUpWithError() throws {
        broker = Broker()
        a = try Instance(name: "gw-a", broker: broker)
        b = try Instance(name: "gw-b", broker: broker)
        broker.instances = [a, b]
    }

    override func tearDown() {
        a.directory.remove()
        b.directory.remove()
    }

    func testAChangeOnOneInstanceReachesTheOther() throws {
        try a.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-1", role: .device, now: 100) }
        broker.deliver()
        XCTAssertEqual(b.deviceIds, ["cam-1"])
        XCTAssertEqual(b.store.state.records, a.store.state.records)
        XCTAssertEqual(b.appliedCalls, 1, "the running planes are told once")
        XCTAssertEqual(a.appliedCalls, 0, "its own record comes back unchanged")
    }

    func testRemovalLeavesATombstoneThatAnInstanceAwayStillApplies() throws {
        try a.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-1", role: .device, now: 100) }
        broker.deliver()
        broker.instances = [a]  // b is away
        try a.change { state throws(ProvisioningError) in try state.removeDevice(id: "cam-1") }
        broker.deliver()
        XCTAssertEqual(b.deviceIds, ["cam-1"])
        let tombstone = try XCTUnwrap(broker.retained[broker.topics.clusterState("device/cam-1")])
        XCTAssertEqual(try JSONParser.parse(tombstone)["deleted"], true)
        broker.instances = [a, b]
        broker.connect(b)
        XCTAssertEqual(b.deviceIds, [], "the retained tombstone removes it")
    }

    /// Both instances change the same record before either hears of the other: both end with
    /// the change the broker delivered last.
    func testConcurrentChangesConvergeOnTheBrokersLastWriter() throws {
        try a.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-1", role: .device, groups: ["a"], now: 100) }
        try b.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-1", role: .viewer, groups: ["b"], now: 101) }
        broker.deliver()
        XCTAssertEqual(a.store.state.device(id: "cam-1")?.groups, ["b"])
        XCTAssertEqual(b.store.state.device(id: "cam-1")?.groups, ["b"])
    }

    /// Two changes of one record before the broker echoes the first: the older echo must not
    /// undo the newer change, even for a moment.
    func testAnOlderOwnEchoDoesNotUndoANewerChange() throws {
        try a.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-1", role: .device, groups: ["one"], now: 100) }
        try a.change { state throws(ProvisioningError) in _ = try state.updateDevice(id: "cam-1", groups: ["two"], now: 101) }
        let due = broker.queue
        broker.queue.removeAll()
        broker.queue = [due[0]]
        broker.deliver()
        XCTAssertEqual(a.store.state.device(id: "cam-1")?.groups, ["two"], "the older echo is not applied")
        XCTAssertEqual(a.appliedCalls, 0)
        broker.queue = [due[1]]
        broker.deliver()
        XCTAssertEqual(a.store.state.device(id: "cam-1")?.groups, ["two"])
        XCTAssertEqual(b.store.state.device(id: "cam-1")?.groups, ["two"])
    }

    /// Records provisioned before the cluster existed are published after the sync delay,
    /// except those the broker already holds.
    func testOnlyRecordsTheBrokerLacksArePublishedAfterAConnect() throws {
        try a.store.update { state throws(ProvisioningError) in
            try state.addDevice(id: "old-1", role: .device, now: 1)
            try state.addDevice(id: "old-2", role: .device, now: 1)
        }
        try b.change { state throws(ProvisioningError) in
            try state.setRecord(.device("old-1"), a.store.state.records[.device("old-1")])
        }
        broker.connect(a)
        XCTAssertEqual(a.replicator.publishUnknownRecords(), 1)
        broker.deliver()
        XCTAssertEqual(b.deviceIds.sorted(), ["old-1", "old-2"])
    }

    /// A change made while the broker was away is kept over the older record the broker still
    /// retains, and published once it is back.
    func testAChangeMadeWhileTheBrokerWasAwayWinsAfterTheReconnect() throws {
        try a.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-1", role: .device, groups: ["old"], now: 100) }
        try a.change { state throws(ProvisioningError) in try state.addDevice(id: "cam-2", role: .device, now: 100) }
        broker.deliver()
        broker.reachable = false
        try a.change { state throws(ProvisioningError) in _ = try state.updateDevice(id: "cam-1", groups: ["new"], now: 200) }
        try a.change { state throws(ProvisioningError) in try state.removeDevice(id: "cam-2") }
        broker.reachable = true
        broker.connect(a)
        XCTAssertEqual(a.store.state.device(id: "cam-1")?.groups, ["new"], "the retained older record is not applied")
        XCTAssertEqual(a.deviceIds, ["cam-1"])
        XCTAssertEqual(a.replicator.publishUnknownRecords(), 2)
        broker.deliver()
        XCTAssertEqual(b.store.state.device(id: "cam-1")?.groups, ["new"])
        XCTAssertEqual(b.deviceIds, ["cam-1"])
        XCTAssertEqual(a.replicator.publishUnknownRecords(), 0, "nothing left to send")
    }

    func testMalformedOrForeignMessagesChangeNothing() throws {
        for payload in ["", "not json", #"{"origin":"gw-b","record":{"id":"x"}}"#, #"{"origin":"gw-b","record":{"id":"other","role":"device"}}"#] {
            Array(payload.utf8).withUnsafeBytes { a.replicator.received(key: "device/cam-9", payload: $0) }
        }
        Array("{}".utf8).withUnsafeBytes { a.replicator.received(key: "nonsense", payload: $0) }
        XCTAssertEqual(a.deviceIds, [])
        XCTAssertEqual(a.appliedCalls, 0)
    }
}
