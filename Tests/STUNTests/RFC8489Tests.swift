import STUN
import XCTest

// RFC 8489 Appendix B.1 "Sample Request with Long-Term Authentication with
// MESSAGE-INTEGRITY-SHA256 and USERHASH", with verified erratum 6268 applied
// (https://www.rfc-editor.org/errata/eid6268). As published, the vector's length field is
// 0x9c, the size of the whole message rather than of the body; it has no
// PASSWORD-ALGORITHM although its key uses SHA-256 (not the MD5 default); and its
// MESSAGE-INTEGRITY-SHA256 value does not match. The erratum sets the length to 0x90, adds
// PASSWORD-ALGORITHM (SHA-256, 0x0002, no parameters) before MESSAGE-INTEGRITY-SHA256 and
// gives the recomputed HMAC. Bytes: the erratum's "It should say" text, found with the search
// tool (find_string "eid6268"); the RFC's original text was read alongside for comparison.
let rfc8489B1Request = hex("""
    00 01 00 90 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
    00 1e 00 20 4a 3c f3 8f ef 69 92 bd a9 52 c6 78 04 17 da 0f 24 81 94 15 56 9e 60 b2 05 c4 6e 41 40 7f 17 04
    00 15 00 29 6f 62 4d 61 74 4a 6f 73 32 41 41 41 43 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33
                34 6f 4c 39 46 53 54 76 79 36 34 73 41 00 00 00
    00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
    00 1d 00 04 00 02 00 00
    00 1c 00 20 b5 c7 bf 00 5b 6c 52 a2 1c 51 c5 e8 92 f8 19 24 13 62 96 cb 92 7c 43 14 93 09 27 8c c6 51 8e 65
    """)

let rfc8489Nonce = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"
let rfc8489TransactionID = TransactionID(high: 0x78ad_3433, low: 0xc6ad_72c0_29da_412e)

final class RFC8489Tests: XCTestCase {
    func testUserhashMatchesVector() throws {
        let userhash = LongTermKey.userhash(username: matrixUsername, realm: "example.org")
        try withMessage(rfc8489B1Request) { message in
            XCTAssertEqual(bytes(message.userhash), userhash)
        }
    }

    func testB1ParsesAndVerifiesWithSHA256Key() throws {
        let key = LongTermKey.sha256(username: matrixUsername, realm: "example.org", password: "TheMatrIX")
        XCTAssertEqual(key.count, 32)
        try withMessage(rfc8489B1Request) { message in
            XCTAssertEqual(message.type, .bindingRequest)
            XCTAssertEqual(message.transactionID, rfc8489TransactionID)
            XCTAssertEqual(bytes(message.nonce), Array(rfc8489Nonce.utf8))
            XCTAssertEqual(bytes(message.realm), Array("example.org".utf8))
            XCTAssertEqual(message.passwordAlgorithm?.algorithm, 2)
            XCTAssertEqual(message.passwordAlgorithm?.parameters.count, 0)
            key.raw { XCTAssertTrue(message.verifyMessageIntegritySHA256(key: $0)) }
            let md5Key = LongTermKey.md5(username: matrixUsername, realm: "example.org", password: "TheMatrIX")
            md5Key.raw { XCTAssertFalse(message.verifyMessageIntegritySHA256(key: $0)) }
            XCTAssertFalse(key.raw { message.verifyMessageIntegrity(key: $0) }, "no SHA-1 MESSAGE-INTEGRITY present")
        }
    }

    func testB1RebuildByteForByte() throws {
        let key = LongTermKey.sha256(username: matrixUsername, realm: "example.org", password: "TheMatrIX")
        let userhash = LongTermKey.userhash(username: matrixUsername, realm: "example.org")
        let rebuilt = try buildMessage(transactionID: rfc8489TransactionID) { b in
            try userhash.raw { try b.append(.userhash, bytes: $0) }
            try utf8(rfc8489Nonce) { try b.append(.nonce, bytes: $0) }
            try b.append(.realm, utf8: "example.org")
            try [0x00, 0x02, 0x00, 0x00].raw { try b.append(.passwordAlgorithm, bytes: $0) }
            try key.raw { try b.appendMessageIntegritySHA256(key: $0) }
        }
        XCTAssertEqual(rebuilt, rfc8489B1Request)
    }

    func testPublishedB1LengthFieldIsRejected() {
        // The unpatched vector's 0x9c length does not match its size: a parse error.
        var published = rfc8489B1Request
        published[3] = 0x9c
        XCTAssertEqual(parseError(published), .lengthMismatch)
    }
}
