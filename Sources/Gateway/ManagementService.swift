import Control
import Glibc
import JSON
import Logging
import MediaPlane
import Reactor
import STUN
import Signaling
import TURN

/// The daemon side of the control socket: each command of docs/control.md, run on the main loop.
/// Provisioning commands change the store first (atomically, on disk) and then the running
/// planes, so an acknowledged change survives a crash and takes effect without a restart.
package final class ManagementService: ControlCommandHandler {
    package unowned let gateway: any ManagedGateway
    package let logger = Logger(label: "rtcgate.control")

    package init(gateway: any ManagedGateway) { self.gateway = gateway }

    package func handle(_ request: ControlRequest, peer: ControlPeer, reply: @escaping (ControlResponse) -> Void) {
        do throws(ControlFailure) {
            if gateway.handoverInProgress && Self.changesState(request.command) {
                throw ControlFailure(.busy, "\(request.command): a handover to a new binary is in progress; try again in a moment")
            }
            if try handleBrokerCommand(request, reply: reply) { return }
            if let result = try runProvisioning(request) { return reply(.ok(request.id, result)) }
            reply(.ok(request.id, try run(request, peer: peer)))
        } catch {
            reply(.error(request.id, error))
        }
    }

    /// The commands that do not touch the provisioning store.
    private func run(_ request: ControlRequest, peer: ControlPeer) throws(ControlFailure) -> JSONValue {
        switch request.command {
        case "status":
            try request.requireOnlyArgs([])
            return gateway.statusReport()
        case "stats":
            try request.requireOnlyArgs([])
            return gateway.metrics().json
        case "stats.prometheus":
            try request.requireOnlyArgs([])
            return ["text": .string(gateway.metrics().prometheusText)]
        case "config.show":
            try request.requireOnlyArgs([])
            return gateway.configurationReport()
        case "log.level":
            try request.requireOnlyArgs(["level"])
            let text = try request.string("level")
            guard let level = try? ConfigValue.logLevel(text) else {
                throw ControlFailure(.badRequest, "log.level: '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
            }
            gateway.setLogLevel(level)
            logger.notice("log level set to \(level.rawValue) over the control socket")
            return ["level": .string(level.rawValue)]
        case "reload":
            try request.requireOnlyArgs([])
            guard let outcome = gateway.reload() else {
                throw ControlFailure(.badRequest, "reload refused, the running configuration stays: \(gateway.lastReloadError ?? "see the log")")
            }
            return outcome
        case "upgrade":
            try request.requireOnlyArgs(["binary"])
            // Stricter than the socket: a member of control-group may not replace the binary.
            guard peer.uid == 0 || peer.uid == geteuid() else {
                throw ControlFailure(.forbidden, "upgrade: only root or rtcgate's own user may start a handover (\(peer))")
            }
            let binary = try request.optionalString("binary")
            if let binary, !binary.hasPrefix("/") { throw ControlFailure(.badRequest, "upgrade: binary must be an absolute path") }
            logger.notice("upgrade requested over the control socket by \(peer)")
            return try gateway.upgrade(binary: binary)
        case "drain":
            try request.requireOnlyArgs(["graceSec"])
            let grace = try request.optionalInt("graceSec", in: 0...86_400) ?? 30
            return gateway.drain(graceSeconds: grace)
        case "session.list":
            try request.requireOnlyArgs([])
            return ["sessions": .array(try signaling().sessions())]
        case "session.end":
            try request.requireOnlyArgs(["sid", "a", "b", "reason"])
            let reasonText = try request.optionalString("reason") ?? "policy"
            guard let reason = EndReason(rawValue: reasonText) else {
                throw ControlFailure(.badRequest, "session.end: reason must be one of \(EndReason.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let sid = try request.string("sid"), a = try request.string("a"), b = try request.string("b")
            guard try signaling().endSession(sid: sid, a: a, b: b, reason: reason) else {
                throw ControlFailure(.notFound, "no session \(sid) between \(a) and \(b)")
            }
            return ["ended": .string(sid)]
        case "allocation.list":
            try request.requireOnlyArgs([])
            return ["allocations": .array(try gateway.allocations().map(Self.json))]
        case "allocation.kill":
            try request.requireOnlyArgs(["client"])
            let text = try request.string("client")
            guard let address = SocketAddress(hostPort: text).flatMap(TransportAddress.init) else {
                throw ControlFailure(.badRequest, "allocation.kill: '\(text)' is not ip:port or [ipv6]:port")
            }
            let killed = try gateway.killAllocations(client: address)
            guard killed > 0 else { throw ControlFailure(.notFound, "no allocation of client \(text)") }
            return ["killed": .number(JSONNumber(killed))]
        case "links":
            try request.requireOnlyArgs([])
            return try signaling().paths.linksReport(now: UInt64(time(nil)))
        case "path":
            try request.requireOnlyArgs(["from", "to"])
            return try signaling().paths.pathReport(from: try request.string("from"), to: try request.string("to"),
                                                    policy: try signaling().router.policy, now: UInt64(time(nil)))
        default:
            throw ControlFailure(.unknownCommand, "unknown command '\(request.command)' (see docs/control.md)")
        }
    }

    /// Commands that change the store or the running planes (refused during a handover).
    static func changesState(_ command: String) -> Bool {
        let readOnly: Set<String> = ["status", "stats", "stats.prometheus", "config.show", "session.list", "allocation.list", "links", "path",
                                     "device.list", "device.show", "group.list", "turn-user.list", "secret.list"]
        return !readOnly.contains(command)
    }

    private func signaling() throws(ControlFailure) -> SignalingService {
        guard let service = gateway.signaling else { throw ControlFailure(.unavailable, "the signaling plane is not enabled (mqtt-host)") }
        return service
    }

    package static func json(_ info: AllocationInfo) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("worker", .number(JSONNumber(info.worker))), ("client", .string(info.client.description)),
            ("transport", .string(info.transport)), ("relayed", .string(info.relayed.description)),
        ]
        if let additional = info.additionalRelayed { members.append(("relayedIPv6", .string(additional.description))) }
        members += [("user", .string(info.user)), ("ageSeconds", .number(JSONNumber(info.ageSeconds))),
                    ("lifetimeSeconds", .number(JSONNumber(info.lifetimeSeconds))),
                    ("bytesToPeer", .number(JSONNumber(info.bytesToPeer))), ("bytesToClient", .number(JSONNumber(info.bytesToClient))),
                    ("permissions", .number(JSONNumber(info.permissions))), ("channels", .number(JSONNumber(info.channels)))]
        return .object(members)
    }
}
