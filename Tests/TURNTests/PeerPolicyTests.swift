import STUN
import TURN
import XCTest

/// The default policy against a corpus of addresses: every built-in block at its edges, public
/// addresses, and every IPv4-in-IPv6 spelling that has been used to bypass relay filters.
final class PeerPolicyTests: XCTestCase {
    private static let allowed = PeerVerdict.allowed
    private static func denied(_ reason: PeerDenialReason) -> PeerVerdict { .denied(reason) }

    /// (address, expected verdict) under `PeerPolicy()`.
    static let corpus: [(String, PeerVerdict)] = [
        // Public addresses.
        ("8.8.8.8", allowed), ("1.1.1.1", allowed), ("9.9.9.9", allowed),
        ("2606:4700::1111", allowed), ("2001:4860:4860::8888", allowed), ("2a00:1450:4001:81b::200e", allowed),
        // 0.0.0.0/8
        ("0.0.0.0", denied(.unspecified)), ("0.255.255.255", denied(.unspecified)), ("1.0.0.0", allowed),
        // 10.0.0.0/8
        ("9.255.255.255", allowed), ("10.0.0.0", denied(.privateNetwork)),
        ("10.255.255.255", denied(.privateNetwork)), ("11.0.0.0", allowed),
        // 100.64.0.0/10
        ("100.63.255.255", allowed), ("100.64.0.0", denied(.sharedAddressSpace)),
        ("100.127.255.255", denied(.sharedAddressSpace)), ("100.128.0.0", allowed),
        // 127.0.0.0/8
        ("126.255.255.255", allowed), ("127.0.0.0", denied(.loopback)), ("127.0.0.1", denied(.loopback)),
        ("127.255.255.255", denied(.loopback)), ("128.0.0.0", allowed),
        // 169.254.0.0/16
        ("169.253.255.255", allowed), ("169.254.0.0", denied(.linkLocal)), ("169.254.169.254", denied(.linkLocal)),
        ("169.254.255.255", denied(.linkLocal)), ("169.255.0.0", allowed),
        // 172.16.0.0/12
        ("172.15.255.255", allowed), ("172.16.0.0", denied(.privateNetwork)),
        ("172.31.255.255", denied(.privateNetwork)), ("172.32.0.0", allowed),
        // 192.0.0.0/24, 192.0.2.0/24
        ("191.255.255.255", allowed), ("192.0.0.0", denied(.ietfProtocolAssignments)),
        ("192.0.0.10", denied(.ietfProtocolAssignments)), ("192.0.0.255", denied(.ietfProtocolAssignments)),
        ("192.0.1.0", allowed), ("192.0.2.0", denied(.documentation)), ("192.0.2.255", denied(.documentation)),
        ("192.0.3.0", allowed),
        // 192.88.99.0/24
        ("192.88.98.255", allowed), ("192.88.99.0", denied(.reserved)), ("192.88.99.255", denied(.reserved)),
        ("192.88.100.0", allowed),
        // 192.168.0.0/16
        ("192.167.255.255", allowed), ("192.168.0.0", denied(.privateNetwork)),
        ("192.168.255.255", denied(.privateNetwork)), ("192.169.0.0", allowed),
        // 198.18.0.0/15
        ("198.17.255.255", allowed), ("198.18.0.0", denied(.benchmarking)), ("198.19.255.255", denied(.benchmarking)),
        ("198.20.0.0", allowed),
        // 198.51.100.0/24, 203.0.113.0/24
        ("198.51.99.255", allowed), ("198.51.100.0", denied(.documentation)),
        ("198.51.100.255", denied(.documentation)), ("198.51.101.0", allowed),
        ("203.0.112.255", allowed), ("203.0.113.0", denied(.documentation)),
        ("203.0.113.255", denied(.documentation)), ("203.0.114.0", allowed),
        // 224.0.0.0/4, 240.0.0.0/4, 255.255.255.255
        ("223.255.255.255", allowed), ("224.0.0.0", denied(.multicast)), ("239.255.255.255", denied(.multicast)),
        ("240.0.0.0", denied(.reserved)), ("255.255.255.254", denied(.reserved)),
        ("255.255.255.255", denied(.broadcast)),
        // IPv6 ::/128, ::1/128, 100::/64
        ("::", denied(.unspecified)), ("::1", denied(.loopback)),
        ("100::", denied(.discardOnly)), ("100::ffff:ffff:ffff:ffff", denied(.discardOnly)),
        ("100:0:0:1::", denied(.reserved)),
        // 2001::/23 and its carve-outs
        ("2001:1::1", denied(.ietfProtocolAssignments)), ("2001:1::2", denied(.ietfProtocolAssignments)),
        ("2001:2::", denied(.benchmarking)), ("2001:2:0:ffff:ffff:ffff:ffff:ffff", denied(.benchmarking)),
        ("2001:2:1::", denied(.ietfProtocolAssignments)), ("2001:3::1", allowed), ("2001:4:112::1", allowed),
        ("2001:20::1", allowed), ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.ietfProtocolAssignments)),
        ("2001:200::", allowed),
        // 2001:db8::/32, 3fff::/20
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", allowed), ("2001:db8::", denied(.documentation)),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", denied(.documentation)), ("2001:db9::", allowed),
        ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", allowed), ("3fff::", denied(.documentation)),
        ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.documentation)), ("3fff:1000::", allowed),
        // fc00::/7, fe80::/10, fec0::/10, ff00::/8
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.reserved)), ("fc00::", denied(.uniqueLocal)),
        ("fd12:3456::1", denied(.uniqueLocal)), ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.uniqueLocal)),
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.reserved)), ("fe80::", denied(.linkLocal)),
        ("fe80::1", denied(.linkLocal)), ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.linkLocal)),
        ("fec0::", denied(.siteLocal)), ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.siteLocal)),
        ("ff00::", denied(.multicast)), ("ff02::1", denied(.multicast)),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.multicast)),
        // Outside global unicast 2000::/3.
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", denied(.reserved)), ("2000::", allowed),
        ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", allowed), ("4000::", denied(.reserved)),
        ("5f00::1", denied(.reserved)), ("::1:0:0:1", denied(.reserved)),
        // IPv4-mapped ::ffff:0:0/96.
        ("::ffff:127.0.0.1", denied(.loopback)), ("::ffff:0.0.0.0", denied(.unspecified)),
        ("::ffff:10.0.0.5", denied(.privateNetwork)), ("::ffff:169.254.169.254", denied(.linkLocal)),
        ("::ffff:255.255.255.255", denied(.broadcast)), ("::ffff:8.8.8.8", allowed),
        // IPv4-compatible ::/96 (deprecated).
        ("::127.0.0.1", denied(.loopback)), ("::10.0.0.5", denied(.privateNetwork)),
        ("::0.0.0.2", denied(.unspecified)), ("::8.8.8.8", allowed),
        // SIIT ::ffff:0:0:0/96.
        ("::ffff:0:127.0.0.1", denied(.loopback)), ("::ffff:0:10.0.0.5", denied(.privateNetwork)),
        ("::ffff:0:8.8.8.8", allowed),
        // 6to4 2002::/16.
        ("2002:7f00:1::", denied(.loopback)), ("2002:0a00:0005::1", denied(.privateNetwork)),
        ("2002:c0a8:0101:1::1", denied(.privateNetwork)), ("2002:c000:0201::", denied(.documentation)),
        ("2002:0808:0808::1", allowed),
        // NAT64 64:ff9b::/96 and 64:ff9b:1::/48.
        ("64:ff9b::7f00:1", denied(.loopback)), ("64:ff9b::a00:5", denied(.privateNetwork)),
        ("64:ff9b::a9fe:a9fe", denied(.linkLocal)), ("64:ff9b::808:808", allowed),
        ("64:ff9b:0:0:1::808:808", denied(.reserved)),
        ("64:ff9b:1::a00:5", denied(.privateNetwork)), ("64:ff9b:1::7f00:1", denied(.loopback)),
        ("64:ff9b:1::808:808", allowed), ("64:ff9b:1:ab00::808:808", denied(.nat64LocalUse)),
        // Teredo 2001::/32 (server 65.54.227.120, client port 40000): embedded loopback/private
        // client or private server is denied as such; otherwise Teredo itself is denied.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", denied(.loopback)),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffa", denied(.privateNetwork)),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", denied(.documentation)),
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", denied(.privateNetwork)),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", denied(.teredo)),
        // ISATAP interface identifiers.
        ("fe80::5efe:808:808", denied(.linkLocal)), ("2001:4860:1:2:0:5efe:a00:5", denied(.privateNetwork)),
        ("2001:4860:1:2:200:5efe:7f00:1", denied(.loopback)), ("2001:4860:1:2:200:5efe:808:808", allowed),
    ]

    func testDefaultPolicyCorpus() {
        let policy = PeerPolicy()
        for (text, expected) in Self.corpus {
            guard let ip = IPAddress(text) else {
                XCTFail("corpus address \(text) does not parse")
                continue
            }
            XCTAssertEqual(policy.evaluate(ip, port: 3478), expected, "\(text)")
            XCTAssertEqual(policy.evaluate(TransportAddress(ip: ip, port: 0)), expected, "\(text) port 0")
        }
    }

    /// Every built-in rule holds at its first and last address: denied (or, for a carve-out,
    /// allowed) with the reason of the first rule of the table that covers the edge.
    func testEveryDefaultRuleAppliesAtItsEdges() {
        let policy = PeerPolicy()
        for table in [PeerPolicy.defaultIPv4Rules, PeerPolicy.defaultIPv6Rules] {
            for rule in table {
                for edge in [rule.range.first, rule.range.last] {
                    let verdict = policy.evaluate(edge, port: 1)
                    if case .v6(let high, let low) = edge, high >> 32 == 0x2001_0000 || (high == 0 && low > 1) {
                        // Teredo and ::a.b.c.d edges are normalised first; they must still be denied.
                        XCTAssertFalse(verdict.isAllowed, "\(rule) at \(edge)")
                        continue
                    }
                    guard let owner = table.first(where: { $0.range.contains(edge) }) else {
                        XCTFail("\(edge) not covered by its own table")
                        continue
                    }
                    XCTAssertEqual(verdict, owner.denial.map(PeerVerdict.denied) ?? .allowed, "\(rule) at \(edge)")
                    XCTAssertEqual(verdict.isAllowed, rule.denial == nil, "\(rule) at \(edge)")
                }
            }
        }
    }

    func testMappedSpellingsAgreeWithIPv4ForEveryDefaultEdge() {
        let policy = PeerPolicy()
        for rule in PeerPolicy.defaultIPv4Rules {
            for case .v4(let value) in [rule.range.first, rule.range.last] {
                let plain = policy.evaluate(.v4(value), port: 80)
                let low = UInt64(value)
                XCTAssertEqual(policy.evaluate(.v6(0, 0xFFFF_0000_0000 | low), port: 80), plain, "mapped \(rule)")
                XCTAssertEqual(policy.evaluate(.v6(0, 0xFFFF_0000_0000_0000 | low), port: 80), plain, "SIIT \(rule)")
                XCTAssertEqual(policy.evaluate(.v6(0x0064_FF9B_0000_0000, low), port: 80), plain, "NAT64 \(rule)")
                XCTAssertEqual(policy.evaluate(.v6(0x2002_0000_0000_0000 | low << 16, 1), port: 80), plain, "6to4 \(rule)")
                if value > 1 {
                    XCTAssertEqual(policy.evaluate(.v6(0, low), port: 80), plain, "compatible \(rule)")
                }
            }
        }
    }

    func testLabelsAreSnakeCaseAndUnique() {
        let labels = PeerDenialReason.allCases.map(\.label)
        XCTAssertEqual(Set(labels).count, labels.count)
        for label in labels {
            XCTAssertTrue(label.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }, label)
        }
        XCTAssertEqual(PeerDenialReason.sharedAddressSpace.label, "shared_address_space")
        XCTAssertEqual(PeerVerdict.denied(.loopback).description, "denied(loopback)")
        XCTAssertEqual(PeerVerdict.allowed.description, "allowed")
    }
}
