import Glibc
import Handover
import Reactor
import STUN
import Synchronization
import TURN

/// Holds a media worker still while its sockets and state change hands (docs/handover.md): the
/// worker has exported its state and waits, reading nothing, until the main thread says whether
/// the successor took over (`finish`: the worker's loop ends) or gave up (`resume`).
public final class HandoverGate: Sendable {
    /// `drain`: the successor took over; the worker drops what it handed over and serves its
    /// TCP/TLS connections (which cannot be handed over) until they close or `drainSeconds` pass.
    public enum Outcome: Int, Sendable { case resume = 1, finish = 2, drain = 3 }
    private let state = Atomic<Int>(0)
    private let drainLimit = Atomic<UInt64>(0)
    public init() {}

    /// Releases the worker.
    public func open(_ outcome: Outcome, drainSeconds: UInt64 = 0) {
        drainLimit.store(drainSeconds, ordering: .relaxed)
        state.store(outcome.rawValue, ordering: .releasing)
    }

    var drainSeconds: UInt64 { drainLimit.load(ordering: .relaxed) }

    func wait() -> Outcome {
        while true {
            if let outcome = Outcome(rawValue: state.load(ordering: .acquiring)) { return outcome }
            usleep(500)  // the handover's outcome is not on the clock: only the pause is
        }
    }
}

/// A paused worker's part of the handover: its allocations (encoded) and the relay sockets they
/// use (the descriptors stay owned by the worker until it finishes).
public struct WorkerHandoverState: Sendable {
    public var allocations: [UInt8]
    public var allocationCount: Int
    public var relays: [InheritedSockets.Entry]
    /// When the worker stopped reading (monotonic ns).
    public var pausedAt: UInt64
}

extension MediaWorker {
    /// The descriptors of this worker's listening sockets, in the order a successor with the same
    /// configuration creates them (UDP per address, then TCP, then TLS listeners).
    public var listeningSockets: [InheritedSockets.Entry] {
        var entries: [InheritedSockets.Entry] = []
        for socket in udpSockets { entries.append(.init(kind: .udpListener, key: socket.localAddress.description, fd: socket.fd)) }
        for listener in listeners { entries.append(.init(kind: .streamListener, key: listener.localAddress.description, fd: listener.descriptor)) }
        return entries
    }

    /// Exports the state, answers, and holds the loop until the gate opens.
    @_optimize(size)
    func pauseForHandover(ticket: UInt64, gate: HandoverGate) {
        let pausedAt = MonotonicClock.now()
        var state = WorkerHandoverState(allocations: [], allocationCount: 0, relays: [], pausedAt: pausedAt)
        if let turn {
            turn.export(into: &state, now: pausedAt)
        } else {
            var none = SnapshotWriter()
            none.u32(0)
            state.allocations = none.bytes
        }
        handle.mailbox.answer(ticket, .handover(state))
        switch gate.wait() {
        case .resume: break
        case .finish: loop.waker.stop()
        case .drain: enterDrain(until: MonotonicClock.now() + gate.drainSeconds * 1_000_000_000)
        }
    }

    /// Open TCP and TLS connections.
    var openStreamConnections: Int { listeners.reduce(0) { $0 + $1.openConnections } }

    /// After a handover: stops reading what the successor reads now (the UDP sockets, the
    /// listening sockets, the relays of the UDP allocations, all handed over) and serves the
    /// TCP/TLS connections and their allocations until they close, or until `deadline`.
    private func enterDrain(until deadline: UInt64) {
        for registration in udpRegistrations { loop.deregister(registration) }
        udpRegistrations.removeAll()
        for listener in listeners { listener.stopAccepting() }
        if let turn {
            for id in turn.core.allocations.ids where turn.core.allocations[id].fiveTuple.transport == .udp { turn.remove(id) }
        }
        drainDeadline = deadline
        endDrainIfDone(now: MonotonicClock.now())
    }

    /// Ends the loop once the last connection closed or the deadline passed; else checks again in a second.
    func endDrainIfDone(now: UInt64) {
        guard let drainDeadline else { return }
        if openStreamConnections == 0 || now >= drainDeadline {
            loop.waker.stop()
        } else if !drainCheckArmed {
            drainCheckArmed = loop.timers.schedule(at: now + 1_000_000_000, handler: self, context: Self.drainTimer) != nil
        }
    }

