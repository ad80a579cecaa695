import STUN
import XCTest

@testable import TURN

final class TurnRequestTests: XCTestCase {
    func testAllocateSucceedsSignedWithRelayedAndMappedAddresses() throws {
        var harness = TurnHarness()
        let response = harness.send(turnRequest(.allocate, udpTransport))
        try response.withUnsafeBytes { raw in
            let view = try StunMessageView(raw)
            XCTAssertEqual(view.type, StunMessageType(method: .allocate, messageClass: .successResponse))
            XCTAssertEqual(view.xorAddress(.xorRelayedAddress), harness.relays.open.first)
            XCTAssertEqual(view.xorAddress(.xorMappedAddress), client)
            XCTAssertEqual(view.lifetime, 600)
            XCTAssertTrue(harness.auth.key.withUnsafeBytes { view.verifyMessageIntegrity(key: $0) })
        }
        XCTAssertEqual(harness.core.allocations.count, 1)
    }

    func testAllocateErrors() {
        var harness = TurnHarness()
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate))), 400, "REQUESTED-TRANSPORT missing")
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try b.appendUInt32(.requestedTransport, 6 << 24) })), 442, "TCP relaying is not offered")
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            try b.appendUInt32(.requestedAddressFamily, 0x03 << 24) })), 440)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            try b.appendUInt32(.requestedAddressFamily, 0x01 << 24)
            try b.appendUInt32(.additionalAddressFamily, 0x02 << 24) })), 400, "both family attributes")
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport))), 401)
        XCTAssertEqual(harness.core.allocations.count, 0)
        harness.relays.available = 0
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, udpTransport))), 508, "no relay port left")
    }

    func testChallengeCarriesRealmAndNonceAndNoIntegrity() throws {
        var harness = TurnHarness()
        let response = harness.send(turnRequest(.allocate, username: nil, udpTransport))
        try response.withUnsafeBytes { raw in
            let view = try StunMessageView(raw)
            XCTAssertEqual(view.errorCode?.code, 401)
            XCTAssertEqual(view.realm.map { String(decoding: $0, as: UTF8.self) }, "test.realm")
            XCTAssertNotNil(view.nonce)
            XCTAssertFalse(view.contains(.messageIntegrity))
        }
    }

    func testRetransmittedAllocateIsAnsweredAgainAndOthersMismatch() {
        var harness = TurnHarness()
        let id = TransactionID.random()
        let first = harness.send(turnRequest(.allocate, id: id, udpTransport))
        XCTAssertNil(errorCode(first))
        let again = harness.send(turnRequest(.allocate, id: id, udpTransport), at: 1)
        XCTAssertNil(errorCode(again), "a retransmission is not a second allocation")
        XCTAssertEqual(harness.relays.open.count, 1)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, udpTransport))), 437)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, username: "bob", id: id, udpTransport))), 437,
                       "another user cannot replay the creating transaction")
    }

    /// Found by the fuzzer: a retransmitted Allocate after the allocation's expiry, before the
    /// sweep removed it, computed a negative remaining lifetime and trapped.
    func testRetransmittedAllocateAfterExpiryDoesNotTrap() {
        var harness = TurnHarness()
        let id = TransactionID.random()
        XCTAssertNil(errorCode(harness.send(turnRequest(.allocate, id: id, udpTransport))))
        let late = harness.send(turnRequest(.allocate, id: id, udpTransport), at: 3_601 * second)
        XCTAssertNil(errorCode(late))
        XCTAssertEqual(late.withUnsafeBytes { try? StunMessageView($0).lifetime }, 0, "nothing left of it")
    }

    func testRefreshRules() throws {
        var harness = TurnHarness()
        XCTAssertEqual(errorCode(harness.send(turnRequest(.refresh))), 437, "no allocation")
        _ = harness.send(turnRequest(.allocate, udpTransport))
        XCTAssertEqual(errorCode(harness.send(turnRequest(.refresh, username: "bob"))), 441, "nobody hijacks an allocation")
        let refreshed = harness.send(turnRequest(.refresh) { b throws(StunBuildError) in try b.appendUInt32(.lifetime, 1800) }, at: 10 * second)
        XCTAssertEqual(refreshed.withUnsafeBytes { try? StunMessageView($0).lifetime }, 1800)
        let id = try XCTUnwrap(harness.core.allocations.lookup(clientTuple))
        XCTAssertEqual(harness.core.allocations[id].expiry, 1810 * second)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.refresh) { b throws(StunBuildError) in
            try b.appendUInt32(.requestedAddressFamily, 0x02 << 24) })), 443)
        XCTAssertNil(errorCode(harness.send(turnRequest(.refresh) { b throws(StunBuildError) in try b.appendUInt32(.lifetime, 0) })))
        XCTAssertEqual(harness.core.allocations.count, 0, "lifetime 0 deletes")
        XCTAssertEqual(harness.relays.closed, harness.relays.open, "and releases the relayed address")
    }

    func testPermissionsObeyPolicyFamilyAndAreAllOrNothing() throws {
        var harness = TurnHarness()
        _ = harness.send(turnRequest(.allocate, udpTransport))
        let good = TransportAddress(ip: IPAddress("192.0.2.50")!, port: 1)
        let denied = TransportAddress(ip: IPAddress("10.0.0.1")!, port: 1)
        harness.allowPeer = { $0.ip != denied.ip }
        XCTAssertEqual(errorCode(harness.send(turnRequest(.createPermission) { b throws(StunBuildError) in
            try b.appendXorAddress(.xorPeerAddress, good)
            try b.appendXorAddress(.xorPeerAddress, denied) })), 403)
        let id = try XCTUnwrap(harness.core.allocations.lookup(clientTuple))
        XCTAssertFalse(harness.core.allocations[id].isPermitted(good.ip, now: 1), "nothing installed when one peer fails")
        XCTAssertEqual(errorCode(harness.send(turnRequest(.createPermission) { b throws(StunBuildError) in
            try b.appendXorAddress(.xorPeerAddress, TransportAddress(ip: IPAddress("2001:db8::9")!, port: 1)) })), 443)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.createPermission))), 400, "XOR-PEER-ADDRESS missing")
        XCTAssertNil(errorCode(harness.send(turnRequest(.createPermission) { b throws(StunBuildError) in
            try b.appendXorAddress(.xorPeerAddress, good) })))
        XCTAssertTrue(harness.core.allocations[id].isPermitted(good.ip, now: 299 * second))
        XCTAssertEqual(errorCode(harness.send(turnRequest(.createPermission, username: "bob") { b throws(StunBuildError) in
            try b.appendXorAddress(.xorPeerAddress, good) })), 441)
    }

    func testChannelBind() throws {
        var harness = TurnHarness()
        _ = harness.send(turnRequest(.allocate, udpTransport))
        let peer = TransportAddress(ip: IPAddress("192.0.2.50")!, port: 5000)
        func bind(_ number: UInt32, _ peer: TransportAddress) -> [UInt8] {
            harness.send(turnRequest(.channelBind) { b throws(StunBuildError) in
                try b.appendUInt32(.channelNumber, number << 16)
                try b.appendXorAddress(.xorPeerAddress, peer) })
        }
        XCTAssertEqual(errorCode(bind(0x3FFF, peer)), 400, "below the channel range")
        XCTAssertNil(errorCode(bind(0x4000, peer)))
        XCTAssertEqual(errorCode(bind(0x4000, TransportAddress(ip: peer.ip, port: 5001))), 400, "number already bound elsewhere")
        let id = try XCTUnwrap(harness.core.allocations.lookup(clientTuple))
        XCTAssertEqual(harness.core.allocations[id].peer(forChannel: 0x4000, now: 1), peer)
        XCTAssertTrue(harness.core.allocations[id].isPermitted(peer.ip, now: 1), "ChannelBind installs the permission")
    }

    func testExpiredRestCredentialKeepsItsAllocationAliveUpToTheSessionLimit() {
        var limits = TurnLimits()
        limits.maxSessionLifetime = 3600
        var harness = TurnHarness(limits: limits)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, username: "alice-expired", udpTransport))), 401,
                       "an expired credential cannot allocate")
        _ = harness.send(turnRequest(.allocate, udpTransport))
        XCTAssertNil(errorCode(harness.send(turnRequest(.refresh, username: "alice-expired"), at: 500 * second)),
                     "the call survives its credential's expiry")
        XCTAssertEqual(errorCode(harness.send(turnRequest(.refresh, username: "alice-expired"), at: 3601 * second)), 401,
                       "until the maximum session lifetime")
    }

    func testQuotasAnswer486() {
        var limits = TurnLimits()
        limits.userQuota = 1
        var harness = TurnHarness(limits: limits)
        XCTAssertNil(errorCode(harness.send(turnRequest(.allocate, udpTransport))))
        let other = FiveTuple(client: TransportAddress(ip: client.ip, port: 40_001), server: server, transport: .udp)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, udpTransport), from: other)), 486)
        XCTAssertNil(errorCode(harness.send(turnRequest(.allocate, username: "bob", udpTransport), from: other)))
    }

    func testUnknownComprehensionRequiredAttributeGets420AfterAuthentication() {
        var harness = TurnHarness()
        let response = harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            try b.appendUInt32(AttributeType(rawValue: 0x0077), 1) })
        XCTAssertEqual(errorCode(response), 420)
    }
}

