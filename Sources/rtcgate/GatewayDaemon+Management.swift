import Control
import Gateway
import Glibc
import JSON
import Logging
import MediaPlane
import Reactor
import STUN

/// What the management plane asks of the running gateway.
extension GatewayDaemon {
    /// `status`: version, uptime and the state of each plane.
    func statusReport() -> JSONValue {
        var planes: [(String, JSONValue)] = [
            ("media", ["workers": .number(JSONNumber(handles.count)),
                       "turn": .bool(turnRunning),
                       "acceptingAllocations": .bool(!isDraining)]),
        ]
        if let signaling {
            planes.append(("signaling", ["broker": .string("\(signaling.client.config.host):\(signaling.client.config.port)"),
                                         "connected": .bool(signaling.client.isConnected),
                                         "sessions": .number(JSONNumber(signaling.router.liveSessionCount)),
                                         "draining": .bool(signaling.router.isDraining)]))
        } else {
            planes.append(("signaling", ["enabled": false]))
        }
        if let tls = tlsStatus() { planes.append(("tls", tls)) }
        var members: [(String, JSONValue)] = [
            ("version", .string(Rtcgate.version)), ("pid", .number(JSONNumber(Int(getpid())))),
            ("uptimeSeconds", .number(JSONNumber((MonotonicClock.now() - startedAt) / 1_000_000_000))),
            ("draining", .bool(isDraining)), ("planes", .object(planes)),
        ]
        if let coordinator, coordinator.phase != .failed, coordinator.phase != .committed {
            members.append(("handover", coordinator.report))
        } else if let lastHandover {
            members.append(("handover", lastHandover))
        }
        return .object(members)
    }

    /// `config.show`: the effective settings, secrets redacted.
    func configurationReport() -> JSONValue { configuration.report(turnRunning: turnRunning) }

    func setLogLevel(_ level: Logger.Level) {
        GatewayLogHandler.sharedLevel.store(GatewayLogHandler.levelCode(level), ordering: .relaxed)
    }

    /// `drain`: GO_AWAY to signaling clients with sessions, no new sessions, no new TURN
    /// allocations; live calls go on.
    func drain(graceSeconds: Int) -> JSONValue {
        isDraining = true
        for handle in handles { handle.send(.acceptAllocations(false)) }
        synchronizeWorkers()
        let told = signaling?.drain(graceSeconds: graceSeconds) ?? 0
        logger.notice("draining: GO_AWAY sent to \(told) signaling clients; new sessions and allocations refused")
        return ["draining": true, "goAwaySent": .number(JSONNumber(told))]
    }

    /// Every TURN allocation of every worker.
    func allocations() throws(ControlFailure) -> [AllocationInfo] {
        var all: [AllocationInfo] = []
        for handle in handles {
            guard case .allocations(let list)? = handle.ask({ .listAllocations(ticket: $0) }) else {
                throw ControlFailure(.internal, "media worker \(handle.id) did not answer within 1 s")
            }
            all += list
        }
        return all
    }

    /// Deletes every allocation of `client` on every worker; returns how many.
    func killAllocations(client: TransportAddress) throws(ControlFailure) -> Int {
        var killed = 0
        for handle in handles {
            guard case .killed(let count)? = handle.ask({ .killAllocations(client: client, ticket: $0) }) else {
                throw ControlFailure(.internal, "media worker \(handle.id) did not answer within 1 s")
            }
            killed += count
        }
        if killed > 0 { logger.notice("killed \(killed) allocation(s) of \(client) over the control socket") }
        return killed
    }
}
