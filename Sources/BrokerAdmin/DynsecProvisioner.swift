import Glibc
import JSON
import MQTT
import Reactor

/// Provisions devices' broker credentials through mosquitto's dynamic security plugin, over the
/// owner's connected `MQTTClient` (whose broker user needs the dynsec admin rights).
///
/// Everything runs on the loop's thread. The owner forwards messages whose topic starts with
/// `DynsecCommands.responseTopic` to `handleResponse(payload:)`. If the response topic is not
/// among the client's configured subscriptions, the provisioner subscribes to it itself (before
/// its first request on each connection; the broker handles SUBSCRIBE before the PUBLISH that
/// follows it). Each request is one message; its commands carry `correlationData` "rtcgate-N.i".
/// Completions are called exactly once: with `.unavailable` at once when the client is not
/// connected, `.busy` at once beyond `maxPending` requests, otherwise on the answer or after
/// `timeoutMs` (`.timeout`).
public final class DynsecProvisioner: TimerHandler {
    public typealias Completion = (Result<Void, DynsecError>) -> Void

    public let topicPrefix: String
    public let timeoutMs: UInt64
    /// Most requests waiting for an answer at once.
    public let maxPending: Int
    /// Topic filters the owner's client should subscribe to (the response topic).
    public var subscriptions: [String] { [DynsecCommands.responseTopic] }
    /// Requests waiting for an answer.
    public var pendingCount: Int { pending.count }

    private let client: MQTTClient
    private let loop: EventLoop
    private var nextRequest: UInt64 = 1
    private var pending: [UInt64: Request] = [:]
    /// `client.counters.connects` when the provisioner last subscribed itself.
    private var subscribedOnConnect: UInt64 = 0

    private enum Kind {
        case add(id: String)
        case remove
        case setPassword
        /// Undoing half of a failed `add`; completes with the add's error.
        case rollback(DynsecError)
    }

    private struct Request {
        var kind: Kind
        var results: [DynsecResponse?]
        var timer: TimerID
        var completion: Completion
    }

    public init(client: MQTTClient, loop: EventLoop, topicPrefix: String = "rtc/v1", timeoutMs: UInt64 = 5000,
                maxPending: Int = 256) {
        self.client = client
        self.loop = loop
        self.topicPrefix = topicPrefix
        self.timeoutMs = timeoutMs
        self.maxPending = maxPending
    }

    // MARK: Requests

    /// Creates the device's role (`rtcgate-client-{id}`, its own topics only) and its broker client
    /// (username = `id`, with `password`). Fails with `.rejected(command: "createClient", message:
    /// "Client already exists")` for a known id; half-done work (a role without its client, or the
    /// reverse) is undone before the completion is called.
    public func addDevice(id: String, password: String, completion: @escaping Completion) {
        guard DynsecCommands.isValidDeviceId(id) else {
            return completion(.failure(.rejected(command: "addDevice", message: "invalid device id")))
        }
        guard !password.isEmpty else {
            return completion(.failure(.rejected(command: "addDevice", message: "empty password")))
        }
        send(.add(id: id), completion: completion) { tag in
            [DynsecCommands.createRole(device: id, topicPrefix: topicPrefix, correlationData: tag(0)),
             DynsecCommands.createClient(device: id, password: password, correlationData: tag(1))]
        }
    }

    /// Deletes the device's broker client (the broker disconnects it, and it cannot log in again)
    /// and then its role. Idempotent: a client or role that does not exist counts as removed.
    public func removeDevice(id: String, completion: @escaping Completion) {
        guard DynsecCommands.isValidDeviceId(id) else {
            return completion(.failure(.rejected(command: "removeDevice", message: "invalid device id")))
        }
        send(.remove, completion: completion) { tag in
            [DynsecCommands.deleteClient(device: id, correlationData: tag(0)),
             DynsecCommands.deleteRole(device: id, correlationData: tag(1))]
        }
    }

    /// Replaces the device's password (credential reset); the broker disconnects its current
    /// connection, which must log in again with the new password.
    public func setPassword(id: String, password: String, completion: @escaping Completion) {
        guard DynsecCommands.isValidDeviceId(id) else {
            return completion(.failure(.rejected(command: "setPassword", message: "invalid device id")))
        }
        guard !password.isEmpty else {
            return completion(.failure(.rejected(command: "setPassword", message: "empty password")))
        }
        send(.setPassword, completion: completion) { tag in
            [DynsecCommands.setClientPassword(device: id, password: password, correlationData: tag(0))]
        }
    }

