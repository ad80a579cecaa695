import STUN
import XCTest

final class BuilderTests: XCTestCase {
    private let txid = TransactionID(high: 0x0102_0304, low: 0x0506_0708_090a_0b0c)

    /// Runs `append` on a builder whose buffer has room for exactly `room` bytes after the
    /// header; returns the error (or nil) and checks a failed append leaves the message intact.
    private func attempt(room: Int, _ append: (inout StunMessageBuilder) throws(StunBuildError) -> Void,
                         file: StaticString = #filePath, line: UInt = #line) -> StunBuildError? {
        var buffer = [UInt8](repeating: 0xEE, count: 20 + room)
        return buffer.withUnsafeMutableBytes { raw -> StunBuildError? in
            var builder: StunMessageBuilder
            do throws(StunBuildError) {
                builder = try StunMessageBuilder(into: raw, type: .bindingRequest, transactionID: txid)
            } catch {
                return error
            }
            do throws(StunBuildError) {
                try append(&builder)
                XCTAssertNil(parseError(Array(builder.bytes)), file: file, line: line)
                return nil
            } catch {
                // A failed append leaves what was written before it intact and valid.
                XCTAssertNil(parseError(Array(builder.bytes)), file: file, line: line)
                XCTAssertEqual(Int(raw[2]) << 8 | Int(raw[3]), builder.count - 20, file: file, line: line)
                return error
            }
        }
    }

    /// Asserts `append` needs exactly `size` bytes of room.
    private func assertNeeds(_ size: Int, _ append: (inout StunMessageBuilder) throws(StunBuildError) -> Void,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(attempt(room: size, append, file: file, line: line), file: file, line: line)
        XCTAssertEqual(attempt(room: size - 1, append, file: file, line: line), .bufferTooSmall, file: file, line: line)
        XCTAssertEqual(attempt(room: size - 1, { b throws(StunBuildError) in
            do throws(StunBuildError) { try append(&b) } catch {
                XCTAssertEqual(b.count, 20, "a failed append must not change the message", file: file, line: line)
                throw error
            }
        }, file: file, line: line), .bufferTooSmall, file: file, line: line)
        XCTAssertEqual(attempt(room: 0, append, file: file, line: line), .bufferTooSmall, file: file, line: line)
    }

