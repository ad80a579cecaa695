import Control
import Gateway
import Glibc
import MediaPlane
import Reactor
import Signaling
import TURN

/// The provisioning store at start-up and its changes applied live to the running planes.
extension GatewayDaemon {
    /// The store's records in force now (empty without a store).
    func provisioned() -> ProvisionedCredentials {
        guard let store else { return ProvisionedCredentials() }
        return ProvisionedCredentials(store.state, realm: configuration.realm, now: Int64(time(nil)))
    }

    /// Pushes the store's current records to the workers (TURN users and secrets) and to the
    /// signaling router (clients, secrets), after a change was written; returns once the
    /// workers have them, so an acknowledged change is in force.
    func applyProvisioning() {
        let current = provisioned()
        let secrets = current.secrets + (configuration.turn.useAuthSecret ? configuration.turn.staticAuthSecrets : [])
        if turnRunning {
            let users = configuration.turn.credentialStore(realm: configuration.realm, provisioned: current)
            for handle in handles { handle.send(.replaceCredentials(users: users, restSecrets: secrets)) }
            synchronizeWorkers()
        }
        if let signaling {
            signaling.minter.replace(secrets: secrets)
            var records: [ClientRecord] = []
            for line in configuration.signaling.clients {
                if let record = try? SignalingPolicy.parseClientLine(line) { records.append(record) }
            }
            signaling.updatePolicy(SignalingOptions.policy(config: records, provisioned: current))
        }
        armSecretRetirement()
    }

    /// Arms the retirement timer for the next REST secret's `retiresAt` (wall clock, so looked at
    /// again at least every minute in case the clock steps), or cancels it when none is pending.
    /// After a failed retirement (the store could not be written) it waits `retryAfter` seconds.
    func armSecretRetirement(retryAfter: Int64 = 0) {
        guard let loop = mainLoop else { return }
        if let retirementTimer { loop.timers.cancel(retirementTimer) }
        retirementTimer = nil
        guard let next = store?.state.restSecrets.compactMap(\.retiresAt).min() else { return }
        let seconds = min(max(next - Int64(time(nil)), retryAfter, 0), 60)
        retirementTimer = loop.timers.schedule(at: MonotonicClock.now() + UInt64(seconds) * 1_000_000_000 + 100_000_000,
                                               handler: self, context: MainTimer.secretRetirement.rawValue)
    }

    /// Drops REST secrets whose overlap has ended (at the retirement timer); false when the store
    /// could not be written.
    @discardableResult
    func pruneRetiredSecrets() -> Bool {
        guard let store else { return true }
        let now = Int64(time(nil))
        guard store.state.restSecrets.contains(where: { ($0.retiresAt ?? Int64.max) <= now }) else { return true }
        do {
            let before = store.state
            let retired = try store.update { state throws(ProvisioningError) in state.pruneRetired(now: now) }
            replicator?.changed(from: before, to: store.state)
            logger.notice("retired \(retired.count) TURN REST secret(s) at the end of their overlap", metadata: [
                "ids": "\(retired.map(\.id).joined(separator: ","))",
            ])
            applyProvisioning()
            return true
        } catch {
            logger.error("could not retire TURN REST secrets (retrying in 30 s): \(error)")
            return false
        }
    }
}
