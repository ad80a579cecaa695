import STUN
import XCTest

final class ParseErrorTests: XCTestCase {
    private let minimal = hex("00 01 00 00 21 12 a4 42 00 01 02 03 04 05 06 07 08 09 0a 0b")

    func testMinimalMessageParses() throws {
        XCTAssertNil(parseError(minimal))
        try withMessage(minimal) { message in
            XCTAssertEqual(message.type, .bindingRequest)
            XCTAssertEqual(Array(message.attributes).count, 0)
            XCTAssertNil(message.verifyFingerprint())
        }
    }

    func testTruncatedHeader() {
        XCTAssertEqual(parseError([]), .truncatedHeader)
        XCTAssertEqual(parseError(Array(minimal[0..<19])), .truncatedHeader)
        XCTAssertEqual(minimal.raw { raw -> StunParseError? in
            do throws(StunParseError) { _ = try StunMessageView.peekHeader(UnsafeRawBufferPointer(rebasing: raw[0..<10])); return nil } catch { return error }
        }, .truncatedHeader)
    }

    func testTopBitsMustBeZero() {
        for first: UInt8 in [0x40, 0x80, 0xC0] {
            var bytes = minimal
            bytes[0] = first
            XCTAssertEqual(parseError(bytes), .notStun)
        }
    }

    func testLengthNotMultipleOf4() {
        var bytes = minimal + [1, 2, 3, 4, 5]
        bytes[3] = 5
        XCTAssertEqual(parseError(bytes), .lengthNotMultipleOf4)
    }

    func testLengthMismatch() {
        var short = minimal
        short[3] = 4
        XCTAssertEqual(parseError(short), .lengthMismatch)
        XCTAssertEqual(parseError(minimal + [0, 0, 0, 0]), .lengthMismatch)
    }

    func testAttributeOverrun() {
        // A PRIORITY header claiming 8 value bytes where only 4 remain.
        var bytes = minimal + hex("00 24 00 08 00 00 00 01")
        bytes[3] = 8
        XCTAssertEqual(parseError(bytes), .truncatedAttribute)
        // A value length of 0xFFFF.
        bytes[22] = 0xFF
        bytes[23] = 0xFF
        XCTAssertEqual(parseError(bytes), .truncatedAttribute)
    }

    func testBadPaddingAtEnd() {
        // A 5-byte USERNAME at the end without its 3 padding bytes: the length field cannot be
        // a multiple of four.
        var unpadded = minimal + hex("00 06 00 05 61 62 63 64 65")
        unpadded[3] = 9
        XCTAssertEqual(parseError(unpadded), .lengthNotMultipleOf4)
        // The same attribute with only 2 of its 3 padding bytes, made 4-aligned by dropping the
        // last value byte from the datagram: the value now overruns.
        var short = minimal + hex("00 06 00 05 61 62 63 64")
        short[3] = 8
        XCTAssertEqual(parseError(short), .truncatedAttribute)
        // Correctly padded (with non-zero padding, which receivers must ignore) parses.
        var padded = minimal + hex("00 06 00 05 61 62 63 64 65 ff ff ff")
        padded[3] = 12
        XCTAssertNil(parseError(padded))
    }

    func testFingerprintMustBeLast() throws {
        var bytes = try buildMessage { b in try b.appendFingerprint() }
        bytes += hex("00 24 00 04 00 00 00 01")
        bytes[3] += 8
        XCTAssertEqual(parseError(bytes), .attributeAfterFingerprint)
    }

    func testFingerprintLengthMustBeFour() {
        var bytes = minimal + hex("80 28 00 08 00 00 00 00 00 00 00 00")
        bytes[3] = 12
        XCTAssertEqual(parseError(bytes), .invalidFingerprintLength)
    }

    func testWrongFingerprint() throws {
        var bytes = try buildMessage { b in
            try b.appendUInt32(.priority, 7)
            try b.appendFingerprint()
        }
        try withMessage(bytes) { XCTAssertEqual($0.verifyFingerprint(), true) }
        bytes[bytes.count - 1] ^= 0x01
        try withMessage(bytes) { XCTAssertEqual($0.verifyFingerprint(), false) }
        bytes[bytes.count - 1] ^= 0x01
        bytes[25] ^= 0x80  // corrupt the covered PRIORITY value instead
        try withMessage(bytes) { XCTAssertEqual($0.verifyFingerprint(), false) }
    }

