import JSON
/// `DIRECTORY_REQUEST` → `DIRECTORY`: the devices a client may call under the current policy,
/// with their presence and labels, pushed again while the client is online whenever one of
/// them comes or goes or the provisioning changes (docs/signaling.md §7.8).
extension SignalingRouter {
    /// Entries one `DIRECTORY` lists at most (`truncated` says when there were more).
    public static let maxDirectoryEntries = 256

    /// The `DIRECTORY` body for `client`: devices it may call, sorted by id.
    func directoryBody(for client: String) -> JSONValue {
        var devices: [JSONValue] = []
        var truncated = false
        for id in policy.clientIds {
            guard let record = policy.record(id), record.role == .device, policy.mayTalk(client, id) else { continue }
            guard devices.count < Self.maxDirectoryEntries else {
                truncated = true
                break
            }
            var entry: [(String, JSONValue)] = [("id", .string(id)), ("online", .bool(clients.isOnline(id)))]
            if let label = record.label { entry.append(("label", .string(label))) }
            if record.relayOnly { entry.append(("relayOnly", true)) }
            devices.append(.object(entry))
        }
        return .object([("devices", .array(devices)), ("truncated", .bool(truncated))])
    }

    /// Answers a `DIRECTORY_REQUEST` and keeps `sender` informed while it is online.
    func answerDirectory(sender: String, mid: JSONValue?, correlation: [UInt8]?, into out: inout [OutboundMessage]) {
        directoryWatchers.insert(sender)
        stats.directoriesSent += 1
        reply(GatewayMessages.directory(mid: mid, body: directoryBody(for: sender)), to: sender, correlation: correlation, into: &out)
    }

    /// Pushes a fresh `DIRECTORY` to every online watcher that may call `device` (all watchers
    /// when nil: the provisioning changed). Offline or unprovisioned watchers are forgotten.
    func pushDirectory(changed device: String?, into out: inout [OutboundMessage]) {
        guard !directoryWatchers.isEmpty else { return }
        for watcher in directoryWatchers.sorted() {
            guard policy.record(watcher) != nil, clients.isOnline(watcher) else {
                directoryWatchers.remove(watcher)
                continue
            }
            if let device, !policy.mayTalk(watcher, device) { continue }
            stats.directoriesSent += 1
            notify(GatewayMessages.directory(mid: nil, body: directoryBody(for: watcher)), to: watcher, into: &out)
        }
    }
}

extension GatewayMessages {
    static func directory(mid: JSONValue?, body: JSONValue) -> JSONValue {
        var members: [(String, JSONValue)] = [("v", 1), ("type", "DIRECTORY"), ("from", .string(ClientID.gateway))]
        if let mid { members.append(("mid", mid)) }
        members.append(("body", body))
        return .object(members)
    }
}
