import STUN
import XCTest

// RFC 5769 "Test Vectors for STUN" (April 2010), §2.1–§2.4. The bytes below were taken from the
// RFC text as quoted in several public repositories (found with the search tool's find_string
// on "b7 e7 a7 01 bc 34 d6 86 fa 87 df ae" and on the §2.4 title; all copies agree), and are
// self-checking: their MESSAGE-INTEGRITY and FINGERPRINT values verify below. Padding of
// USERNAME/SOFTWARE in §2.1–2.3 is 0x20 in the RFC on purpose (RFC 5389 allowed any value).

let rfc5769Request = hex("""
    00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
    00 24 00 04 6e 00 01 ff
    80 29 00 08 93 2f f9 b1 51 26 3b 36
    00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
    00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
    80 28 00 04 e5 7a 3b cf
    """)

let rfc5769IPv4Response = hex("""
    01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96
    """)

let rfc5769IPv6Response = hex("""
    01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
    00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
    80 28 00 04 c8 fb 0b 4c
    """)

let rfc5769LongTermRequest = hex("""
    00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
    00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
    00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
    00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
    00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66
    """)

let shortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt"
/// "マトリックス" (U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9).
let matrixUsername = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}"

final class RFC5769Tests: XCTestCase {
    func testSampleRequestParsesAndVerifies() throws {
        try withMessage(rfc5769Request) { message in
            XCTAssertEqual(message.type, .bindingRequest)
            XCTAssertTrue(message.hasMagicCookie)
            XCTAssertEqual(message.transactionID, rfc5769TransactionID)
            XCTAssertEqual(bytes(message.software), Array("STUN test client".utf8))
            XCTAssertEqual(message.priority, 0x6e00_01ff)
            XCTAssertEqual(message.uint64(.iceControlled), 0x932f_f9b1_5126_3b36)
            XCTAssertEqual(bytes(message.username), Array("evtj:h6vY".utf8))
            XCTAssertEqual(message.attributes.map(\.type),
                           [.software, .priority, .iceControlled, .username, .messageIntegrity, .fingerprint])
            XCTAssertEqual(message.verifyFingerprint(), true)
            utf8(shortTermPassword) { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
            utf8("VOkJxbRl1RmTxUk/WvJxBT") { XCTAssertFalse(message.verifyMessageIntegrity(key: $0)) }
            XCTAssertTrue(message.unknownComprehensionRequiredAttributes().isEmpty)
        }
    }

    func testIPv4ResponseParsesAndVerifies() throws {
        try withMessage(rfc5769IPv4Response) { message in
            XCTAssertEqual(message.type, .bindingSuccess)
            XCTAssertEqual(message.transactionID, rfc5769TransactionID)
            XCTAssertEqual(message.xorAddress(), sourceV4)
            XCTAssertEqual(message.xorAddress()?.description, "192.0.2.1:32853")
            XCTAssertEqual(bytes(message.software), Array("test vector".utf8))
            XCTAssertEqual(message.verifyFingerprint(), true)
            utf8(shortTermPassword) { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
        }
    }

    func testIPv6ResponseParsesAndVerifies() throws {
        try withMessage(rfc5769IPv6Response) { message in
            XCTAssertEqual(message.type, .bindingSuccess)
            XCTAssertEqual(message.xorAddress(), sourceV6)
            XCTAssertEqual(message.xorAddress()?.description, "[2001:db8:1234:5678:11:2233:4455:6677]:32853")
            XCTAssertEqual(message.verifyFingerprint(), true)
            utf8(shortTermPassword) { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
        }
    }

    func testLongTermRequestParsesAndVerifies() throws {
        let key = LongTermKey.md5(username: matrixUsername, realm: "example.org", password: "TheMatrIX")
        XCTAssertEqual(key.count, 16)
        try withMessage(rfc5769LongTermRequest) { message in
            XCTAssertEqual(message.type, .bindingRequest)
            XCTAssertEqual(message.transactionID, TransactionID(high: 0x78ad_3433, low: 0xc6ad_72c0_29da_412e))
            XCTAssertEqual(bytes(message.username), Array(matrixUsername.utf8))
            XCTAssertEqual(bytes(message.nonce), Array("f//499k954d6OL34oL9FSTvy64sA".utf8))
            XCTAssertEqual(bytes(message.realm), Array("example.org".utf8))
            XCTAssertNil(message.verifyFingerprint())
            key.raw { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
            let unprepared = LongTermKey.md5(username: matrixUsername, realm: "example.org",
                                             password: "The\u{00AD}M\u{00AA}tr\u{2168}")
            unprepared.raw { XCTAssertFalse(message.verifyMessageIntegrity(key: $0)) }
        }
    }

    /// Overwrites the zero padding the builder wrote for the last attribute with 0x20, as the
    /// RFC's vectors have it (the buffer is caller-owned, so this is legitimate).
    private func padWithSpaces(_ builder: StunMessageBuilder, valueLength: Int, in raw: UnsafeMutableRawBufferPointer) {
        let end = builder.count
        for index in (end - (stunPad(valueLength) - valueLength))..<end { raw[index] = 0x20 }
    }

    private func stunPad(_ length: Int) -> Int { (length + 3) & ~3 }

    func testRebuildSampleRequestByteForByte() throws {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = try buffer.withUnsafeMutableBytes { raw -> Int in
            var builder = try StunMessageBuilder(into: raw, type: .bindingRequest, transactionID: rfc5769TransactionID)
            try builder.append(.software, utf8: "STUN test client")
            try builder.appendUInt32(.priority, 0x6e00_01ff)
            try builder.appendUInt64(.iceControlled, 0x932f_f9b1_5126_3b36)
            try utf8("evtj:h6vY") { try builder.append(.username, bytes: $0) }
            padWithSpaces(builder, valueLength: 9, in: raw)
            try utf8(shortTermPassword) { try builder.appendMessageIntegrity(key: $0) }
            try builder.appendFingerprint()
            return builder.count
        }
        XCTAssertEqual(Array(buffer[0..<count]), rfc5769Request)
    }

    func testRebuildResponsesByteForByte() throws {
        for (address, expected) in [(sourceV4, rfc5769IPv4Response), (sourceV6, rfc5769IPv6Response)] {
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = try buffer.withUnsafeMutableBytes { raw -> Int in
                var builder = try StunMessageBuilder(into: raw, type: .bindingSuccess, transactionID: rfc5769TransactionID)
                try builder.append(.software, utf8: "test vector")
                padWithSpaces(builder, valueLength: 11, in: raw)
                try builder.appendXorAddress(.xorMappedAddress, address)
                try utf8(shortTermPassword) { try builder.appendMessageIntegrity(key: $0) }
                try builder.appendFingerprint()
                return builder.count
            }
            XCTAssertEqual(Array(buffer[0..<count]), expected)
        }
    }

    func testRebuildLongTermRequestByteForByte() throws {
        let key = LongTermKey.md5(username: matrixUsername, realm: "example.org", password: "TheMatrIX")
        let rebuilt = try buildMessage(transactionID: TransactionID(high: 0x78ad_3433, low: 0xc6ad_72c0_29da_412e)) { b in
            try utf8(matrixUsername) { try b.append(.username, bytes: $0) }
            try utf8("f//499k954d6OL34oL9FSTvy64sA") { try b.append(.nonce, bytes: $0) }
            try b.append(.realm, utf8: "example.org")
            try key.raw { try b.appendMessageIntegrity(key: $0) }
        }
        XCTAssertEqual(rebuilt, rfc5769LongTermRequest)
    }
}