    /// Timer context of the drain check (the expiry timer's is 0).
    static let drainTimer: UInt64 = 1

    /// Restores allocations a handover snapshot carried (before the worker's thread runs); their
    /// relay sockets come from `InheritedSockets`. Returns how many were restored and dropped.
    @_optimize(size)
    public func restoreHandover(_ bytes: [UInt8]) throws(SnapshotReader.Malformed) -> (restored: Int, dropped: Int) {
        var reader = SnapshotReader(bytes)
        let count = try reader.count(minimumBytes: 60)
        var restored = 0
        for _ in 0..<count {
            let record = try HandoverAllocation.read(&reader)
            if let turn, turn.restore(record, segmentation: config.udpSegmentation) { restored += 1 }
        }
        guard reader.isAtEnd else { throw SnapshotReader.Malformed("bytes after the allocations") }
        if restored > 0 { armExpiryIfNeeded(now: MonotonicClock.now()) }
        return (restored, count - restored)
    }
}

/// One allocation as a handover snapshot carries it.
struct HandoverAllocation {
    var allocation: Allocation
    var userName: String

    @_optimize(size)
    func write(_ out: inout SnapshotWriter) {
        let a = allocation
        Self.write(a.fiveTuple.client, &out)
        Self.write(a.fiveTuple.server, &out)
        out.u8(a.fiveTuple.transport.rawValue)
        Self.write(a.relayed, &out)
        out.bool(a.additionalRelayed != nil)
        if let additional = a.additionalRelayed { Self.write(additional, &out) }
        out.u64(a.userKey)
        out.u64(a.expiry)
        out.u64(a.created)
        out.u32(a.creatingTransaction.high)
        out.u64(a.creatingTransaction.low)
        out.u64(a.bytesToPeer)
        out.u64(a.bytesToClient)
        out.string(userName)
        let permissions = a.heldPermissions
        out.u32(UInt32(permissions.count))
        for permission in permissions {
            Self.write(permission.peer, &out)
            out.u64(permission.expiry)
        }
        let channels = a.heldChannels
        out.u32(UInt32(channels.count))
        for channel in channels {
            out.u16(channel.number)
            Self.write(channel.peer, &out)
            out.u64(channel.expiry)
        }
    }

    @_optimize(size)
    static func read(_ reader: inout SnapshotReader) throws(SnapshotReader.Malformed) -> HandoverAllocation {
        let client = try address(&reader), server = try address(&reader)
        guard let transport = ClientTransport(rawValue: try reader.u8()) else { throw .init("transport") }
        let relayed = try address(&reader)
        let additional = try reader.bool() ? try address(&reader) : nil
        let userKey = try reader.u64(), expiry = try reader.u64(), created = try reader.u64()
        let transaction = TransactionID(high: try reader.u32(), low: try reader.u64())
        let toPeer = try reader.u64(), toClient = try reader.u64()
        let userName = try reader.string()
        var permissions: [Permission] = []
        for _ in 0..<(try reader.count(minimumBytes: 13)) { permissions.append(Permission(peer: try ip(&reader), expiry: try reader.u64())) }
        var channels: [ChannelBinding] = []
        for _ in 0..<(try reader.count(minimumBytes: 17)) {
            channels.append(ChannelBinding(number: try reader.u16(), peer: try address(&reader), expiry: try reader.u64()))
        }
        let allocation = Allocation(restoring: FiveTuple(client: client, server: server, transport: transport), relayed: relayed,
                                    additionalRelayed: additional, userKey: userKey, expiry: expiry, created: created,
                                    creatingTransaction: transaction, bytesToPeer: toPeer, bytesToClient: toClient,
                                    permissions: permissions, channels: channels)
        return HandoverAllocation(allocation: allocation, userName: userName)
    }

    static func write(_ ip: IPAddress, _ out: inout SnapshotWriter) {
        switch ip {
        case .v4(let value):
            out.u8(4)
            out.u32(value)
        case .v6(let high, let low):
            out.u8(6)
            out.u64(high)
            out.u64(low)
        }
    }

    static func write(_ address: TransportAddress, _ out: inout SnapshotWriter) {
        write(address.ip, &out)
        out.u16(address.port)
    }

