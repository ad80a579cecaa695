import CSystem
import Glibc
import Reactor
import STUN
import Synchronization
import TURN

/// What the main thread can ask a media worker to do; the worker runs it on its own thread.
public enum WorkerCommand: Sendable {
    /// Replaces the TURN users and REST secrets (live re-provisioning).
    case replaceCredentials(users: CredentialStore, restSecrets: [String])
    /// Admits these peer ranges on top of the configured policy (the other relays of a cluster).
    case admitPeers([AddressRange])
    /// Starts or stops accepting new TURN allocations (drain).
    case acceptAllocations(Bool)
    /// Reports every allocation (answered under `ticket`).
    case listAllocations(ticket: UInt64)
    /// Deletes every allocation of a client transport address (answered under `ticket`).
    case killAllocations(client: TransportAddress, ticket: UInt64)
    /// Replaces the STUN responder's per-source rate limit (reload).
    case setRateLimit(ratePerSecond: UInt32, burst: UInt32)
    /// Answered (`.done`) once every command posted before it has run (commands run in order),
    /// after the worker has published its counters: `synchronize` also refreshes them.
    case barrier(ticket: UInt64)
    /// Exports the state for a handover (answered under `ticket`), then reads nothing until
    /// `gate` opens (docs/handover.md).
    case handover(ticket: UInt64, gate: HandoverGate)
}

/// A worker's answer to a command that has one.
public enum WorkerReply: Sendable {
    case allocations([AllocationInfo])
    case killed(Int)
    case done
    case handover(WorkerHandoverState)
}

/// One allocation as `rtcgate ctl allocation list` shows it.
public struct AllocationInfo: Sendable, Equatable {
    public var worker: Int
    public var client: TransportAddress
    public var transport: String
    public var relayed: TransportAddress
    public var additionalRelayed: TransportAddress?
    public var user: String
    public var ageSeconds: UInt64
    public var lifetimeSeconds: UInt64
    public var bytesToPeer: UInt64
    public var bytesToClient: UInt64
    public var permissions: Int
    public var channels: Int
}

/// The worker's end of the command queue: an eventfd in the worker's loop, and the queue and
/// answers behind mutexes (only the control path takes them, never the packet path).
final class WorkerMailbox: Sendable {
    let eventFD: Int32
    private let queue = Mutex<[WorkerCommand]>([])
    private let answers = Mutex<(replies: [UInt64: WorkerReply], abandoned: Set<UInt64>)>(([:], []))

    init() throws(SystemError) {
        eventFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if eventFD < 0 { throw SystemError("eventfd") }
    }

    deinit { close(eventFD) }

    func post(_ command: WorkerCommand) {
        queue.withLock { $0.append(command) }
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
    }

    func take() -> [WorkerCommand] {
        var value: UInt64 = 0
        _ = read(eventFD, &value, 8)
        return queue.withLock { commands in defer { commands.removeAll() }; return commands }
    }

    func answer(_ ticket: UInt64, _ reply: WorkerReply) {
        answers.withLock { state in
            // Nobody waits for an answer that came after its asker gave up: drop it.
            if state.abandoned.remove(ticket) == nil { state.replies[ticket] = reply }
        }
    }

    func collect(_ ticket: UInt64) -> WorkerReply? { answers.withLock { $0.replies.removeValue(forKey: ticket) } }

    /// The asker stopped waiting: its answer, now or later, is dropped.
    func abandon(_ ticket: UInt64) {
        answers.withLock { state in
            if state.replies.removeValue(forKey: ticket) == nil { state.abandoned.insert(ticket) }
        }
    }
}

extension MediaWorkerHandle {
    /// Queues a command for the worker (it runs within one loop turn).
    public func send(_ command: WorkerCommand) { mailbox.post(command) }

    /// The answer to `ticket`, if the worker has given it (for callers that run the worker's loop
    /// themselves, such as tests).
    public func reply(for ticket: UInt64) -> WorkerReply? { mailbox.collect(ticket) }

    /// Waits (at most `timeoutSeconds`) until the worker has run every command sent before and
    /// published its counters; false if it did not answer in time.
    public func synchronize(timeoutSeconds: Double = 1) -> Bool {
        Self.synchronize([self], timeoutSeconds: timeoutSeconds).isEmpty
    }

