import Control
import JSON
import Logging
import MQTT
import Reactor

/// Replicates the provisioning store between the instances of a cluster through the broker:
/// every record is a retained message on `{p}/_cluster/state/{kind}/{name}` (a removal leaves a
/// retained tombstone, so an instance that was away deletes it too), published by the instance
/// where the change was made and applied by the others to their own store. A (re)connecting
/// instance receives every retained record; after 3 s it publishes its own records that the
/// broker does not know yet (provisioned before the cluster existed, or while it was alone).
/// Last writer wins per record, in the broker's order, the same for every instance.
final class ClusterReplicator: TimerHandler {
    unowned let gateway: Gateway
    let instance: String
    let topicPrefix: String
    private let logger = Logger(label: "rtcgate.cluster")
    /// Records the broker has told us about since the last connect.
    private var seen: Set<ProvisioningRecordKey> = []
    private var syncTimer: TimerID?
    private(set) var applied: UInt64 = 0
    private(set) var published: UInt64 = 0

    init(gateway: Gateway, instance: String, topicPrefix: String) {
        self.gateway = gateway
        self.instance = instance
        self.topicPrefix = topicPrefix + "/_cluster/state/"
    }

    var subscription: String { topicPrefix + "#" }

    /// The broker connection is (back) up: retained records follow; sync ours after 3 s.
    func connected(loop: EventLoop) {
        seen.removeAll()
        if let syncTimer { loop.timers.cancel(syncTimer) }
        syncTimer = loop.timers.schedule(at: MonotonicClock.now() + 3_000_000_000, handler: self)
    }

    func timerFired(context: UInt64, now: UInt64) {
        syncTimer = nil
        guard let store = gateway.store else { return }
        var count = 0
        for (key, record) in store.state.records where !seen.contains(key) {
            publish(key, record: record)
            count += 1
        }
        if count > 0 { logger.notice("cluster: published \(count) provisioning record(s) the broker did not have") }
    }

    /// A change made here: publish what differs between `old` and `new`.
    func changed(from old: ProvisioningState, to new: ProvisioningState) {
        let before = old.records, after = new.records
        for (key, record) in after where before[key] != record { publish(key, record: record) }
        for key in before.keys where after[key] == nil { publish(key, record: nil) }
    }

    private func publish(_ key: ProvisioningRecordKey, record: JSONValue?) {
        guard let client = gateway.signalingService?.client else { return }
        var members: [(String, JSONValue)] = [("origin", .string(instance))]
        members.append(record.map { ("record", $0) } ?? ("deleted", true))
        if client.publish(topic: topicPrefix + key.description, payload: JSONValue.object(members).serialized(), retain: true,
                          expirySeconds: 0) {
            published &+= 1
        }
    }

    /// A record from the broker (retained on subscribe, or live from another instance).
    func received(topic: String, payload: UnsafeRawBufferPointer) {
        guard let key = ProvisioningRecordKey(topic.dropFirst(topicPrefix.count)) else { return }
        seen.insert(key)
        guard !payload.isEmpty, let message = try? JSONParser.parse(payload),
              message["origin"]?.stringValue != instance, let store = gateway.store else { return }
        let wanted: JSONValue? = message["deleted"]?.boolValue == true ? nil : message["record"]
        guard store.state.records[key] != wanted else { return }
        do {
            try store.update { state throws(ProvisioningError) in try state.setRecord(key, wanted) }
            applied &+= 1
            logger.info("cluster: \(wanted == nil ? "removed" : "applied") \(key) from \(message["origin"]?.stringValue ?? "?")")
            gateway.applyProvisioning()
        } catch {
            logger.error("cluster: cannot apply \(key): \(error)")
        }
    }
}
