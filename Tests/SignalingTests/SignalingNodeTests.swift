import JSON
import XCTest
@testable import Signaling

/// The node in front of the router: topics sorted, presence held through broker restarts, and
/// in a cluster each message published by exactly one instance.
final class SignalingNodeTests: XCTestCase {
    private let online = #"{"state":"online"}"#
    private let offline = #"{"state":"offline"}"#

    private func receive(_ node: SignalingNode, _ h: Harness, _ topic: String, _ payload: String,
                         into out: inout [OutboundMessage]) -> SignalingNode.Delivery {
        Array(payload.utf8).withUnsafeBytes { node.receive(topic: topic, payload: $0, correlationData: nil, clock: h.clock, into: &out) }
    }

    func testTopicsAreBuiltAndClassifiedFromOnePrefix() {
        let topics = SignalingTopics(prefix: "site/a")
        XCTAssertEqual(topics.down("cam-1"), "site/a/down/cam-1")
        XCTAssertEqual(topics.status("cam-1"), "site/a/status/cam-1")
        XCTAssertEqual(topics.gatewayStatus, "site/a/status/_gw")
        XCTAssertEqual(topics.upFilter(shared: true), "$share/rtcgate/site/a/up/+")
        XCTAssertEqual(topics.upFilter(shared: false), "site/a/up/+")
        XCTAssertEqual(topics.classify("site/a/up/cam-1"), .up("cam-1"))
        XCTAssertEqual(topics.classify("site/a/status/cam-1"), .status("cam-1"))
        XCTAssertEqual(topics.classify(topics.clusterState("device/cam-1")), .clusterState(key: "device/cam-1"))
        XCTAssertEqual(topics.classify(topics.clusterPresence("gw-2")), .clusterPresence(instance: "gw-2"))
        XCTAssertEqual(topics.classify("site/b/up/cam-1"), .other)
        XCTAssertEqual(topics.classify("site/a/down/cam-1"), .other)
    }

    func testAloneItSubscribesLikeTheRouterAndPublishesEverything() {
        let h = Harness()
        let node = SignalingNode(router: h.router, clusterInstance: nil)
        XCTAssertEqual(node.subscriptions, ["$share/rtcgate/rtc/v1/up/+", "rtc/v1/status/+"], "up shared among a group")
        var out: [OutboundMessage] = []
        XCTAssertEqual(receive(node, h, "rtc/v1/_cluster/gw-2", online, into: &out), .unrouted, "not a topic of a lone gateway")
        XCTAssertEqual(h.router.counters.ignoredTopics, 1)
        XCTAssertTrue(node.publishes(OutboundMessage(recipient: "cam-1", topic: "rtc/v1/down/cam-1", payload: [])))
        XCTAssertEqual(node.successors, [])
    }

    func testOfflineIsHeldUntilTheTickAfterTheHold() {
        let h = Harness()
        let node = SignalingNode(router: h.router, clusterInstance: nil)
        var out: [OutboundMessage] = []
        XCTAssertEqual(receive(node, h, "rtc/v1/status/cam-1", online, into: &out), .routed)
        XCTAssertTrue(h.router.isOnline("cam-1"))
        XCTAssertEqual(receive(node, h, "rtc/v1/status/cam-1", offline, into: &out), .routed)
        XCTAssertTrue(h.router.isOnline("cam-1"), "held: a broker restart publishes every Will first")
        h.advance(ms: node.presence.holdMs + 1)
        node.tick(clock: h.clock, into: &out)
        XCTAssertFalse(h.router.isOnline("cam-1"))
    }

    func testHeldOfflineIsDiscardedWhenTheBrokerGoesAway() {
        let h = Harness()
        let node = SignalingNode(router: h.router, clusterInstance: nil)
        var out: [OutboundMessage] = []
        _ = receive(node, h, "rtc/v1/status/cam-1", online, into: &out)
        _ = receive(node, h, "rtc/v1/status/cam-1", offline, into: &out)
        node.brokerLost()
        h.advance(ms: 10_000)
        node.tick(clock: h.clock, into: &out)
        XCTAssertTrue(h.router.isOnline("cam-1"))
        XCTAssertEqual(node.presence.discardedOnBrokerLoss, 1)
    }