final class TurnDualAllocationTests: XCTestCase {
    func testDualAllocationRelaysBothFamiliesAndRefreshesEither() throws {
        var harness = TurnHarness()
        let response = harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            try b.appendUInt32(.additionalAddressFamily, 0x02 << 24) })
        XCTAssertNil(errorCode(response))
        let relayed = response.withUnsafeBytes { raw -> [TransportAddress] in
            let view = try! StunMessageView(raw)
            return view.attributes.filter { $0.type == .xorRelayedAddress }.compactMap { view.decodeXorAddress($0.value) }
        }
        XCTAssertEqual(relayed.map { $0.ip.isIPv4 }, [true, false], "an IPv4 and an IPv6 relayed address")
        for family: UInt32 in [0x01, 0x02] {
            XCTAssertNil(errorCode(harness.send(turnRequest(.refresh) { b throws(StunBuildError) in
                try b.appendUInt32(.requestedAddressFamily, family << 24) })), "refresh family \(family)")
        }
        let v6Peer = TransportAddress(ip: IPAddress("2001:db8::7")!, port: 1)
        XCTAssertNil(errorCode(harness.send(turnRequest(.createPermission) { b throws(StunBuildError) in
            try b.appendXorAddress(.xorPeerAddress, v6Peer) })), "the IPv6 relay admits IPv6 peers")
    }
}