    static func ip(_ reader: inout SnapshotReader) throws(SnapshotReader.Malformed) -> IPAddress {
        switch try reader.u8() {
        case 4: return .v4(try reader.u32())
        case 6: return .v6(try reader.u64(), try reader.u64())
        default: throw .init("address family")
        }
    }

    static func address(_ reader: inout SnapshotReader) throws(SnapshotReader.Malformed) -> TransportAddress {
        TransportAddress(ip: try ip(&reader), port: try reader.u16())
    }
}

extension TurnRuntime {
    /// Encodes every UDP allocation and lists its relay sockets. Allocations over TCP/TLS stay:
    /// their connections are not handed over (docs/handover.md), so they end with the old process.
    @_optimize(size)
    func export(into state: inout WorkerHandoverState, now: UInt64) {
        var out = SnapshotWriter()
        let ids = core.allocations.ids.filter { core.allocations[$0].fiveTuple.transport == .udp && core.allocations[$0].expiry > now }
        out.u32(UInt32(ids.count))
        for id in ids {
            let allocation = core.allocations[id]
            HandoverAllocation(allocation: allocation, userName: attachments[id]?.userName ?? "").write(&out)
            for address in [allocation.relayed] + (allocation.additionalRelayed.map { [$0] } ?? []) {
                guard let index = relays.index(of: address), let relay = relays[index] else { continue }
                state.relays.append(.init(kind: .relay, key: address.description, fd: relay.socket.fd))
            }
        }
        state.allocations = out.bytes
        state.allocationCount = ids.count
    }

    /// Puts one handed-over allocation back, on its own relay sockets; false (and nothing kept)
    /// when a socket is missing or the table refuses it.
    @_optimize(size)
    func restore(_ record: HandoverAllocation, segmentation: Bool) -> Bool {
        var allocation = record.allocation
        // A static user's key is its position in this process's store (REST users' are a hash of the name).
        if allocation.userKey & (1 << 63) != 0, let key = authenticator.staticUserKey(named: record.userName) { allocation.userKey = key }
        let addresses = [allocation.relayed] + (allocation.additionalRelayed.map { [$0] } ?? [])
        var adopted: [TransportAddress] = []
        for address in addresses {
            guard let fd = InheritedSockets.take(.relay, address.description),
                  relays.adoptInherited(address, fd: fd, segmentation: segmentation) else {
                adopted.forEach { relays.closeRelay($0) }
                return false
            }
            adopted.append(address)
        }
        guard core.allocations.lookup(allocation.fiveTuple) == nil, case .success(let id) = core.allocations.insert(allocation) else {
            adopted.forEach { relays.closeRelay($0) }
            return false
        }
        for address in addresses { relays.bind(address, to: id) }
        attachments.setUserName(record.userName, for: id)
        return true
    }
}

extension MediaWorkerHandle {
    /// Pauses every worker for a handover (they stop reading in parallel) and returns their
    /// state; nil when one did not answer within `timeoutSeconds` (the gate is then opened to
    /// resume them all: a late worker finds it open and carries on).
    @_optimize(size)
    public static func pauseForHandover(_ handles: [MediaWorkerHandle], gate: HandoverGate,
                                        timeoutSeconds: Double = 2) -> [WorkerHandoverState]? {
        let tickets = handles.map { handle in
            let ticket = handle.nextTicket.add(1, ordering: .relaxed).newValue
            handle.mailbox.post(.handover(ticket: ticket, gate: gate))
            return ticket
        }
        var states = [WorkerHandoverState?](repeating: nil, count: handles.count)
        let deadline = MonotonicClock.now() + UInt64(timeoutSeconds * 1e9)
        while states.contains(where: { $0 == nil }) && MonotonicClock.now() < deadline {
            for index in handles.indices where states[index] == nil {
                if case .handover(let state)? = handles[index].mailbox.collect(tickets[index]) { states[index] = state }
            }
            usleep(20)
        }
        guard states.allSatisfy({ $0 != nil }) else {
            for index in handles.indices where states[index] == nil { handles[index].mailbox.abandon(tickets[index]) }
            gate.open(.resume)
            return nil
        }
        return states.compactMap { $0 }
    }
}
