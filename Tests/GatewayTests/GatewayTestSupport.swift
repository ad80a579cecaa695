import Control
import Gateway
import JSON
import Logging
import MediaPlane
import STUN

/// A gateway with no planes running, for the control commands' dispatch: it records what the
/// commands asked of it. The provisioning store is real (in a scratch directory) when given.
final class RecordingGateway: ManagedGateway {
    let realm = "test.realm"
    var turnRunning = true
    var store: ProvisioningStore?
    var signaling: SignalingService? { nil }
    var replicator: ClusterReplicator? { nil }
    var reloadOutcome: JSONValue? = ["restartNeeded": false]
    var allocationList: [AllocationInfo] = []
    private(set) var calls: [String] = []

    init(store: ProvisioningStore?) { self.store = store }

    func statusReport() -> JSONValue { calls.append("status"); return ["version": "test"] }
    func metrics() -> MetricsCollector {
        calls.append("metrics")
        var collector = MetricsCollector()
        collector.gauge("up", "Up.", 1)
        return collector
    }
    func configurationReport() -> JSONValue { calls.append("config"); return ["realm": .string(realm)] }
    func setLogLevel(_ level: Logger.Level) { calls.append("log:\(level.rawValue)") }
    func reload() -> JSONValue? { calls.append("reload"); return reloadOutcome }
    var lastReloadError: String? { reloadOutcome == nil ? "test: refused" : nil }
    func drain(graceSeconds: Int) -> JSONValue { calls.append("drain:\(graceSeconds)"); return ["draining": true] }
    func allocations() throws(ControlFailure) -> [AllocationInfo] { allocationList }
    func killAllocations(client: TransportAddress) throws(ControlFailure) -> Int {
        calls.append("kill:\(client)")
        return allocationList.filter { $0.client == client }.count
    }
    func applyProvisioning() { calls.append("apply") }
    var handoverInProgress = false
    func upgrade(binary: String?) throws(ControlFailure) -> JSONValue {
        calls.append("upgrade \(binary ?? "-")")
        return ["started": true]
    }
}