    func testClientSilentAfterAReconnectIsTreatedAsOffline() {
        let h = Harness()
        let node = SignalingNode(router: h.router, clusterInstance: nil)
        var out: [OutboundMessage] = []
        _ = receive(node, h, "rtc/v1/status/cam-1", online, into: &out)
        _ = receive(node, h, "rtc/v1/status/cam-2", online, into: &out)
        node.brokerConnected(clock: h.clock)
        _ = receive(node, h, "rtc/v1/status/cam-2", online, into: &out)
        h.advance(ms: node.presence.resyncMs)
        XCTAssertEqual(node.tick(clock: h.clock, into: &out), ["cam-1"])
        XCTAssertFalse(h.router.isOnline("cam-1"))
        XCTAssertTrue(h.router.isOnline("cam-2"))
    }

    func testOversizedStatusIsDroppedAndCounted() {
        let h = Harness()
        let node = SignalingNode(router: h.router, clusterInstance: nil)
        var out: [OutboundMessage] = []
        let big = #"{"state":"online","pad":""# + String(repeating: "x", count: SignalingNode.maxStatusBytes) + #""}"#
        XCTAssertEqual(receive(node, h, "rtc/v1/status/cam-1", big, into: &out), .oversizedStatus)
        XCTAssertFalse(h.router.isOnline("cam-1"))
        XCTAssertEqual(node.oversizedStatuses, 1)
    }

    /// Two instances see the same messages; each outbound message is published by one of them,
    /// and when one leaves the other publishes everything.
    func testClusterOwnersSplitTheRecipientsAndTakeOverOnLeave() {
        let ha = Harness(), hb = Harness()
        let a = SignalingNode(router: ha.router, clusterInstance: "gw-a")
        let b = SignalingNode(router: hb.router, clusterInstance: "gw-b")
        XCTAssertEqual(a.subscriptions, ["rtc/v1/up/+", "rtc/v1/status/+", "rtc/v1/_cluster/+", "rtc/v1/_cluster/state/#", "rtc/v1/_cluster/links/+"])
        var out: [OutboundMessage] = []
        XCTAssertEqual(receive(a, ha, "rtc/v1/_cluster/gw-b", online, into: &out),
                       .clusterPresence(instance: "gw-b", online: true, changed: true))
        XCTAssertEqual(receive(b, hb, "rtc/v1/_cluster/gw-a", online, into: &out),
                       .clusterPresence(instance: "gw-a", online: true, changed: true))
        XCTAssertEqual(receive(a, ha, "rtc/v1/_cluster/gw-b", online, into: &out),
                       .clusterPresence(instance: "gw-b", online: true, changed: false))
        XCTAssertEqual(a.successors, ["gw-b"])
        let recipients = Harness.defaultClients.map(\.id)
        var byA = 0
        for id in recipients {
            let message = OutboundMessage(recipient: id, topic: a.topics.down(id), payload: [])
            XCTAssertNotEqual(a.publishes(message), b.publishes(message), "exactly one instance publishes to \(id)")
            if a.publishes(message) { byA += 1 }
        }
        XCTAssertGreaterThan(byA, 0)
        XCTAssertLessThan(byA, recipients.count)
        XCTAssertEqual(receive(a, ha, "rtc/v1/_cluster/gw-b", offline, into: &out),
                       .clusterPresence(instance: "gw-b", online: false, changed: true))
        for id in recipients {
            XCTAssertTrue(a.publishes(OutboundMessage(recipient: id, topic: a.topics.down(id), payload: [])))
        }
        XCTAssertEqual(receive(a, ha, "rtc/v1/_cluster/state/device/cam-1", "{}", into: &out), .clusterState(key: "device/cam-1"))
    }
}