final class TurnEvenPortTests: XCTestCase {
    func testEvenPortReservationIsClaimedOnceByItsToken() throws {
        var harness = TurnHarness()
        let response = harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            appendBytes(&b, .evenPort, [0x80])  // R: reserve the next port
        })
        XCTAssertNil(errorCode(response))
        let (relayed, token) = response.withUnsafeBytes { raw -> (TransportAddress?, [UInt8]?) in
            let view = try! StunMessageView(raw)
            return (view.xorAddress(.xorRelayedAddress), view.attribute(.reservationToken).map(Array.init))
        }
        XCTAssertEqual(relayed.map { $0.port % 2 }, 0, "an even port")
        let tokenBytes = try XCTUnwrap(token)
        XCTAssertEqual(tokenBytes.count, 8)
        let claim = turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            appendBytes(&b, .reservationToken, tokenBytes)
        }
        let other = FiveTuple(client: TransportAddress(ip: client.ip, port: 40_002), server: server, transport: .udp)
        let second = harness.send(claim, from: other)
        XCTAssertNil(errorCode(second))
        XCTAssertEqual(second.withUnsafeBytes { try? StunMessageView($0).xorAddress(.xorRelayedAddress)?.port },
                       relayed.map { $0.port + 1 }, "the reserved odd port")
        let third = FiveTuple(client: TransportAddress(ip: client.ip, port: 40_003), server: server, transport: .udp)
        XCTAssertEqual(errorCode(harness.send(claim, from: third)), 508, "a token is good once")
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate) { b throws(StunBuildError) in
            try udpTransport(&b)
            appendBytes(&b, .evenPort, [0x00])
            appendBytes(&b, .reservationToken, tokenBytes)
        }, from: third)), 400, "EVEN-PORT with RESERVATION-TOKEN")
    }
}

