// libFuzzer entry point for the signaling plane's pure core: the JSON parser, the router (up and
// status messages from a small cast of clients, with the clock moving and ticks in between,
// against a live session table) and the relay-only filter. Compiled by Tests/Fuzz/run.sh with
// Sources/Signaling/*.swift in one module, against JSON and Paths modules built beside it. The
// router has three relays, so LINK_REPORT and ICE_CONFIG for a call are reached too.
//
// Invariants checked: parsed JSON serializes and parses back to the same value; everything the
// router publishes goes to a `down/` topic and is a JSON object with a `type`; the session count
// never exceeds its limit; filtered SDP keeps no non-relay candidate line.

import JSON
import Paths

private final class Minter: IceCredentialMinter {
    func mint(clientId: String, unixNow: UInt64, ttl: UInt64) -> (username: String, credential: String)? {
        ("\(unixNow &+ ttl):\(clientId)", "c")
    }
}

private nonisolated(unsafe) let router: SignalingRouter = {
    var config = SignalingConfig()
    config.maxSessions = 8
    config.maxViewersPerDevice = 2
    config.maxClients = 16
    let clients = ["cam-1", "cam-2", "viewer-1", "viewer-2", "ro"].map { id in
        ClientRecord(id: id, role: id.hasPrefix("cam") ? .device : .viewer, groups: ["g"], relayOnly: id == "ro")
    }
    let router = SignalingRouter(config: config, policy: SignalingPolicy(clients: clients),
                                 iceServers: IceServerURLs(stun: ["stun:h:1"], turn: ["turn:h:1"]), minter: Minter())
    // Three relays with links (docs/paths.md), so LINK_REPORT and ICE_CONFIG for a peer are exercised.
    let entries = ["a", "b", "c"].map { RelayEntry(name: $0, site: $0, stun: ["stun:\($0):1"], turn: ["turn:\($0):1"]) }
    let paths = RelayPaths(selfEntry: entries[0], relayCapacity: 4, clientCapacity: 8, policy: PathPolicy())
    paths.setRelays(entries)
    let link = LinkEstimate(rttMicros: 5_000, loss: 0.01, jitterMicros: 100)
    for from in ["a", "b", "c"] { paths.setRow(from: from, links: ["a", "b", "c"].map { ($0, link) }, at: 1_700_000_000) }
    router.relayPaths = paths
    return router
}()
private nonisolated(unsafe) var clockMs: UInt64 = 1_000
private let ids = ["cam-1", "cam-2", "viewer-1", "viewer-2", "ro", "stranger", "_gw", "bad/id"]

@_cdecl("LLVMFuzzerTestOneInput")
public func signalingFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard size > 2 else { return 0 }
    let selector = bytes[0], advance = bytes[1]
    let payload = UnsafeRawBufferPointer(rebasing: bytes[2...])

    if let value = try? JSONParser.parse(payload) {
        let again = try? JSONParser.parse(value.serialized())
        precondition(again == value, "JSON round trip changed the value")
    }

    clockMs &+= UInt64(advance) * 250
    let clock = SignalingClock(monotonicMs: clockMs, unixSeconds: 1_700_000_000 + clockMs / 1_000)
    var out: [OutboundMessage] = []
    let id = ids[Int(selector & 7)]
    let topic = selector & 0x80 == 0 ? "rtc/v1/up/\(id)" : (selector & 0x40 == 0 ? "rtc/v1/status/\(id)" : "rtc/v1/other/\(id)")
    router.handle(topic: topic, payload: payload, correlationData: selector & 0x20 == 0 ? nil : [1, 2], clock: clock, into: &out)
    if selector & 0x10 != 0 { router.tick(clock: clock, into: &out) }
    for message in out {
        precondition(message.topic.hasPrefix("rtc/v1/down/"), "published outside down/: \(message.topic)")
        let parsed = try? JSONParser.parse(message.payload)
        precondition(parsed?["type"]?.stringValue != nil, "published a message without a type")
    }
    precondition(router.liveSessionCount <= 8, "session limit exceeded")

    let text = String(decoding: payload, as: UTF8.self)
    let filtered = RelayOnlyFilter.filterSDP(text)
    // Lines as SDP parsers read them: split at LF (a CR before it belongs to the line end).
    for line in filtered.utf8.split(separator: UInt8(ascii: "\n")) where line.starts(with: "a=candidate:".utf8) {
        let text = String(decoding: line, as: UTF8.self)
        precondition(text.contains(" typ relay"), "a non-relay candidate survived: \(text)")
    }
    _ = RelayOnlyFilter.filterCandidate(text)
    return 0
}
