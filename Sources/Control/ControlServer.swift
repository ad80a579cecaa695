import CSystem
import Glibc
import JSON
import Reactor

/// Executes control commands. Called on the server's loop thread; `reply` may be called then or
/// later (on the same thread), exactly once. Replies to a connection that has closed meanwhile
/// are dropped and counted; the reply's `id` is always set to the request's.
public protocol ControlCommandHandler: AnyObject {
    func handle(_ request: ControlRequest, peer: ControlPeer, reply: @escaping (ControlResponse) -> Void)
}

/// Settings of the control socket.
public struct ControlServerConfiguration: Sendable {
    /// Filesystem path of the socket, e.g. `/run/rtcgate/control.sock`.
    public var path: String
    /// Mode of the socket file after bind.
    public var mode: mode_t = 0o660
    /// Who may connect (beyond the file mode); its `groupId` is also the socket file's group.
    public var access = ControlAccessPolicy()
    /// Clients connected at once; one more is told `busy` and closed.
    public var maxClients = 16
    /// Longest request line, newline included; a longer one is answered `too-large` and closed.
    public var maxLineBytes = ControlProtocol.defaultMaxLineBytes
    /// Unsent response bytes a connection may hold; beyond, it is closed as a slow consumer.
    public var sendLimitBytes = 4 * 1024 * 1024
    /// A connection silent this long with no reply pending is closed (0 disables).
    public var idleTimeoutSeconds: UInt64 = 300

    public init(path: String) { self.path = path }
}

/// What the control server has done since start.
public struct ControlServerCounters: Sendable, Equatable {
    /// Connections admitted.
    public var accepted: UInt64 = 0
    /// Connections refused: credentials not allowed (`forbidden`).
    public var refusedForbidden: UInt64 = 0
    /// Connections refused: every client slot in use (`busy`).
    public var refusedBusy: UInt64 = 0
    /// Connections refused: SO_PEERCRED failed or a registration could not be made.
    public var refusedOther: UInt64 = 0
    /// Connections closed after a line over the limit (`too-large`).
    public var closedTooLarge: UInt64 = 0
    /// Connections closed because their unsent responses exceeded the send limit.
    public var closedSlowConsumer: UInt64 = 0
    /// Connections closed by the idle timeout.
    public var closedIdle: UInt64 = 0
    /// Well-formed requests handed to the handler.
    public var requests: UInt64 = 0
    /// Error responses sent (malformed requests and handler errors alike).
    public var errors: UInt64 = 0
    /// Replies to connections that had closed, and second replies to one request.
    public var droppedReplies: UInt64 = 0
}

/// The control socket: a Unix stream listener on the event loop with a fixed table of clients,
/// line-delimited JSON requests handed to a `ControlCommandHandler`, and peer checks with
/// `SO_PEERCRED` on every connection.
public final class ControlServer: EventHandler, TimerHandler {
    public let configuration: ControlServerConfiguration
    public private(set) var counters = ControlServerCounters()
    /// Receives the requests (held strongly; it should not hold the server strongly).
    public let handler: ControlCommandHandler

    private let listener: UnixListeningSocket
    private unowned let loop: EventLoop
    private var registration: Registration?
    private let connections: [ControlConnection]
    private var freeRecords: [Int]
    var scratch = [UInt8](repeating: 0, count: 16 * 1024)

    /// Prepares the path (removing a stale socket, refusing a live one), binds, sets mode and
    /// group, and starts accepting on `loop`.
    public init(configuration: ControlServerConfiguration, loop: EventLoop, handler: ControlCommandHandler) throws(ControlServerError) {
        precondition(configuration.maxClients > 0 && configuration.maxLineBytes > 1)
        self.configuration = configuration
        self.loop = loop
        self.handler = handler
        listener = try UnixListeningSocket(path: configuration.path, mode: configuration.mode,
                                           group: configuration.access.groupId, backlog: Int32(configuration.maxClients + 8))
        connections = (0..<configuration.maxClients).map { ControlConnection(index: $0) }
        freeRecords = Array((0..<configuration.maxClients).reversed())
        for connection in connections { connection.owner = self }
        do throws(SystemError) {
            registration = try loop.register(fd: listener.fd, events: EPOLLIN.rawValue, handler: self)
        } catch {
            listener.close()
            throw .system(operation: "registering the control socket", errno: error.code)
        }
    }

    /// Whether the once-a-second idle sweep is armed: only while clients are connected.
    private var sweepArmed = false

    private func armSweep(now: UInt64) {
        guard configuration.idleTimeoutSeconds > 0, !sweepArmed, registration != nil, openConnections > 0 else { return }
        sweepArmed = loop.timers.schedule(at: now + 1_000_000_000, handler: self) != nil
    }

    deinit { if registration != nil { listener.close() } }