    /// `synchronize` for several workers at once (they answer in parallel); returns the ids of
    /// those that did not answer within `timeoutSeconds`.
    public static func synchronize(_ handles: [MediaWorkerHandle], timeoutSeconds: Double = 1) -> [Int] {
        var waiting: [(handle: MediaWorkerHandle, ticket: UInt64)] = handles.map { handle in
            let ticket = handle.nextTicket.add(1, ordering: .relaxed).newValue
            handle.mailbox.post(.barrier(ticket: ticket))
            return (handle, ticket)
        }
        let deadline = MonotonicClock.now() + UInt64(timeoutSeconds * 1e9)
        while true {
            waiting.removeAll { $0.handle.mailbox.collect($0.ticket) != nil }
            if waiting.isEmpty || MonotonicClock.now() >= deadline { break }
            usleep(100)
        }
        for (handle, ticket) in waiting { handle.mailbox.abandon(ticket) }
        return waiting.map(\.handle.id)
    }

    /// Sends a command that is answered and waits for the answer at most `timeoutSeconds`.
    public func ask(_ command: (UInt64) -> WorkerCommand, timeoutSeconds: Double = 1) -> WorkerReply? {
        let ticket = nextTicket.add(1, ordering: .relaxed).newValue
        mailbox.post(command(ticket))
        let deadline = MonotonicClock.now() + UInt64(timeoutSeconds * 1e9)
        while MonotonicClock.now() < deadline {
            if let reply = mailbox.collect(ticket) { return reply }
            usleep(200)
        }
        if let reply = mailbox.collect(ticket) { return reply }
        mailbox.abandon(ticket)
        return nil
    }
}

/// Registers the mailbox in the worker's loop and runs what arrives.
final class MailboxReadiness: EventHandler {
    unowned let worker: MediaWorker

    init(worker: MediaWorker) { self.worker = worker }

    func handleEvents(_ events: UInt32, loop: EventLoop) {
        for command in worker.handle.mailbox.take() { worker.run(command) }
    }
}

extension MediaWorker {
    func run(_ command: WorkerCommand) {
        let mailbox = handle.mailbox
        switch command {
        case .replaceCredentials(let users, let secrets):
            turn?.authenticator.users = users
            turn?.authenticator.rest = RestCredentials(secrets: secrets)
        case .admitPeers(let ranges):
            if let turn { turn.policy = turn.configuredPolicy.admitting(ranges) }
        case .acceptAllocations(let accept):
            turn?.core.acceptsAllocations = accept
        case .listAllocations(let ticket):
            mailbox.answer(ticket, .allocations(turn?.allocationInfos(worker: handle.id, now: MonotonicClock.now()) ?? []))
        case .killAllocations(let client, let ticket):
            mailbox.answer(ticket, .killed(turn?.kill(client: client) ?? 0))
        case .setRateLimit(let rate, let burst):
            responder.updateRateLimit(ratePerSecond: rate, burst: burst)
        case .barrier(let ticket):
            publish()
            mailbox.answer(ticket, .done)
        case .handover(let ticket, let gate):
            publish()
            pauseForHandover(ticket: ticket, gate: gate)
        }
    }
}

extension TurnRuntime {
    /// Every allocation of this worker, for listings.
    func allocationInfos(worker: Int, now: UInt64) -> [AllocationInfo] {
        core.allocations.ids.map { id in
            let allocation = core.allocations[id]
            return AllocationInfo(
                worker: worker, client: allocation.fiveTuple.client,
                transport: allocation.fiveTuple.transport == .udp ? "udp" : attachments.liveOwner(of: id)?.session != nil ? "tls" : "tcp",
                relayed: allocation.relayed, additionalRelayed: allocation.additionalRelayed,
                user: attachments[id]?.userName ?? "",
                ageSeconds: (now &- allocation.created) / 1_000_000_000,
                lifetimeSeconds: allocation.expiry > now ? (allocation.expiry - now) / 1_000_000_000 : 0,
                bytesToPeer: allocation.bytesToPeer, bytesToClient: allocation.bytesToClient,
                permissions: allocation.activePermissionCount(now: now), channels: allocation.activeChannelCount(now: now))
        }
    }

    /// Deletes every allocation of `client` (its relays closed); returns how many.
    func kill(client: TransportAddress) -> Int {
        var killed = 0
        for id in core.allocations.ids where core.allocations[id].fiveTuple.client == client {
            remove(id)
            killed += 1
        }
        return killed
    }
}
