import MallocCounter
import STUN
import XCTest

@testable import TURN

final class TurnRelayTests: XCTestCase {
    let peer = TransportAddress(ip: IPAddress("192.0.2.50")!, port: 5000)

    /// A harness with one allocation, a permission for `peer`, and optionally channel 0x4000.
    private func harness(channel: Bool) -> TurnHarness {
        var harness = TurnHarness()
        _ = harness.send(turnRequest(.allocate, udpTransport))
        let peer = self.peer
        if channel {
            _ = harness.send(turnRequest(.channelBind) { b throws(StunBuildError) in
                try b.appendUInt32(.channelNumber, 0x4000 << 16)
                try b.appendXorAddress(.xorPeerAddress, peer) })
        } else {
            _ = harness.send(turnRequest(.createPermission) { b throws(StunBuildError) in try b.appendXorAddress(.xorPeerAddress, peer) })
        }
        return harness
    }

    func testSendIndicationNeedsAPermission() {
        var h = harness(channel: false)
        let stranger = TransportAddress(ip: IPAddress("192.0.2.99")!, port: 1)
        sendIndication(to: stranger, [1, 2, 3]).withUnsafeBytes { raw in
            guard case .drop(.noPermission) = h.core.relaySendIndication(try! StunMessageView(raw), from: clientTuple, now: 1) else {
                return XCTFail("a peer without permission is unreachable")
            }
        }
        sendIndication(to: peer, [1, 2, 3]).withUnsafeBytes { raw in
            guard case .toPeer(_, _, let to, let data) = h.core.relaySendIndication(try! StunMessageView(raw), from: clientTuple, now: 1) else {
                return XCTFail("permitted peer")
            }
            XCTAssertEqual(to, peer)
            XCTAssertEqual(Array(data), [1, 2, 3])
        }
        let otherClient = FiveTuple(client: TransportAddress(ip: client.ip, port: 1), server: server, transport: .udp)
        sendIndication(to: peer, [1]).withUnsafeBytes { raw in
            guard case .drop(.noAllocation) = h.core.relaySendIndication(try! StunMessageView(raw), from: otherClient, now: 1) else {
                return XCTFail("no allocation")
            }
        }
        XCTAssertEqual(h.core.counters[drop: .noPermission], 1)
        XCTAssertEqual(h.core.counters.packetsToPeer, 1)
    }

    func testChannelDataBothWaysAndDataIndicationWithoutChannel() throws {
        var h = harness(channel: true)
        let channelData: [UInt8] = [0x40, 0x00, 0x00, 0x03, 7, 8, 9, 0]
        channelData.withUnsafeBytes { raw in
            guard case .toPeer(_, _, let to, let data) = h.core.relayChannelData(raw, from: clientTuple, now: 1) else { return XCTFail() }
            XCTAssertEqual(to, peer)
            XCTAssertEqual(Array(data), [7, 8, 9])
        }
        let id = try XCTUnwrap(h.core.allocations.lookup(clientTuple))
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { slot.deallocate() }
        let data = UnsafeMutableRawBufferPointer(rebasing: slot[64..<69])
        data.copyBytes(from: [1, 2, 3, 4, 5])
        guard case .toClient(_, _, let message) = h.core.relayPeerData(data, from: peer, to: id, now: 2) else { return XCTFail() }
        XCTAssertEqual(Array(message), [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5], "bound peer: ChannelData, unpadded over UDP")
        // A permitted peer on another port has no channel: Data indication.
        let samePeerOtherPort = TransportAddress(ip: peer.ip, port: 5001)
        data.copyBytes(from: [1, 2, 3, 4, 5])
        guard case .toClient(_, _, let indication) = h.core.relayPeerData(data, from: samePeerOtherPort, to: id, now: 2) else { return XCTFail() }
        let view = try StunMessageView(UnsafeRawBufferPointer(indication))
        XCTAssertEqual(view.xorAddress(.xorPeerAddress), samePeerOtherPort)
        XCTAssertEqual(view.attribute(.data).map(Array.init), [1, 2, 3, 4, 5])
        guard case .drop(.noPermission) = h.core.relayPeerData(data, from: TransportAddress(ip: IPAddress("192.0.2.1")!, port: 1),
                                                              to: id, now: 2) else { return XCTFail("unpermitted peer") }
        guard case .drop(.unboundChannel) = ([0x40, 0x01, 0x00, 0x00] as [UInt8]).withUnsafeBytes({
            h.core.relayChannelData($0, from: clientTuple, now: 1) }) else { return XCTFail("unbound channel") }
        guard case .drop(.noPermission) = channelData.withUnsafeBytes({ h.core.relayChannelData($0, from: clientTuple, now: 301 * second) })
        else { return XCTFail("the permission lapsed before the channel") }
    }

    /// 100,000 ChannelData packets each way through the core without a heap allocation.
    func testRelayPathDoesNotAllocate() throws {
        var h = harness(channel: true)
        let id = try XCTUnwrap(h.core.allocations.lookup(clientTuple))
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 8)
        defer { slot.deallocate() }
        let channelData = UnsafeMutableRawBufferPointer(rebasing: slot[0..<(4 + 172)])
        channelData.copyBytes(from: [0x40, 0x00, 0x00, 172])
        let peerData = UnsafeMutableRawBufferPointer(rebasing: slot[1024..<(1024 + 172)])
        var relayed = 0
        func run(_ count: Int) {
            for i in 0..<count {
                if case .toPeer = h.core.relayChannelData(UnsafeRawBufferPointer(channelData), from: clientTuple, now: UInt64(i)) { relayed += 1 }
                if case .toClient = h.core.relayPeerData(peerData, from: peer, to: id, now: UInt64(i)) { relayed += 1 }
            }
        }
        run(1000)
        rtcgate_malloc_count_reset()
        run(100_000)
        XCTAssertEqual(rtcgate_malloc_count(), 0, "allocations on the relay path")
        XCTAssertEqual(relayed, 202_000)
    }
}

final class TurnBandwidthTests: XCTestCase {
    func testBandwidthCapDropsAndRefills() throws {
        var limits = TurnLimits()
        limits.maxBytesPerSecond = 1000
        var h = TurnHarness(limits: limits)
        _ = h.send(turnRequest(.allocate, udpTransport))
        let peer = TransportAddress(ip: IPAddress("192.0.2.50")!, port: 5000)
        _ = h.send(turnRequest(.channelBind) { b throws(StunBuildError) in
            try b.appendUInt32(.channelNumber, 0x4000 << 16)
            try b.appendXorAddress(.xorPeerAddress, peer) })
        let packet: [UInt8] = [0x40, 0x00, 0x01, 0x90] + [UInt8](repeating: 1, count: 400)
        var relayed = 0
        packet.withUnsafeBytes { raw in
            for i in 0..<5 {
                if case .toPeer = h.core.relayChannelData(raw, from: clientTuple, now: 10 * second + UInt64(i)) { relayed += 1 }
            }
        }
        XCTAssertEqual(relayed, 2, "1000 bytes/s admits two 400-byte packets at once")
        XCTAssertEqual(h.core.counters[drop: .bandwidth], 3)
        packet.withUnsafeBytes { raw in
            if case .toPeer = h.core.relayChannelData(raw, from: clientTuple, now: 11 * second) { relayed += 1 }
        }
        XCTAssertEqual(relayed, 3, "the budget refills over a second")
    }
}
