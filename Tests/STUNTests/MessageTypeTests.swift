import STUN
import XCTest

final class MessageTypeTests: XCTestCase {
    func testKnownEncodings() {
        let cases: [(UInt16, StunMethod, StunClass)] = [
            (0x0001, .binding, .request), (0x0011, .binding, .indication),
            (0x0101, .binding, .successResponse), (0x0111, .binding, .errorResponse),
            (0x0003, .allocate, .request), (0x0103, .allocate, .successResponse), (0x0113, .allocate, .errorResponse),
            (0x0004, .refresh, .request), (0x0016, .send, .indication), (0x0017, .data, .indication),
            (0x0008, .createPermission, .request), (0x0009, .channelBind, .request),
            (0x000A, .connect, .request), (0x001C, .connectionAttempt, .indication),
        ]
        for (raw, method, messageClass) in cases {
            let type = StunMessageType(rawValue: raw)
            XCTAssertEqual(type.method, method, "0x\(String(raw, radix: 16))")
            XCTAssertEqual(type.messageClass, messageClass)
            XCTAssertEqual(StunMessageType(method: method, messageClass: messageClass).rawValue, raw)
        }
    }

    func testAllTypesRoundTrip() {
        for raw in UInt16(0)...0x3FFF {
            XCTAssertEqual(StunMessageType(rawValue: raw).rawValue, raw)
        }
        XCTAssertEqual(StunMessageType(rawValue: 0xC001).rawValue, 0x0001, "top bits are ignored")
        XCTAssertEqual(StunMethod(rawValue: 0xF001), .binding)
    }

    func testComprehensionRequired() {
        XCTAssertTrue(AttributeType.username.isComprehensionRequired)
        XCTAssertTrue(AttributeType(rawValue: 0x7FFF).isComprehensionRequired)
        XCTAssertFalse(AttributeType.software.isComprehensionRequired)
        XCTAssertFalse(AttributeType.additionalAddressFamily.isComprehensionRequired)
        XCTAssertTrue(AttributeType.requestedTransport.isKnown)
        XCTAssertFalse(AttributeType(rawValue: 0x0003).isKnown, "CHANGE-REQUEST is not understood")
    }

    func testAttributeTypeValues() {
        let expected: [(AttributeType, UInt16)] = [
            (.mappedAddress, 0x0001), (.username, 0x0006), (.messageIntegrity, 0x0008), (.errorCode, 0x0009),
            (.unknownAttributes, 0x000A), (.channelNumber, 0x000C), (.lifetime, 0x000D), (.xorPeerAddress, 0x0012),
            (.data, 0x0013), (.realm, 0x0014), (.nonce, 0x0015), (.xorRelayedAddress, 0x0016),
            (.requestedAddressFamily, 0x0017), (.evenPort, 0x0018), (.requestedTransport, 0x0019),
            (.dontFragment, 0x001A), (.messageIntegritySHA256, 0x001C), (.passwordAlgorithm, 0x001D),
            (.userhash, 0x001E), (.xorMappedAddress, 0x0020), (.reservationToken, 0x0022), (.priority, 0x0024),
            (.useCandidate, 0x0025), (.iceControlled, 0x8029), (.iceControlling, 0x802A),
            (.passwordAlgorithms, 0x8002), (.alternateDomain, 0x8003), (.software, 0x8022),
            (.alternateServer, 0x8023), (.fingerprint, 0x8028), (.responseOrigin, 0x802B), (.otherAddress, 0x802C),
            (.additionalAddressFamily, 0x8000), (.addressErrorCode, 0x8001), (.icmp, 0x8004),
        ]
        for (type, raw) in expected {
            XCTAssertEqual(type.rawValue, raw)
            XCTAssertTrue(type.isKnown, type.description)
        }
    }

    func testTypedGetters() throws {
        let bytes = try buildMessage { b in
            try b.appendUInt32(.lifetime, 600)
            try b.appendUInt32(.channelNumber, 0x4001_0000)
            try b.appendUInt32(.requestedTransport, 0x1100_0000)
            try b.appendUInt32(.requestedAddressFamily, 0x0200_0000)
            try [UInt8(0x80)].raw { try b.append(.evenPort, bytes: $0) }
            try b.appendFlag(.dontFragment)
            try b.appendUInt64(.reservationToken, 0x0102_0304_0506_0708)
            try hex("00 02 00 00 00 01 00 03 61 62 63 00").raw { try b.append(.passwordAlgorithms, bytes: $0) }
        }
        try withMessage(bytes) { message in
            XCTAssertEqual(message.lifetime, 600)
            XCTAssertEqual(message.channelNumber, 0x4001)
            XCTAssertEqual(message.requestedTransport, 17)
            XCTAssertEqual(message.requestedAddressFamily, 2)
            XCTAssertEqual(message.evenPort, true)
            XCTAssertTrue(message.dontFragment)
            XCTAssertFalse(message.useCandidate)
            XCTAssertEqual(message.uint64(.reservationToken), 0x0102_0304_0506_0708)
            let algorithms = message.passwordAlgorithms.map { $0.map { ($0.algorithm, Array($0.parameters)) } }
            XCTAssertEqual(algorithms?.map(\.0), [2, 1])
            XCTAssertEqual(algorithms?.map(\.1), [[], Array("abc".utf8)])
            XCTAssertNil(message.uint32(.priority))
        }
        // Out-of-range channel number, wrong-length values and a truncated algorithm list.
        let bad = try buildMessage { b in
            try b.appendUInt32(.channelNumber, 0x3FFF_0000)
            try b.appendUInt64(.lifetime, 1)
            try [UInt8(0x80), 0].raw { try b.append(.evenPort, bytes: $0) }
            try hex("00 02 00 08 00 00").raw { try b.append(.passwordAlgorithms, bytes: $0) }
        }
        try withMessage(bad) { message in
            XCTAssertNil(message.channelNumber)
            XCTAssertNil(message.lifetime)
            XCTAssertNil(message.evenPort)
            XCTAssertNil(message.passwordAlgorithms)
        }
    }

    func testCRC32AndLongTermKeyHelpers() {
        XCTAssertEqual(Array("123456789".utf8).raw { StunFingerprint.crc32($0) }, 0xCBF4_3926)
        // RFC 4231 test case 2 (HMAC-SHA-256) and RFC 2202 test case 2 (HMAC-SHA-1): key "Jefe".
        var mac = [UInt8](repeating: 0, count: 32)
        let key = Array("Jefe".utf8), data = Array("what do ya want for nothing?".utf8)
        XCTAssertTrue(key.raw { k in data.raw { d in mac.withUnsafeMutableBytes { LongTermKey.hmacSHA256(key: k, message: d, into: $0) } } })
        XCTAssertEqual(mac, hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
        XCTAssertTrue(key.raw { k in data.raw { d in mac.withUnsafeMutableBytes { LongTermKey.hmacSHA1(key: k, message: d, into: $0) } } })
        XCTAssertEqual(Array(mac[0..<20]), hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"))
        var small = [UInt8](repeating: 0, count: 19)
        XCTAssertFalse(key.raw { k in data.raw { d in small.withUnsafeMutableBytes { LongTermKey.hmacSHA1(key: k, message: d, into: $0) } } })
    }
}