    /// Publishes one request; `build` gets a function from command index to correlation data.
    private func send(_ kind: Kind, completion: @escaping Completion, build: ((Int) -> String) -> [JSONValue]) {
        guard client.isConnected else { return completion(.failure(.unavailable)) }
        guard pending.count < maxPending else { return completion(.failure(.busy)) }
        let number = nextRequest
        nextRequest += 1
        let commands = build { "rtcgate-\(number).\($0)" }
        guard let timer = loop.timers.schedule(at: MonotonicClock.now() + timeoutMs * 1_000_000, handler: self,
                                               context: number) else {
            return completion(.failure(.busy))
        }
        subscribeIfNeeded()
        guard client.publish(topic: DynsecCommands.controlTopic, payload: DynsecCommands.request(commands)) else {
            loop.timers.cancel(timer)
            return completion(.failure(.unavailable))
        }
        pending[number] = Request(kind: kind, results: Array(repeating: nil, count: commands.count), timer: timer,
                                  completion: completion)
    }

    private func subscribeIfNeeded() {
        guard !client.config.subscriptions.contains(DynsecCommands.responseTopic),
              subscribedOnConnect != client.counters.connects else { return }
        if client.resubscribe(DynsecCommands.responseTopic) { subscribedOnConnect = client.counters.connects }
    }

    // MARK: Answers

    /// Takes a message from the response topic. Answers to unknown or timed-out requests, and
    /// anything that is not a dynsec response, are ignored.
    public func handleResponse(payload: UnsafeRawBufferPointer) {
        guard let responses = DynsecCommands.parseResponses(payload) else { return }
        var touched: [UInt64] = []
        for response in responses {
            guard let (number, index) = Self.parseTag(response.correlationData), var request = pending[number],
                  index < request.results.count else { continue }
            request.results[index] = response
            pending[number] = request
            if !touched.contains(number) { touched.append(number) }
        }
        for number in touched {
            guard let request = pending[number], request.results.allSatisfy({ $0 != nil }) else { continue }
            pending[number] = nil
            loop.timers.cancel(request.timer)
            finish(request.kind, results: request.results.compactMap { $0 }, completion: request.completion)
        }
    }

    /// "rtcgate-N.i" → (N, i).
    private static func parseTag(_ tag: String?) -> (UInt64, Int)? {
        guard let tag, tag.hasPrefix("rtcgate-") else { return nil }
        let parts = tag.dropFirst(8).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let number = UInt64(parts[0]), let index = Int(parts[1]), index >= 0 else { return nil }
        return (number, index)
    }

    private func finish(_ kind: Kind, results: [DynsecResponse], completion: @escaping Completion) {
        switch kind {
        case .add(let id):
            let role = results[0], user = results[1]
            if let error = user.error {
                // The client's error explains it, unless the role failed for another reason than
                // existing already (then the client failed only for want of its role).
                var failure = DynsecError.rejected(command: user.command, message: error)
                if let roleError = role.error, roleError != "Role already exists" {
                    failure = .rejected(command: role.command, message: roleError)
                }
                if role.error == nil {
                    // The role was created for nothing: delete it again.
                    return rollback(failure, completion: completion) {
                        [DynsecCommands.deleteRole(device: id, correlationData: $0(0))]
                    }
                }
                completion(.failure(failure))
            } else if let error = role.error {
                // The client was created with a role that already existed: undo, report.
                rollback(.rejected(command: role.command, message: error), completion: completion) {
                    [DynsecCommands.deleteClient(device: id, correlationData: $0(0))]
                }
            } else {
                completion(.success(()))
            }
        case .remove:
            let tolerated = ["Client not found", "Role not found"]
            if let failed = results.first(where: { $0.error.map { !tolerated.contains($0) } ?? false }) {
                completion(.failure(.rejected(command: failed.command, message: failed.error ?? "")))
            } else {
                completion(.success(()))
            }
        case .setPassword:
            if let error = results[0].error {
                completion(.failure(.rejected(command: results[0].command, message: error)))
            } else {
                completion(.success(()))
            }
        case .rollback(let failure):
            completion(.failure(failure))
        }
    }

    /// Sends the undo commands; `completion` gets `failure` once they are answered (or not).
    private func rollback(_ failure: DynsecError, completion: @escaping Completion,
                          build: ((Int) -> String) -> [JSONValue]) {
        send(.rollback(failure), completion: { _ in completion(.failure(failure)) }, build: build)
    }

    // MARK: Timeouts

    public func timerFired(context: UInt64, now: UInt64) {
        // A rollback's completion reports the original failure whatever it is given.
        pending.removeValue(forKey: context)?.completion(.failure(.timeout))
    }
}