    func testWrongIntegrityKeyAndTampering() throws {
        let key: [UInt8] = Array("secret".utf8)
        var bytes = try buildMessage { b in
            try b.append(.username, utf8: "alice")
            try key.raw { try b.appendMessageIntegrity(key: $0) }
            try b.appendFingerprint()
        }
        try withMessage(bytes) { message in
            key.raw { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
            utf8("Secret") { XCTAssertFalse(message.verifyMessageIntegrity(key: $0)) }
            utf8("") { XCTAssertFalse(message.verifyMessageIntegrity(key: $0)) }
            XCTAssertFalse(key.raw { message.verifyMessageIntegritySHA256(key: $0) }, "absent")
        }
        bytes[25] ^= 0x20  // "alice" → "Alice"
        try withMessage(bytes) { message in
            key.raw { XCTAssertFalse(message.verifyMessageIntegrity(key: $0)) }
        }
    }

    func testIntegrityKeyLongerThanBlockIsHashed() throws {
        let key = [UInt8](repeating: 0x5A, count: 100)
        let bytes = try buildMessage { b in
            try key.raw { try b.appendMessageIntegrity(key: $0) }
            try key.raw { try b.appendMessageIntegritySHA256(key: $0) }
        }
        try withMessage(bytes) { message in
            key.raw { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
            key.raw { XCTAssertTrue(message.verifyMessageIntegritySHA256(key: $0)) }
        }
    }

    func testIntegrityWithWrongValueLengthFails() throws {
        // A MESSAGE-INTEGRITY whose value is 16 bytes instead of 20.
        var bytes = minimal + hex("00 08 00 10") + [UInt8](repeating: 0, count: 16)
        bytes[3] = 20
        try withMessage(bytes) { message in
            utf8("k") { XCTAssertFalse(message.verifyMessageIntegrity(key: $0)) }
        }
    }

    func testMessageIntegritySHA256TruncationRules() throws {
        let key: [UInt8] = Array("key".utf8)
        for length in [16, 20, 24, 28, 32] {
            let bytes = try buildMessage { b in try key.raw { try b.appendMessageIntegritySHA256(key: $0, length: length) } }
            XCTAssertEqual(bytes.count, 20 + 4 + length)
            try withMessage(bytes) { message in
                key.raw { XCTAssertTrue(message.verifyMessageIntegritySHA256(key: $0), "length \(length)") }
                utf8("kex") { XCTAssertFalse(message.verifyMessageIntegritySHA256(key: $0)) }
            }
        }
        for length in [0, 12, 18, 30, 36] {
            XCTAssertThrowsError(try buildMessage { b in
                try key.raw { try b.appendMessageIntegritySHA256(key: $0, length: length) }
            }) { XCTAssertEqual($0 as? StunBuildError, .invalidTruncation) }
        }
        // Received values of a forbidden length are rejected even if they are a prefix of the MAC.
        let full = try buildMessage { b in try key.raw { try b.appendMessageIntegritySHA256(key: $0, length: 32) } }
        for length in [12, 14, 18, 36] {
            var bytes = Array(full[0..<20]) + [0x00, 0x1C, 0x00, UInt8(length)]
            bytes += Array(full[24..<min(full.count, 24 + length)])
            bytes += [UInt8](repeating: 0, count: (length + 3) / 4 * 4 - min(length, 32))
            bytes[3] = UInt8(bytes.count - 20)
            try withMessage(bytes) { message in
                key.raw { XCTAssertFalse(message.verifyMessageIntegritySHA256(key: $0), "length \(length)") }
            }
        }
    }

    func testAttributesAfterIntegrityAreExcluded() throws {
        // MESSAGE-INTEGRITY, then MESSAGE-INTEGRITY-SHA256 and FINGERPRINT: both MACs and the CRC verify.
        let key: [UInt8] = Array("pw".utf8)
        let bytes = try buildMessage { b in
            try b.append(.username, utf8: "u")
            try key.raw { try b.appendMessageIntegrity(key: $0) }
            try key.raw { try b.appendMessageIntegritySHA256(key: $0) }
            try b.appendFingerprint()
        }
        try withMessage(bytes) { message in
            key.raw { XCTAssertTrue(message.verifyMessageIntegrity(key: $0)) }
            key.raw { XCTAssertTrue(message.verifyMessageIntegritySHA256(key: $0)) }
            XCTAssertEqual(message.verifyFingerprint(), true)
        }
    }

    func testRandomGarbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...96, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if count >= 4, Bool.random() {
                bytes[0] &= 0x3F
                bytes[2] = 0
                bytes[3] = UInt8(max(0, count - 20)) & ~3
            }
            bytes.withUnsafeBytes { raw in
                if let message = try? StunMessageView(raw) {
                    for attribute in message.attributes { _ = attribute.value.count }
                    _ = message.verifyFingerprint()
                    _ = message.xorAddress()
                    _ = message.address()
                    _ = message.errorCode
                    _ = message.unknownAttributes.map { Array($0) }
                    _ = message.passwordAlgorithms.map { Array($0) }
                    _ = message.evenPort
                    _ = message.channelNumber
                    _ = message.unknownComprehensionRequiredAttributes()
                }
            }
        }
    }
}
