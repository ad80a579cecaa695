import STUN
import XCTest

final class AddressTests: XCTestCase {
    func testIPAddressParsingAndDescription() {
        XCTAssertEqual(IPAddress("127.0.0.1"), .v4(0x7F00_0001))
        XCTAssertEqual(IPAddress("::1"), .v6(0, 1))
        XCTAssertEqual(IPAddress("2001:db8::1"), .v6(0x2001_0db8_0000_0000, 1))
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1"), .v6(0, 0x0000_ffff_c000_0201))
        XCTAssertNil(IPAddress("256.0.0.1"))
        XCTAssertNil(IPAddress("example.org"))
        XCTAssertNil(IPAddress(""))
        for text in ["0.0.0.0", "192.0.2.1", "255.255.255.255", "::", "::1", "2001:db8:1234:5678:11:2233:4455:6677",
                     "fe80::1", "::ffff:192.0.2.1"] {
            XCTAssertEqual(IPAddress(text)?.description, text)
        }
        XCTAssertTrue(IPAddress("::ffff:192.0.2.1")!.isIPv4MappedIPv6)
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1")!.unmapped, IPAddress("192.0.2.1"))
        XCTAssertFalse(IPAddress("::1")!.isIPv4MappedIPv6)
        XCTAssertEqual(IPAddress("::1")!.unmapped, IPAddress("::1"))
    }

    func testTransportAddressDescription() {
        XCTAssertEqual(TransportAddress(ip: .v4(0x0102_0304), port: 5).description, "1.2.3.4:5")
        XCTAssertEqual(TransportAddress(ip: .v6(0, 1), port: 5).description, "[::1]:5")
    }

    func testXorAndPlainRoundTrips() throws {
        let addresses = [sourceV4, sourceV6,
                         TransportAddress(ip: IPAddress("0.0.0.0")!, port: 0),
                         TransportAddress(ip: IPAddress("255.255.255.255")!, port: 65535),
                         TransportAddress(ip: IPAddress("::")!, port: 1),
                         TransportAddress(ip: IPAddress("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")!, port: 65535)]
        for address in addresses {
            for _ in 0..<8 {
                let txid = TransactionID.random()
                let bytes = try buildMessage(type: .bindingSuccess, transactionID: txid) { b in
                    try b.appendXorAddress(.xorMappedAddress, address)
                    try b.appendXorAddress(.xorPeerAddress, address)
                    try b.appendXorAddress(.xorRelayedAddress, address)
                    try b.appendAddress(.mappedAddress, address)
                    try b.appendAddress(.alternateServer, address)
                    try b.appendAddress(.responseOrigin, address)
                    try b.appendAddress(.otherAddress, address)
                }
                try withMessage(bytes) { message in
                    XCTAssertEqual(message.xorAddress(.xorMappedAddress), address)
                    XCTAssertEqual(message.xorAddress(.xorPeerAddress), address)
                    XCTAssertEqual(message.xorAddress(.xorRelayedAddress), address)
                    XCTAssertEqual(message.address(.mappedAddress), address)
                    XCTAssertEqual(message.address(.alternateServer), address)
                    XCTAssertEqual(message.address(.responseOrigin), address)
                    XCTAssertEqual(message.address(.otherAddress), address)
                }
            }
        }
    }

    func testExactXorEncodingFromRFC5769() throws {
        let v4 = try buildMessage(type: .bindingSuccess, transactionID: rfc5769TransactionID) { b in
            try b.appendXorAddress(.xorMappedAddress, sourceV4)
        }
        XCTAssertEqual(Array(v4[20...]), hex("00 20 00 08 00 01 a1 47 e1 12 a6 43"))
        let v6 = try buildMessage(type: .bindingSuccess, transactionID: rfc5769TransactionID) { b in
            try b.appendXorAddress(.xorMappedAddress, sourceV6)
        }
        XCTAssertEqual(Array(v6[20...]), hex("00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"))
    }

    func testMalformedAddressValuesAreNil() throws {
        let cases = [
            "00 01 00 00",                                   // too short
            "00 01 12 34 01 02 03",                           // IPv4 with 3 address bytes
            "00 01 12 34 01 02 03 04 05 06 07 08",            // IPv4 family with IPv6 length
            "00 02 12 34 01 02 03 04",                        // IPv6 family with IPv4 length
            "00 03 12 34 01 02 03 04",                        // unknown family
        ]
        for value in cases {
            let bytes = try hex(value).raw { raw in
                try buildMessage { b in
                    try b.append(.xorMappedAddress, bytes: raw)
                    try b.append(.mappedAddress, bytes: raw)
                }
            }
            try withMessage(bytes) { message in
                XCTAssertNil(message.xorAddress(), value)
                XCTAssertNil(message.address(), value)
            }
        }
    }

    func testBuilderMasksTheFamilyByteNotTheReservedByte() throws {
        let bytes = try buildMessage { b in try b.appendXorAddress(.xorMappedAddress, sourceV6) }
        XCTAssertEqual(bytes[24], 0)
        XCTAssertEqual(bytes[25], 2)
    }

    func testTransactionIDBytesAndRandomness() {
        let raw = hex("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")
        XCTAssertEqual(raw.raw { TransactionID(bytes: $0) }, rfc5769TransactionID)
        XCTAssertEqual(rfc5769TransactionID.description, "b7e7a701bc34d686fa87dfae")
        let ids = Set((0..<1000).map { _ in TransactionID.random() })
        XCTAssertEqual(ids.count, 1000)
    }
}