final class TurnChallengeLimitTests: XCTestCase {
    func testChallengesAreRateLimitedPerSource() {
        var limits = TurnLimits()
        limits.challengeRate = 2
        limits.challengeBurst = 3
        var harness = TurnHarness(limits: limits)
        var answered = 0
        for _ in 0..<10 where errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport))) == 401 { answered += 1 }
        XCTAssertEqual(answered, 3, "the burst, then silence")
        XCTAssertEqual(harness.core.counters[drop: .challengeRateLimited], 7)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport), at: 1 * second)), 401,
                       "the budget refills")
        let other = FiveTuple(client: TransportAddress(ip: IPAddress("198.51.100.99")!, port: 1), server: server, transport: .udp)
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport), from: other)), 401,
                       "another source has its own budget")
        XCTAssertNil(errorCode(harness.send(turnRequest(.allocate, udpTransport))), "authenticated requests are not limited")
    }

    /// A source that came back with a nonce receives at its address: its later unauthenticated
    /// requests (new clients behind the same NAT) draw on a larger, still finite budget, for a while.
    func testSourceThatReturnedANonceGetsTheProvedBudget() {
        var limits = TurnLimits()
        limits.challengeRate = 1
        limits.challengeBurst = 3
        limits.provenChallengeRate = 1
        limits.provenChallengeBurst = 50
        limits.provenSourceSeconds = 10
        var harness = TurnHarness(limits: limits)
        let challenges = (0..<5).filter { _ in errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport))) == 401 }
        XCTAssertEqual(challenges.count, 3, "unproved: the burst only")
        // The same source returns with the nonce (wrong user, still a 401): it is proved.
        XCTAssertEqual(errorCode(harness.send(turnRequest(.allocate, username: "nobody") { builder throws(StunBuildError) in
            try udpTransport(&builder)
            try builder.append(.nonce, utf8: "nonce-1")
        })), 401)
        let later = (0..<80).filter { _ in errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport))) == 401 }
        XCTAssertEqual(later.count, 49, "a proved source gets the proved burst (its proving 401 took one), and no more")
        XCTAssertEqual(harness.core.counters[drop: .challengeRateLimited], 2 + 31)
        let lapsed = (0..<5).filter { _ in
            errorCode(harness.send(turnRequest(.allocate, username: nil, udpTransport), at: 11 * second)) == 401
        }
        XCTAssertLessThan(lapsed.count, 5, "the exemption lapses after provenSourceSeconds")
    }
}

final class TurnMalformedRequestTests: XCTestCase {
    func testUnreadableAttributesGet400WithTheTransactionID() throws {
        var core = TurnCore(limits: TurnLimits())
        // An Allocate whose only attribute claims 8 bytes but carries 4.
        var bytes: [UInt8] = [0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42] + (1...12).map { UInt8($0) }
        bytes += [0x00, 0x19, 0x00, 0x08, 0x11, 0x00, 0x00, 0x00]
        let header = try bytes.withUnsafeBytes { try StunHeader.peek($0) }
        XCTAssertNil(try? bytes.withUnsafeBytes { try StunMessageView($0) }, "the attribute chain is broken")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { buffer.deallocate() }
        guard case .reply(let length) = core.rejectMalformed(header, from: client, now: 0, into: buffer) else { return XCTFail() }
        let view = try StunMessageView(UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        XCTAssertEqual(view.errorCode?.code, 400)
        XCTAssertEqual(view.type, StunMessageType(method: .allocate, messageClass: .errorResponse))
        XCTAssertEqual(view.transactionID, header.transactionID)
        XCTAssertEqual(core.counters.malformedRequests, 1)
    }
}
