import STUN
import TURN
import XCTest

/// Operator configuration: allow/deny lists, the relay's own addresses and protected ports.
final class PeerPolicyOperatorTests: XCTestCase {
    private func ip(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> IPAddress {
        guard let address = IPAddress(text) else {
            XCTFail("bad address \(text)", file: file, line: line)
            return .v4(0)
        }
        return address
    }

    private func ranges(_ specs: String...) -> [AddressRange] {
        specs.map { spec in
            guard let range = AddressRange(spec) else { preconditionFailure("bad range \(spec)") }
            return range
        }
    }

    private func verdict(_ policy: PeerPolicy, _ text: String, port: UInt16 = 5000) -> PeerVerdict {
        policy.evaluate(TransportAddress(ip: ip(text), port: port))
    }

    func testAllowListAdmitsItsLANOnly() {
        let policy = PeerPolicy(allowed: ranges("192.168.1.0/24"))
        XCTAssertEqual(verdict(policy, "192.168.1.50"), .allowed)
        XCTAssertEqual(verdict(policy, "192.168.1.0"), .allowed)
        XCTAssertEqual(verdict(policy, "192.168.1.255"), .allowed)
        XCTAssertEqual(verdict(policy, "192.168.2.1"), .denied(.privateNetwork))
        XCTAssertEqual(verdict(policy, "192.168.0.255"), .denied(.privateNetwork))
        XCTAssertEqual(verdict(policy, "10.0.0.1"), .denied(.privateNetwork))
        XCTAssertEqual(verdict(policy, "127.0.0.1"), .denied(.loopback))
        XCTAssertEqual(verdict(policy, "8.8.8.8"), .allowed)
    }

    func testEmbeddedSpellingsFollowTheAllowList() {
        let policy = PeerPolicy(allowed: ranges("192.168.1.0/24"))
        for text in ["::ffff:192.168.1.50", "::192.168.1.50", "::ffff:0:192.168.1.50", "64:ff9b::c0a8:132",
                     "2002:c0a8:0132::1"] {
            XCTAssertEqual(verdict(policy, text), .allowed, text)
        }
        for text in ["::ffff:192.168.2.1", "64:ff9b::c0a8:201", "2002:c0a8:0201::"] {
            XCTAssertEqual(verdict(policy, text), .denied(.privateNetwork), text)
        }
    }

    func testMappedAllowRangeIsTreatedAsIPv4() {
        let policy = PeerPolicy(allowed: ranges("::ffff:192.168.1.0/120"))
        XCTAssertEqual(policy.allowed, ranges("192.168.1.0/24"))
        XCTAssertEqual(verdict(policy, "192.168.1.50"), .allowed)
        XCTAssertEqual(verdict(policy, "::ffff:192.168.1.50"), .allowed)
    }

    func testDenyListBeatsAllowList() {
        let policy = PeerPolicy(allowed: ranges("192.168.1.0/24"), denied: ranges("192.168.1.10-192.168.1.20"))
        XCTAssertEqual(verdict(policy, "192.168.1.9"), .allowed)
        XCTAssertEqual(verdict(policy, "192.168.1.10"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "192.168.1.20"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "::ffff:192.168.1.15"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "192.168.1.21"), .allowed)
    }

    func testDenyListRefusesPublicAddressesAndRawSpellings() {
        let policy = PeerPolicy(denied: ranges("8.8.8.0/24", "2002::/16", "2606:4700::/32"))
        XCTAssertEqual(verdict(policy, "8.8.8.8"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "::ffff:8.8.8.8"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "64:ff9b::808:808"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "2002:0101:0101::1"), .denied(.operatorDenied))  // 1.1.1.1, but 6to4 denied
        XCTAssertEqual(verdict(policy, "2606:4700::1111"), .denied(.operatorDenied))
        XCTAssertEqual(verdict(policy, "1.1.1.1"), .allowed)
    }

    func testAllowListNeverAdmitsTheRelayItself() {
        let relay = TransportAddress(ip: ip("192.168.1.1"), port: 3478)
        let policy = PeerPolicy(
            allowed: ranges("192.168.1.0/24", "0.0.0.0/0"),
            relayAddresses: [relay, TransportAddress(ip: ip("2606:4700::5"), port: 0)])
        XCTAssertEqual(policy.evaluate(relay), .denied(.relayAddress))
        XCTAssertEqual(verdict(policy, "::ffff:192.168.1.1", port: 3478), .denied(.relayAddress))
        XCTAssertEqual(verdict(policy, "64:ff9b::c0a8:101", port: 3478), .denied(.relayAddress))
        XCTAssertEqual(verdict(policy, "192.168.1.1", port: 50000), .allowed)  // a relayed port, relay-to-relay
        XCTAssertEqual(verdict(policy, "2606:4700::5", port: 1), .denied(.relayAddress))  // port 0: every port
        XCTAssertEqual(verdict(policy, "2606:4700::5", port: 0), .denied(.relayAddress))
        XCTAssertEqual(verdict(policy, "2606:4700::6"), .allowed)
    }

    func testMappedRelayAddressIsStoredAsIPv4() {
        let policy = PeerPolicy(relayAddresses: [TransportAddress(ip: ip("::ffff:8.8.4.4"), port: 0)])
        XCTAssertEqual(verdict(policy, "8.8.4.4"), .denied(.relayAddress))
        XCTAssertEqual(verdict(policy, "::ffff:8.8.4.4"), .denied(.relayAddress))
    }

    func testProtectedPortsOnLocalAddresses() {
        let policy = PeerPolicy(
            allowed: ranges("192.168.1.0/24", "127.0.0.0/8", "::1"),
            relayAddresses: [TransportAddress(ip: ip("8.8.4.4"), port: 3478)],
            localAddresses: [ip("192.168.1.1")],
            protectedPorts: [9100, 8080, 9100, 22])
        XCTAssertEqual(policy.protectedPorts, [22, 8080, 9100])
        XCTAssertEqual(verdict(policy, "192.168.1.1", port: 9100), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "::ffff:192.168.1.1", port: 22), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "8.8.4.4", port: 8080), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "127.0.0.1", port: 9100), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "127.1.2.3", port: 22), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "::1", port: 22), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "127.0.0.1", port: 5000), .allowed)  // operator allowed loopback
        XCTAssertEqual(verdict(policy, "192.168.1.1", port: 5000), .allowed)
        XCTAssertEqual(verdict(policy, "192.168.1.2", port: 9100), .allowed)  // another LAN host
        XCTAssertEqual(verdict(policy, "8.8.4.4", port: 5000), .allowed)
        XCTAssertEqual(verdict(policy, "0.0.0.0", port: 22), .denied(.protectedPort))
        XCTAssertEqual(verdict(policy, "192.168.1.1", port: 0), .allowed)  // permissions carry no port
    }

    func testTeredoNeedsExplicitAllowAndStillChecksEmbeddedAddresses() {
        let publicClient = "2001:0:4136:e378:8000:63bf:f7f7:f7f7"  // server 65.54.227.120, client 8.8.8.8:40000
        XCTAssertEqual(verdict(PeerPolicy(), publicClient), .denied(.teredo))

        let teredo = PeerPolicy(allowed: ranges("2001::/32"))
        XCTAssertEqual(verdict(teredo, publicClient), .allowed)
        XCTAssertEqual(verdict(teredo, "2001:0:4136:e378:8000:63bf:80ff:fffe"), .denied(.loopback))
        XCTAssertEqual(verdict(teredo, "2001:0:4136:e378:8000:63bf:f5ff:fffa"), .denied(.privateNetwork))
        XCTAssertEqual(verdict(teredo, "2001:0:a00:1:8000:63bf:f7f7:f7f7"), .denied(.privateNetwork))

        let lan = PeerPolicy(allowed: ranges("2001::/32", "10.0.0.0/8"))
        XCTAssertEqual(verdict(lan, "2001:0:4136:e378:8000:63bf:f5ff:fffa"), .allowed)

        let denyServer = PeerPolicy(allowed: ranges("2001::/32"), denied: ranges("65.54.227.120"))
        XCTAssertEqual(verdict(denyServer, publicClient), .denied(.operatorDenied))

        // The client port is de-obfuscated: ~0x63bf == 40000.
        let relay = PeerPolicy(
            allowed: ranges("2001::/32"), relayAddresses: [TransportAddress(ip: ip("8.8.8.8"), port: 40000)])
        XCTAssertEqual(verdict(relay, publicClient, port: 1), .denied(.relayAddress))
        XCTAssertEqual(verdict(relay, "2001:0:4136:e378:8000:63be:f7f7:f7f7", port: 1), .allowed)
    }

    func testOpaqueNAT64LocalUseNeedsExplicitAllow() {
        let text = "64:ff9b:1:ab00::808:808"
        XCTAssertEqual(verdict(PeerPolicy(), text), .denied(.nat64LocalUse))
        XCTAssertEqual(verdict(PeerPolicy(allowed: ranges("64:ff9b:1::/48")), text), .allowed)
        XCTAssertEqual(
            verdict(PeerPolicy(allowed: ranges("64:ff9b:1::/48"), denied: ranges("64:ff9b:1:ab00::/56")), text),
            .denied(.operatorDenied))
        // The /96 layout is judged by its IPv4 address even when the whole /48 is allowed.
        XCTAssertEqual(verdict(PeerPolicy(allowed: ranges("64:ff9b:1::/48")), "64:ff9b:1::a00:5"),
                       .denied(.privateNetwork))
    }

    func testOperatorCanAdmitDefaultDeniedIPv6() {
        let policy = PeerPolicy(allowed: ranges("fd00:1234::/32"))
        XCTAssertEqual(verdict(policy, "fd00:1234::9"), .allowed)
        XCTAssertEqual(verdict(policy, "fd00:1235::9"), .denied(.uniqueLocal))
    }
}
