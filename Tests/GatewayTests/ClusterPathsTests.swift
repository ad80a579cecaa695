import Gateway
import Glibc
import Paths
import Reactor
import Signaling
import TURN
import XCTest

/// What other instances send the path model's shell over the broker: presences with relay URLs
/// and rows of links, hostile ones included (oversized, malformed, naming unknown relays, lying).
final class ClusterPathsTests: XCTestCase {
    private func paths(networks: [String] = []) throws -> (ClusterPaths, EventLoop) {
        let loop = try EventLoop(maxRegistrations: 8, timerCapacity: 32, tickNanos: 5_000_000)
        var options = PathOptions()
        options.maxRelays = 4
        options.relayNetworks = networks.compactMap { AddressRange($0) }
        let entry = RelayEntry(name: "a", site: "a", stun: ["stun:10.0.0.1:3478"], turn: ["turn:10.0.0.1:3478?transport=udp"])
        return (ClusterPaths(selfEntry: entry, options: options, clientCapacity: 8, topicPrefix: "rtc/v1", probeFrom: nil, clustered: true,
                             loop: loop), loop)
    }

    private func send(_ text: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        Array(text.utf8).withUnsafeBytes(body)
    }

    func testPresencesAndRowsBuildTheTable() throws {
        let (paths, loop) = try paths()
        defer { paths.stop() }
        _ = loop
        send(#"{"state":"online","stun":["stun:10.0.0.2:3478"],"turn":["turn:10.0.0.2:3478?transport=udp"],"site":"b"}"#) {
            paths.presence(of: "b", online: true, payload: $0)
        }
        XCTAssertEqual(paths.relayPaths.links.relays, ["a", "b"])
        XCTAssertEqual(paths.relayPaths.relays["b"]?.site, "b")
        send(#"{"from":"b","at":1000,"links":[{"to":"a","rttUs":12000,"lossPpm":50000,"jitterUs":800},{"to":"zz","rttUs":1,"lossPpm":0,"jitterUs":0}]}"#) {
            paths.row(from: "b", payload: $0)
        }
        let link = try XCTUnwrap(paths.relayPaths.links.relayLink(0, 1, now: 1_010, maxAge: 30))
        XCTAssertEqual(link.rttMicros, 12_000)
        XCTAssertEqual(link.loss, 0.05, accuracy: 1e-9)
        XCTAssertEqual(paths.malformed, 0, "a link to an unknown relay is ignored, not an error")
        send(#"{"state":"offline"}"#) { paths.presence(of: "b", online: false, payload: $0) }
        XCTAssertEqual(paths.relayPaths.links.relays, ["a"])
    }

    func testHostileInputIsDroppedAndCounted() throws {
        let (paths, _) = try paths()
        defer { paths.stop() }
        let oversized = #"{"state":"online","stun":["stun:10.0.0.2:3478"],"pad":""# + String(repeating: "x", count: 5_000) + #""}"#
        send(oversized) { paths.presence(of: "b", online: true, payload: $0) }
        send("{not json") { paths.presence(of: "c", online: true, payload: $0) }
        send(#"{"state":"online","stun":"not-a-list"}"#) { paths.presence(of: "d", online: true, payload: $0) }
        XCTAssertEqual(paths.malformed, 3)
        XCTAssertEqual(paths.relayPaths.links.relays, ["a"], "none of them became a relay")
        // More relays than path-max-relays (4): the first ones by name are kept, nothing crashes.
        for name in ["b", "c", "d", "e", "f"] {
            send(#"{"state":"online","stun":["stun:10.0.0.9:3478"],"turn":[]}"#) { paths.presence(of: name, online: true, payload: $0) }
        }
        XCTAssertEqual(paths.relayPaths.links.relays, ["a", "b", "c", "d"])
        XCTAssertEqual(paths.malformed, 4, "the instance beyond path-max-relays is counted, not tracked")
        // Rows: too large, malformed entries, negative numbers, wrong types.
        send(#"{"from":"b","at":1,"links":[]"# + String(repeating: " ", count: 20_000) + "}") { paths.row(from: "b", payload: $0) }
        send(#"{"from":"b","at":1,"links":[{"to":"a","rttUs":"fast"}]}"#) { paths.row(from: "b", payload: $0) }
        send(#"{"from":"b","at":-5,"links":[]}"#) { paths.row(from: "b", payload: $0) }
        XCTAssertEqual(paths.malformed, 7)
        send(#"{"from":"b","at":1000,"links":[{"to":"a","rttUs":-7,"lossPpm":9000000,"jitterUs":-1}]}"#) { paths.row(from: "b", payload: $0) }
        let clamped = try XCTUnwrap(paths.relayPaths.links.row(from: 1, to: 0)?.estimate)
        XCTAssertEqual(clamped.rttMicros, 0)
        XCTAssertEqual(clamped.loss, 1, "loss clamped to 0…1")
        XCTAssertEqual(clamped.jitterMicros, 0)
        // An empty payload (a cleared retained row) is not an error.
        send("") { paths.row(from: "b", payload: $0) }
        XCTAssertEqual(paths.malformed, 7)
        // Extreme numbers are clamped (60 s): costs cannot overflow, the search runs.
        send(#"{"from":"c","at":1,"links":[{"to":"b","rttUs":9223372036854775807,"lossPpm":0,"jitterUs":9223372036854775807}]}"#) {
            paths.row(from: "c", payload: $0)
        }
        XCTAssertEqual(paths.relayPaths.links.row(from: 2, to: 1)?.estimate.rttMicros, 60_000_000)
        _ = paths.relayPaths.plan(("x", "b"), ("y", "c"), now: UInt64(time(nil)))
    }

    func testRelayNetworksLimitWhoBecomesARelay() throws {
        let (paths, _) = try paths(networks: ["10.0.0.0/24"])
        defer { paths.stop() }
        var admitted: [String] = []
        paths.onRelayAddresses = { admitted = $0 }
        send(#"{"state":"online","stun":["stun:10.0.0.2:3478"],"turn":[]}"#) { paths.presence(of: "b", online: true, payload: $0) }
        send(#"{"state":"online","stun":["stun:192.168.1.5:3478"],"turn":[]}"#) { paths.presence(of: "evil", online: true, payload: $0) }
        XCTAssertEqual(paths.relayPaths.links.relays, ["a", "b"])
        XCTAssertEqual(paths.outsideNetworks, 1)
        XCTAssertEqual(Set(admitted), ["10.0.0.1", "10.0.0.2"], "only this relay and b are admitted as TURN peers")
    }
}
