import JSON
import XCTest
@testable import Signaling

final class RouterDirectoryTests: XCTestCase {
    let request = #"{"v":1,"type":"DIRECTORY_REQUEST","mid":"d-1","body":{}}"#

    private func clientsWithLabels() -> [ClientRecord] {
        Harness.defaultClients.map { record in
            var labeled = record
            if record.id == "cam-1" { labeled.label = "Front door" }
            if record.id == "cam-2" { labeled.relayOnly = true }
            return labeled
        }
    }

    func testListsTheDevicesTheClientMayCallWithPresenceAndLabels() {
        let h = Harness(clients: clientsWithLabels())
        h.online("cam-1", "viewer-1")
        let out = h.up("viewer-1", request, correlation: [7])
        XCTAssertEqual(out.count, 1, "the DIRECTORY is the reply: no separate STATUS")
        XCTAssertEqual(out[0].correlationData, [7])
        XCTAssertEqual(out[0].text, #"{"v":1,"type":"DIRECTORY","from":"_gw","mid":"d-1","body":{"devices":[{"id":"cam-1","online":true,"label":"Front door"},{"id":"cam-2","online":false,"relayOnly":true}],"truncated":false}}"#)
        // Policy: `friend` may call only cam-1 (its allow list); `outsider` nothing.
        XCTAssertEqual(h.up("friend", request)[0].json["body"]?["devices"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, ["cam-1"])
        XCTAssertEqual(h.up("outsider", request)[0].json["body"]?["devices"], .array([]))
        XCTAssertEqual(h.router.counters.directoriesSent, 3)
    }

    func testPresenceChangesArePushedToWatchersWhoMayCallTheDevice() {
        let h = Harness(clients: clientsWithLabels())
        h.online("viewer-1", "outsider")
        h.up("viewer-1", request)
        h.up("outsider", request)
        let online = h.status("cam-1", #"{"state":"online"}"#)
        XCTAssertEqual(online.map(\.topic), ["rtc/v1/down/viewer-1"], "only a watcher allowed to call cam-1 hears of it")
        XCTAssertNil(online[0].json["mid"], "a push has no mid")
        XCTAssertEqual(online[0].json["body"]?["devices"]?.arrayValue?.first?["online"], .bool(true))
        let offline = h.status("cam-1", #"{"state":"offline"}"#)
        XCTAssertEqual(offline.first?.json["body"]?["devices"]?.arrayValue?.first?["online"], .bool(false))
        // A viewer's own presence is not a directory change; an offline watcher is forgotten.
        XCTAssertTrue(h.status("viewer-2", #"{"state":"online"}"#).isEmpty)
        h.status("viewer-1", #"{"state":"offline"}"#)
        XCTAssertTrue(h.status("cam-1", #"{"state":"online"}"#).isEmpty)
    }

    func testProvisioningChangesArePushed() {
        let h = Harness()
        h.online("viewer-1")
        h.up("viewer-1", request)
        var out: [OutboundMessage] = []
        let fewer = Harness.defaultClients.filter { $0.id != "cam-2" }
        h.router.updatePolicy(SignalingPolicy(clients: fewer), into: &out)
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out[0].json["body"]?["devices"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, ["cam-1"])
    }

    func testBoundedRateLimitedAndRefusedLikeAnyRequest() {
        var clients = Harness.defaultClients
        for i in 0..<(SignalingRouter.maxDirectoryEntries + 10) {
            clients.append(ClientRecord(id: "cam-x\(i)", role: .device, groups: ["home"]))
        }
        let h = Harness(clients: clients)
        let body = h.up("viewer-1", request)[0].json["body"]
        XCTAssertEqual(body?["devices"]?.arrayValue?.count, SignalingRouter.maxDirectoryEntries)
        XCTAssertEqual(body?["truncated"], .bool(true))
        // Shares the OFFER/ANSWER budget (5/s, burst 10).
        let replies = (0..<20).map { _ in h.up("viewer-1", request)[0].json }
        XCTAssertTrue(replies.contains { $0["type"]?.stringValue == "STATUS" && $0["error"]?.stringValue == "rate-limited" })
        // Not provisioned, wrong type of body, and DIRECTORY from a client.
        XCTAssertEqual(h.up("stranger", request)[0].json["error"], "forbidden")
        XCTAssertEqual(h.up("viewer-2", #"{"v":1,"type":"DIRECTORY_REQUEST","mid":"x","body":[]}"#)[0].json["error"], "bad-request")
        XCTAssertEqual(h.up("viewer-2", #"{"v":1,"type":"DIRECTORY","mid":"x","body":{}}"#)[0].json["error"], "bad-request")
    }
}