    /// Clients connected now.
    public var openConnections: Int { connections.count - freeRecords.count }

    /// The listening descriptor, for a handover (still owned here).
    public var listeningDescriptor: Int32 { listener.fd }

    /// Stops serving after a handover: connections close, the socket file stays (the successor
    /// listens on the same socket).
    public func relinquish() {
        if stopServing() { listener.relinquish() }
    }

    /// Closes every connection and the listener, and removes the socket file. Idempotent.
    public func shutdown() {
        if stopServing() { listener.close() }
    }

    /// Stops accepting and closes every connection; false when that was done already.
    private func stopServing() -> Bool {
        guard let registration else { return false }
        loop.deregister(registration)
        self.registration = nil
        for connection in connections where connection.isOpen { connection.close(reason: .local, loop: loop) }
        return true
    }

    public func handleEvents(_ events: UInt32, loop: EventLoop) {
        for _ in 0..<64 {
            guard registration != nil else { return }
            let client = listener.acceptClient()
            if client < 0 { return }  // EAGAIN, or a transient error (EMFILE, ECONNABORTED)
            guard let peer = ControlPeer(socket: client) else {
                counters.refusedOther &+= 1
                Glibc.close(client)
                continue
            }
            guard configuration.access.allows(peer) else {
                counters.refusedForbidden &+= 1
                Self.refuse(client, .error(.null, .forbidden, configuration.access.refusal(for: peer)))
                continue
            }
            guard let record = freeRecords.popLast() else {
                counters.refusedBusy &+= 1
                Self.refuse(client, .error(.null, .busy, "too many control clients (at most \(configuration.maxClients)); try again"))
                continue
            }
            do throws(SystemError) {
                try connections[record].open(fd: client, peer: peer, loop: loop)
                counters.accepted &+= 1
                armSweep(now: MonotonicClock.now())
            } catch {
                counters.refusedOther &+= 1
                Glibc.close(client)
                freeRecords.append(record)
            }
        }
    }

    public func timerFired(context: UInt64, now: UInt64) {
        guard registration != nil else { return }
        let limit = configuration.idleTimeoutSeconds * 1_000_000_000
        for connection in connections where connection.isOpen && connection.pendingReplies == 0 && now &- connection.lastActivity > limit {
            connection.close(reason: .idle, loop: loop)
        }
        sweepArmed = false
        armSweep(now: now)
    }

    /// One line from `connection` (newline included).
    func received(_ line: [UInt8], on connection: ControlConnection, loop: EventLoop) {
        let request: ControlRequest
        do throws(ControlRequestError) {
            request = try ControlRequest.parse(line)
        } catch {
            send(error.response, on: connection)
            return
        }
        counters.requests &+= 1
        connection.pendingReplies += 1
        let index = connection.index
        let generation = connection.generation
        let id = request.id
        var answered = false
        handler.handle(request, peer: connection.peer) { [weak self] response in
            guard let self else { return }
            guard !answered else { self.counters.droppedReplies &+= 1; return }
            answered = true
            let target = self.connections[index]
            guard target.isOpen, target.generation == generation else { self.counters.droppedReplies &+= 1; return }
            target.pendingReplies -= 1
            var response = response
            response.id = id
            self.send(response, on: target)
            target.replied(loop: self.loop)
        }
    }

    private func send(_ response: ControlResponse, on connection: ControlConnection) {
        var bytes = response.serialized()
        if bytes.count > configuration.sendLimitBytes {
            bytes = ControlResponse.error(response.id, .internal,
                                          "response of \(bytes.count) bytes exceeds the \(configuration.sendLimitBytes)-byte limit").serialized()
        }
        if case .error = response.outcome { counters.errors &+= 1 }
        connection.send(bytes, limit: configuration.sendLimitBytes, loop: loop)
    }

    func lineTooLarge(_ connection: ControlConnection, loop: EventLoop) {
        counters.errors &+= 1
        let response = ControlResponse.error(.null, .tooLarge, "request line longer than \(configuration.maxLineBytes) bytes")
        connection.sendFinal(response.serialized(), reason: .tooLarge, limit: configuration.sendLimitBytes, loop: loop)
    }

    func connectionClosed(_ connection: ControlConnection, reason: ControlCloseReason) {
        switch reason {
        case .tooLarge: counters.closedTooLarge &+= 1
        case .slowConsumer: counters.closedSlowConsumer &+= 1
        case .idle: counters.closedIdle &+= 1
        case .peerClosed, .readError, .writeError, .local: break
        }
        freeRecords.append(connection.index)
    }

    /// Best effort: one error line to a connection being refused, then close.
    private static func refuse(_ fd: Int32, _ response: ControlResponse) {
        let bytes = response.serialized()
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        Glibc.close(fd)
    }
}
