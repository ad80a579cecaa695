import STUN
import TURN
import XCTest

/// Parsing and matching of coturn-style address range specs.
final class AddressRangeTests: XCTestCase {
    func testGoodSpecs() {
        let cases: [(String, String, String, String)] = [
            // spec, first, last, description
            ("10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5"),
            ("fe80::1", "fe80::1", "fe80::1", "fe80::1"),
            ("192.168.0.0/16", "192.168.0.0", "192.168.255.255", "192.168.0.0/16"),
            ("10.1.2.3/8", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"),
            ("1.2.3.4/32", "1.2.3.4", "1.2.3.4", "1.2.3.4"),
            ("2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"),
            ("::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"),
            ("2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64"),
            ("2001:db8::/65", "2001:db8::", "2001:db8::7fff:ffff:ffff:ffff", "2001:db8::/65"),
            ("2001:db8::/63", "2001:db8::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8::/63"),
            ("::1/128", "::1", "::1", "::1"),
            ("192.168.1.10-192.168.1.20", "192.168.1.10", "192.168.1.20", "192.168.1.10-192.168.1.20"),
            (" 192.168.1.10 - 192.168.1.20 ", "192.168.1.10", "192.168.1.20", "192.168.1.10-192.168.1.20"),
            ("10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255", "10.0.0.0/24"),
            ("10.0.0.7-10.0.0.7", "10.0.0.7", "10.0.0.7", "10.0.0.7"),
            ("fe80::1-fe80::ff", "fe80::1", "fe80::ff", "fe80::1-fe80::ff"),
            ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0", "::ffff:10.255.255.255", "::ffff:10.0.0.0/104"),
            ("\t172.16.0.0/12", "172.16.0.0", "172.31.255.255", "172.16.0.0/12"),
        ]
        for (spec, first, last, description) in cases {
            guard let range = AddressRange(spec) else {
                XCTFail("\(spec) rejected")
                continue
            }
            XCTAssertEqual(range.first, IPAddress(first), spec)
            XCTAssertEqual(range.last, IPAddress(last), spec)
            XCTAssertEqual(range.description, description, spec)
            XCTAssertEqual(AddressRange(range.description), range, "round trip of \(spec)")
        }
    }

    func testBadSpecs() {
        let bad = [
            "", " ", "garbage", "10.0.0", "10.0.0.256", "10.0.0.5/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
            "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/0x8", "10.0.0.0/1000", "2001:db8::/129", "2001:db8::/", "/8",
            "10.0.0.9-10.0.0.1", "10.0.0.1-", "-10.0.0.1", "10.0.0.1-::1", "::1-10.0.0.1", "fe80::ff-fe80::1",
            "fe80::1%eth0", "10.0.0.1-10.0.0.2-10.0.0.3", "10.0.0.0/8-10.0.0.1", "localhost", "010.0.0.1",
            "1.2.3.4 5.6.7.8", "2001:db8:::1", "::ffff:1.2.3.4.5",
        ]
        for spec in bad {
            XCTAssertNil(AddressRange(spec), "accepted \(spec)")
        }
    }

    func testExplicitInitialisers() {
        XCTAssertNil(AddressRange(first: .v4(2), last: .v4(1)))
        XCTAssertNil(AddressRange(first: .v4(1), last: .v6(0, 2)))
        XCTAssertNil(AddressRange(first: .v6(1, 0), last: .v6(0, UInt64.max)))
        XCTAssertNotNil(AddressRange(first: .v6(0, UInt64.max), last: .v6(1, 0)))
        XCTAssertNil(AddressRange(network: .v4(0), prefixLength: 33))
        XCTAssertNil(AddressRange(network: .v4(0), prefixLength: -1))
        XCTAssertNil(AddressRange(network: .v6(0, 0), prefixLength: 129))
        XCTAssertEqual(AddressRange(network: .v6(0, 0), prefixLength: 128)?.last, .v6(0, 0))
        XCTAssertEqual(AddressRange("10.0.0.0/8")?.prefixLength, 8)
        XCTAssertNil(AddressRange("10.0.0.1-10.0.0.2")?.prefixLength)
        XCTAssertEqual(AddressRange("fe80::/10")?.isIPv4, false)
        XCTAssertEqual(AddressRange("10.0.0.0/8")?.isIPv4, true)
    }

    func testContainsAtBoundaries() {
        let cases: [(String, [String], [String])] = [
            ("192.168.0.0/16", ["192.168.0.0", "192.168.77.1", "192.168.255.255"],
             ["192.167.255.255", "192.169.0.0", "::ffff:192.168.0.1", "c0a8::"]),
            ("192.168.1.10-192.168.1.20", ["192.168.1.10", "192.168.1.15", "192.168.1.20"],
             ["192.168.1.9", "192.168.1.21"]),
            ("10.0.0.5", ["10.0.0.5"], ["10.0.0.4", "10.0.0.6", "::10.0.0.5"]),
            ("0.0.0.0/0", ["0.0.0.0", "255.255.255.255"], ["::", "::ffff:1.2.3.4"]),
            ("2001:db8::/32", ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
             ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "32.1.13.184"]),
            ("fe80::1-fe80::1:0", ["fe80::1", "fe80::ffff", "fe80::1:0"], ["fe80::", "fe80::1:1"]),
            ("2001:db8:0:0:ffff:ffff:ffff:fff0-2001:db8:0:1::10",
             ["2001:db8::ffff:ffff:ffff:fff0", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::", "2001:db8:0:1::10"],
             ["2001:db8::ffff:ffff:ffff:ffef", "2001:db8:0:1::11"]),
            ("::/0", ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], ["0.0.0.0"]),
        ]
        for (spec, inside, outside) in cases {
            guard let range = AddressRange(spec) else {
                XCTFail("\(spec) rejected")
                continue
            }
            for text in inside {
                XCTAssertTrue(range.contains(IPAddress(text)!), "\(spec) should contain \(text)")
            }
            for text in outside {
                XCTAssertFalse(range.contains(IPAddress(text)!), "\(spec) should not contain \(text)")
            }
        }
    }

    func testHashableAndEquatable() {
        XCTAssertEqual(AddressRange("10.1.2.3/8"), AddressRange("10.0.0.0-10.255.255.255"))
        XCTAssertEqual(Set([AddressRange("10.0.0.0/8")!, AddressRange("10.0.0.0/8")!]).count, 1)
        XCTAssertNotEqual(AddressRange("10.0.0.0/8"), AddressRange("10.0.0.0/9"))
    }
}
