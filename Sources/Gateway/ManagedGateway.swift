import Control
import JSON
import Logging
import MediaPlane
import STUN
import TURN

/// What the management plane asks of the running gateway. `rtcgate run`'s daemon is the one
/// real conformer; the control commands (`ManagementService`) see the gateway only through this.
package protocol ManagedGateway: AnyObject {
    /// The realm TURN users are keyed for.
    var realm: String { get }
    /// Whether the workers run the TURN relay (fixed at start-up).
    var turnRunning: Bool { get }
    /// The provisioning store (nil when `state-dir` is empty).
    var store: ProvisioningStore? { get }
    /// The signaling plane (nil unless `mqtt-host` is set).
    var signaling: SignalingService? { get }
    /// Replicates provisioning changes to the other instances of a cluster.
    var replicator: ClusterReplicator? { get }

    /// `status`: version, uptime and the state of each plane.
    func statusReport() -> JSONValue
    /// Every counter of every plane.
    func metrics() -> MetricsCollector
    /// `config.show`: the effective settings, secrets redacted.
    func configurationReport() -> JSONValue
    func setLogLevel(_ level: Logger.Level)
    /// Re-reads the configuration and applies what can change live; nil when it is invalid
    /// (`lastReloadError` says why).
    func reload() -> JSONValue?
    /// Why the last reload was refused.
    var lastReloadError: String? { get }
    /// GO_AWAY to signaling clients, no new sessions or allocations.
    func drain(graceSeconds: Int) -> JSONValue
    /// Every TURN allocation of every worker.
    func allocations() throws(ControlFailure) -> [AllocationInfo]
    /// Deletes every allocation of `client`; returns how many.
    func killAllocations(client: TransportAddress) throws(ControlFailure) -> Int
    /// Pushes the store's current records to the running planes after a change.
    func applyProvisioning()
    /// Starts a handover to `binary` (nil: the running binary's path), docs/handover.md.
    func upgrade(binary: String?) throws(ControlFailure) -> JSONValue
    /// Whether a handover runs: commands that change state are refused meanwhile (the new
    /// process has read the store already, and would not see the change).
    var handoverInProgress: Bool { get }
}
