import Control
import JSON
import Logging
import Reactor
import Signaling

/// Replicates the provisioning store between the instances of a cluster through the broker:
/// every record is a retained message on `{p}/_cluster/state/{kind}/{name}` (a removal leaves a
/// retained tombstone, so an instance that was away deletes it too), published by the instance
/// where the change was made and applied by the others to their own store. A (re)connecting
/// instance receives every retained record; after 3 s it publishes its own records that the
/// broker does not know yet (provisioned before the cluster existed, or while it was alone).
/// Last writer wins per record, in the broker's order, the same for every instance (which is why
/// an instance applies its own messages as they come back, like everyone else's).
package final class ClusterReplicator: TimerHandler {
    package let instance: String
    private let topics: SignalingTopics
    private let store: ProvisioningStore
    /// Publishes a retained message; false when it could not be queued.
    private let publishRetained: (_ topic: String, _ payload: [UInt8]) -> Bool
    /// Called after a record from the broker was written to the store.
    private let applied: () -> Void
    private let logger = Logger(label: "rtcgate.cluster")
    /// Records the broker has told us about since the last connect.
    private var seen: Set<ProvisioningRecordKey> = []
    /// Records changed here that could not be published (the broker was away): what the broker
    /// still retains for them is older, so it is not applied, and they are published after the
    /// next connect.
    private var unsent: Set<ProvisioningRecordKey> = []
    /// Own publishes per record not yet delivered back: an own echo is applied only when it is
    /// the last one in flight (an older echo must not undo a newer local change meanwhile).
    private var inFlight: [ProvisioningRecordKey: Int] = [:]
    private var syncTimer: TimerID?
    /// Records from the broker written to the store.
    package private(set) var appliedCount: UInt64 = 0
    /// Records published for the others.
    package private(set) var publishedCount: UInt64 = 0

    package init(instance: String, topics: SignalingTopics, store: ProvisioningStore,
                 publishRetained: @escaping (_ topic: String, _ payload: [UInt8]) -> Bool, applied: @escaping () -> Void) {
        self.instance = instance
        self.topics = topics
        self.store = store
        self.publishRetained = publishRetained
        self.applied = applied
    }

    /// The broker connection is (back) up: retained records follow; sync ours after 3 s.
    package func connected(loop: EventLoop) {
        seen.removeAll()
        inFlight.removeAll()  // what was in flight is lost or arrives as retained
        if let syncTimer { loop.timers.cancel(syncTimer) }
        syncTimer = loop.timers.schedule(at: MonotonicClock.now() + 3_000_000_000, handler: self)
    }

    package func timerFired(context: UInt64, now: UInt64) {
        syncTimer = nil
        let count = publishUnknownRecords()
        if count > 0 { logger.notice("cluster: published \(count) provisioning record(s) the broker did not have") }
    }

    /// Publishes every record of the store the broker has not told us about since the last
    /// connect, and every change made while it was away; returns how many.
    @discardableResult
    package func publishUnknownRecords() -> Int {
        let records = store.state.records
        let changedWhileAway = unsent
        var count = 0
        for (key, record) in records where !seen.contains(key) || changedWhileAway.contains(key) {
            publish(key, record: record)
            count += 1
        }
        for key in changedWhileAway where records[key] == nil {
            publish(key, record: nil)
            count += 1
        }
        return count
    }

    /// A change made here: publish what differs between `old` and `new`.
    package func changed(from old: ProvisioningState, to new: ProvisioningState) {
        let before = old.records, after = new.records
        for (key, record) in after where before[key] != record { publish(key, record: record) }
        for key in before.keys where after[key] == nil { publish(key, record: nil) }
    }

    private func publish(_ key: ProvisioningRecordKey, record: JSONValue?) {
        var members: [(String, JSONValue)] = [("origin", .string(instance))]
        members.append(record.map { ("record", $0) } ?? ("deleted", true))
        if publishRetained(topics.clusterState(key.description), JSONValue.object(members).serialized()) {
            publishedCount &+= 1
            unsent.remove(key)
            inFlight[key, default: 0] += 1
        } else {
            unsent.insert(key)
        }
    }

    /// A record from the broker (retained on subscribe, or live from another instance); `key` is
    /// the topic's `{kind}/{name}`.
    package func received(key keyText: String, payload: UnsafeRawBufferPointer) {
        guard let key = ProvisioningRecordKey(keyText[...]) else { return }
        seen.insert(key)
        guard !unsent.contains(key) else { return }  // ours is newer and goes out after the connect
        // This instance's own records are applied too: when two instances change a record at
        // once, each must end with the one the broker delivered last, including the one whose
        // own change came first and was overtaken. Normally the store already holds it.
        guard !payload.isEmpty, let message = try? JSONParser.parse(payload) else { return }
        if message["origin"]?.stringValue == instance, let pending = inFlight[key] {
            if pending > 1 { inFlight[key] = pending - 1; return }  // a newer own change follows
            inFlight[key] = nil
        }
        let wanted: JSONValue? = message["deleted"]?.boolValue == true ? nil : message["record"]
        guard store.state.records[key] != wanted else { return }
        do {
            try store.update { state throws(ProvisioningError) in try state.setRecord(key, wanted) }
            appliedCount &+= 1
            logger.info("cluster: \(wanted == nil ? "removed" : "applied") \(key) from \(message["origin"]?.stringValue ?? "?")")
            applied()
        } catch {
            logger.error("cluster: cannot apply \(key): \(error)")
        }
    }
}