    func testHeaderNeedsTwentyBytes() {
        var buffer = [UInt8](repeating: 0, count: 19)
        let error = buffer.withUnsafeMutableBytes { raw -> StunBuildError? in
            do throws(StunBuildError) {
                _ = try StunMessageBuilder(into: raw, type: .bindingRequest, transactionID: txid)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(error, .bufferTooSmall)
        XCTAssertNil(attempt(room: 0) { _ throws(StunBuildError) in })
    }

    func testEveryAppendReportsOverflow() {
        let five: [UInt8] = [1, 2, 3, 4, 5]
        five.withUnsafeBytes { five in
            assertNeeds(12) { b throws(StunBuildError) in try b.append(.username, bytes: five) }
        }
        assertNeeds(16) { b throws(StunBuildError) in try b.append(.software, utf8: "rtcgate 1.0") }
        assertNeeds(4) { b throws(StunBuildError) in try b.appendFlag(.dontFragment) }
        assertNeeds(12) { b throws(StunBuildError) in try b.appendXorAddress(.xorMappedAddress, sourceV4) }
        assertNeeds(24) { b throws(StunBuildError) in try b.appendXorAddress(.xorPeerAddress, sourceV6) }
        assertNeeds(12) { b throws(StunBuildError) in try b.appendAddress(.mappedAddress, sourceV4) }
        assertNeeds(24) { b throws(StunBuildError) in try b.appendAddress(.alternateServer, sourceV6) }
        assertNeeds(8) { b throws(StunBuildError) in try b.appendUInt32(.lifetime, 600) }
        assertNeeds(12) { b throws(StunBuildError) in try b.appendUInt64(.iceControlling, 42) }
        assertNeeds(28) { b throws(StunBuildError) in try b.appendErrorCode(420, reason: "Unknown Attribute") }
        [UInt8]("Bad".utf8).withUnsafeBytes { reason in
            assertNeeds(12) { b throws(StunBuildError) in try b.appendErrorCode(400, reasonBytes: reason) }
        }
        var list = UnknownAttributeList()
        list.insert(AttributeType(rawValue: 0x0003))
        list.insert(AttributeType(rawValue: 0x7777))
        list.insert(AttributeType(rawValue: 0x0027))
        assertNeeds(12) { b throws(StunBuildError) in try b.appendUnknownAttributes(list) }
        let types = [AttributeType(rawValue: 0x0003)]
        types.withUnsafeBufferPointer { types in
            assertNeeds(8) { b throws(StunBuildError) in try b.appendUnknownAttributes(types) }
        }
        [UInt8]("key".utf8).withUnsafeBytes { key in
            assertNeeds(24) { b throws(StunBuildError) in try b.appendMessageIntegrity(key: key) }
            assertNeeds(36) { b throws(StunBuildError) in try b.appendMessageIntegritySHA256(key: key) }
            assertNeeds(20) { b throws(StunBuildError) in try b.appendMessageIntegritySHA256(key: key, length: 16) }
        }
        assertNeeds(8) { b throws(StunBuildError) in try b.appendFingerprint() }
    }

    func testValueTooLong() {
        let big = [UInt8](repeating: 0x41, count: 0x10000)
        big.withUnsafeBytes { big in
            XCTAssertEqual(attempt(room: 0x20000) { b throws(StunBuildError) in try b.append(.data, bytes: big) }, .valueTooLong)
            // A value that fits alone but would push the body past 65535 bytes.
            let almost = UnsafeRawBufferPointer(rebasing: big[0..<0xFFF0])
            XCTAssertEqual(attempt(room: 0x20000) { b throws(StunBuildError) in
                try b.append(.data, bytes: almost)
                try b.append(.data, bytes: almost)
            }, .valueTooLong)
        }
    }

    func testInvalidErrorCodes() {
        for code in [0, 299, 700, 1000, -400] {
            XCTAssertEqual(attempt(room: 64) { b throws(StunBuildError) in try b.appendErrorCode(code, reason: "x") },
                           .invalidErrorCode)
        }
    }

    func testNothingAfterFingerprint() {
        XCTAssertEqual(attempt(room: 64) { b throws(StunBuildError) in
            try b.appendFingerprint()
            try b.appendUInt32(.priority, 1)
        }, .fingerprintAlreadyAppended)
    }

    func testHeaderLengthKeptCurrentAndPaddingZeroed() throws {
        let bytes = try buildMessage(transactionID: txid) { b in
            XCTAssertEqual(b.count, 20)
            try b.append(.username, utf8: "abcde")
            XCTAssertEqual(b.count, 32)
            XCTAssertEqual(Array(b.bytes[2..<4]), [0, 12])
            try b.appendFlag(.useCandidate)
            XCTAssertEqual(b.count, 36)
        }
        XCTAssertEqual(bytes, hex("""
            00 01 00 10 21 12 a4 42 01 02 03 04 05 06 07 08 09 0a 0b 0c
            00 06 00 05 61 62 63 64 65 00 00 00
            00 25 00 00
            """))
    }

    func testErrorCodeEncodingAndParsing() throws {
        for code in [300, 400, 401, 420, 438, 487, 500, 699] {
            let bytes = try buildMessage(type: .bindingError) { b in try b.appendErrorCode(code, reason: "Reason") }
            try withMessage(bytes) { message in
                XCTAssertEqual(message.errorCode?.code, code)
                XCTAssertEqual(message.errorCode.map { Array($0.reason) }, Array("Reason".utf8))
            }
        }
        XCTAssertEqual(Array(try buildMessage { b in try b.appendErrorCode(420, reason: "") }[24..<28]), [0, 0, 4, 20])
    }

    func testUnknownAttributesRoundTrip() throws {
        var list = UnknownAttributeList()
        for raw: UInt16 in [0x0003, 0x7777, 0x0003, 0x0027] { list.insert(AttributeType(rawValue: raw)) }
        XCTAssertEqual(list.count, 3, "duplicates are dropped")
        let bytes = try buildMessage(type: .bindingError) { b in try b.appendUnknownAttributes(list) }
        XCTAssertEqual(Array(bytes[20...]), hex("00 0a 00 06 00 03 77 77 00 27 00 00"))
        try withMessage(bytes) { message in
            XCTAssertEqual(message.unknownAttributes.map { Array($0) }, list.map { $0 })
        }
    }

    func testUnknownAttributeListCapacity() {
        var list = UnknownAttributeList()
        for raw in 0..<UInt16(20) { list.insert(AttributeType(rawValue: 0x4000 + raw)) }
        XCTAssertEqual(list.count, UnknownAttributeList.capacity)
        XCTAssertTrue(list.overflowed)
        XCTAssertEqual(list[0], AttributeType(rawValue: 0x4000))
        XCTAssertNil(list[16])
    }

    func testCookieFieldVariants() throws {
        let legacy = try buildMessage(transactionID: txid, cookieField: 0xDEAD_BEEF)
        XCTAssertEqual(Array(legacy[4..<8]), [0xDE, 0xAD, 0xBE, 0xEF])
        try withMessage(legacy) { XCTAssertFalse($0.hasMagicCookie) }
        var buffer = [UInt8](repeating: 0xFF, count: 20)
        try buffer.withUnsafeMutableBytes { raw in
            _ = try StunMessageBuilder(into: raw, type: .bindingRequest, transactionID: txid, magicCookie: false)
        }
        XCTAssertEqual(Array(buffer[4..<8]), [0, 0, 0, 0])
    }
}
