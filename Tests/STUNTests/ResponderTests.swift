import STUN
import XCTest

/// Runs one request through `responder`; returns the outcome and the reply bytes (if any).
func respond(_ responder: inout BindingResponder, _ request: [UInt8], from source: TransportAddress = sourceV4,
             now: UInt64 = 1_000_000_000, capacity: Int = 1500) -> (ResponderOutcome, [UInt8]) {
    var response = [UInt8](repeating: 0xEE, count: capacity)
    let outcome = request.withUnsafeBytes { request in
        response.withUnsafeMutableBytes { responder.handle(request, from: source, now: now, into: $0) }
    }
    if case .reply(let length) = outcome { return (outcome, Array(response[0..<length])) }
    return (outcome, [])
}

final class ResponderTests: XCTestCase {
    private func unlimited(software: StaticString? = nil) -> BindingResponder {
        BindingResponder(config: BindingResponderConfig(ratePerSecond: 0, software: software))
    }

    func testSuccessIPv4ExactXorMappedAddress() throws {
        var responder = unlimited()
        let request = try buildMessage(transactionID: rfc5769TransactionID)
        let (outcome, reply) = respond(&responder, request, from: sourceV4)
        XCTAssertEqual(outcome, .reply(length: 32))
        XCTAssertEqual(reply, hex("""
            01 01 00 0c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
            00 20 00 08 00 01 a1 47 e1 12 a6 43
            """))
        XCTAssertEqual(responder.counters.successResponses, 1)
        XCTAssertEqual(responder.counters.bindingRequests, 1)
        XCTAssertEqual(responder.counters.requests, 1)
    }

    func testSuccessIPv6ExactXorMappedAddress() throws {
        var responder = unlimited()
        let request = try buildMessage(transactionID: rfc5769TransactionID)
        let (outcome, reply) = respond(&responder, request, from: sourceV6)
        XCTAssertEqual(outcome, .reply(length: 44), "a 20-byte IPv6 request gets 44 bytes, within 2.5x")
        XCTAssertEqual(reply, hex("""
            01 01 00 18 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
            00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
            """))
    }

    func testRFC3489ClientGetsMappedAddress() throws {
        var responder = unlimited()
        let txid = TransactionID.random()
        let request = try buildMessage(transactionID: txid, cookieField: 0x7E57_0001) { b in try b.appendFingerprint() }
        let (outcome, reply) = respond(&responder, request, from: sourceV4)
        XCTAssertEqual(outcome, .reply(length: 32))
        XCTAssertEqual(Array(reply[4..<8]), [0x7E, 0x57, 0x00, 0x01], "the whole 128-bit id is echoed")
        try withMessage(reply) { message in
            XCTAssertEqual(message.type, .bindingSuccess)
            XCTAssertEqual(message.transactionID, txid)
            XCTAssertFalse(message.hasMagicCookie)
            XCTAssertEqual(message.address(.mappedAddress), sourceV4)
            XCTAssertNil(message.attribute(.xorMappedAddress))
            XCTAssertNil(message.verifyFingerprint(), "no FINGERPRINT for RFC 3489 clients")
        }
    }

    func testFingerprintEchoRule() throws {
        var responder = unlimited()
        let with = try buildMessage { b in try b.appendFingerprint() }
        let (_, reply) = respond(&responder, with)
        try withMessage(reply) { XCTAssertEqual($0.verifyFingerprint(), true) }
        let without = try buildMessage()
        let (_, plain) = respond(&responder, without)
        try withMessage(plain) { XCTAssertNil($0.verifyFingerprint()) }
        var bad = with
        bad[bad.count - 1] ^= 0xFF
        XCTAssertEqual(respond(&responder, bad).0, .drop(.badFingerprint))
        XCTAssertEqual(responder.counters.drops[.badFingerprint], 1)
    }

    func testSoftwareIncludedWhenTheBoundAllows() throws {
        var responder = unlimited(software: "rtcgate")
        // 20-byte request: limit 50; XOR-MAPPED (12) + SOFTWARE (12) → 44 fits.
        let (_, reply) = respond(&responder, try buildMessage())
        try withMessage(reply) { XCTAssertEqual(bytes($0.software), Array("rtcgate".utf8)) }
        var long = BindingResponder(config: BindingResponderConfig(
            ratePerSecond: 0, software: "rtcgate STUN/TURN appliance for ARM Linux gateways, build 2026.11"))
        let (small, smallReply) = respond(&long, try buildMessage())
        XCTAssertEqual(small, .reply(length: 32), "SOFTWARE dropped first")
        try withMessage(smallReply) { XCTAssertNil($0.software) }
        let scalar: StaticString = "x"
        var tiny = BindingResponder(config: BindingResponderConfig(ratePerSecond: 0, software: scalar))
        let (_, tinyReply) = respond(&tiny, try buildMessage())
        try withMessage(tinyReply) { XCTAssertEqual(bytes($0.software), [0x78]) }
        let padded = try buildMessage { b in try [UInt8](repeating: 0x61, count: 40).raw { try b.append(.username, bytes: $0) } }
        let (_, bigReply) = respond(&long, padded)
        try withMessage(bigReply) { XCTAssertNotNil($0.software) }
    }

    func testMalformedChainGets400() throws {
        var responder = unlimited()
        var request = try buildMessage(transactionID: rfc5769TransactionID) { b in try b.appendUInt32(.priority, 1) }
        request[23] = 0x40  // PRIORITY claims 64 bytes
        let (outcome, reply) = respond(&responder, request)
        guard case .reply = outcome else { return XCTFail("expected a reply, got \(outcome)") }
        try withMessage(reply) { message in
            XCTAssertEqual(message.type, .bindingError)
            XCTAssertEqual(message.transactionID, rfc5769TransactionID)
            XCTAssertEqual(message.errorCode?.code, 400)
            XCTAssertEqual(message.errorCode.map { Array($0.reason) }, Array("Bad Request".utf8))
        }
        XCTAssertLessThanOrEqual(reply.count, request.count * 5 / 2)
        XCTAssertEqual(responder.counters.errors400, 1)
        XCTAssertEqual(responder.counters.errorResponses, 1)
        // Attribute after FINGERPRINT is malformed too.
        var after = try buildMessage { b in try b.appendFingerprint() }
        after += hex("00 24 00 04 00 00 00 01")
        after[3] += 8
        guard case .reply = respond(&responder, after).0 else { return XCTFail("expected 400") }
        XCTAssertEqual(responder.counters.errors400, 2)
    }

    func testUnknownComprehensionRequiredGets420() throws {
        var responder = unlimited()
        let request = try buildMessage { b in
            try b.appendUInt32(AttributeType(rawValue: 0x0003), 0x0000_0006)  // CHANGE-REQUEST
            try b.appendUInt32(.priority, 1)
            try b.appendUInt32(AttributeType(rawValue: 0x7777), 0)
            try b.appendUInt32(AttributeType(rawValue: 0x8123), 0)            // optional: ignored
            try b.appendUInt32(AttributeType(rawValue: 0x0003), 0)            // duplicate
            try b.appendFingerprint()
        }
        let (outcome, reply) = respond(&responder, request)
        guard case .reply = outcome else { return XCTFail("expected a reply, got \(outcome)") }
        try withMessage(reply) { message in
            XCTAssertEqual(message.type, .bindingError)
            XCTAssertEqual(message.errorCode?.code, 420)
            XCTAssertEqual(message.unknownAttributes.map { Array($0) }, [AttributeType(rawValue: 0x0003), AttributeType(rawValue: 0x7777)])
            XCTAssertEqual(message.verifyFingerprint(), true, "request had a valid FINGERPRINT")
            XCTAssertNil(message.attribute(.xorMappedAddress))
        }
        XCTAssertEqual(responder.counters.errors420, 1)
        XCTAssertEqual(responder.counters.successResponses, 0)
    }

    func testUnknownAttributesAfterIntegrityAreIgnored() throws {
        var responder = unlimited()
        let request = try buildMessage { b in
            try b.appendUInt32(.priority, 1)
            try [UInt8](repeating: 1, count: 4).raw { try b.appendMessageIntegrity(key: $0) }
            try b.appendUInt32(AttributeType(rawValue: 0x7777), 0)
        }
        let (outcome, reply) = respond(&responder, request)
        XCTAssertEqual(outcome, .reply(length: 32))
        try withMessage(reply) { XCTAssertEqual($0.type, .bindingSuccess) }
    }

    func testEachDropReasonIsCounted() throws {
        var responder = BindingResponder(config: BindingResponderConfig(ratePerSecond: 1, burst: 1))
        XCTAssertEqual(respond(&responder, [0x80] + [UInt8](repeating: 0, count: 19)).0, .drop(.notStun))
        var oddLength = try buildMessage()
        oddLength[3] = 2
        oddLength += [0, 0]
        XCTAssertEqual(respond(&responder, oddLength).0, .drop(.notStun))
        var longer = try buildMessage()
        longer += [0, 0, 0, 0]
        XCTAssertEqual(respond(&responder, longer).0, .drop(.notStun), "datagram longer than the length field")
        XCTAssertEqual(respond(&responder, [0, 1, 0, 0]).0, .drop(.truncated))
        var cut = try buildMessage { b in try b.appendUInt32(.priority, 1) }
        cut.removeLast(4)
        XCTAssertEqual(respond(&responder, cut).0, .drop(.truncated))
        var badFingerprint = try buildMessage { b in try b.appendFingerprint() }
        badFingerprint[24] ^= 1
        XCTAssertEqual(respond(&responder, badFingerprint).0, .drop(.badFingerprint))
        XCTAssertEqual(respond(&responder, try buildMessage(type: .bindingSuccess)).0, .drop(.response))
        XCTAssertEqual(respond(&responder, try buildMessage(type: .bindingError)).0, .drop(.response))
        XCTAssertEqual(respond(&responder, try buildMessage(type: StunMessageType(method: .binding, messageClass: .indication))).0,
                       .drop(.indication))
        XCTAssertEqual(respond(&responder, try buildMessage(type: StunMessageType(method: .allocate, messageClass: .request))).0,
                       .drop(.unsupportedMethod))
        XCTAssertEqual(respond(&responder, try buildMessage(), capacity: 31).0, .drop(.bufferTooSmall))
        XCTAssertEqual(respond(&responder, try buildMessage()).0, .drop(.rateLimited), "the bucket's only token went to the previous one")
        var strict = BindingResponder(config: BindingResponderConfig(ratePerSecond: 0, amplificationLimitPercent: 100))
        XCTAssertEqual(respond(&strict, try buildMessage()).0, .drop(.amplification))

        let drops = responder.counters.drops
        XCTAssertEqual(drops[.notStun], 3)
        XCTAssertEqual(drops[.truncated], 2)
        XCTAssertEqual(drops[.badFingerprint], 1)
        XCTAssertEqual(drops[.response], 2)
        XCTAssertEqual(drops[.indication], 1)
        XCTAssertEqual(drops[.unsupportedMethod], 1)
        XCTAssertEqual(drops[.bufferTooSmall], 1)
        XCTAssertEqual(drops[.rateLimited], 1)
        XCTAssertEqual(strict.counters.drops[.amplification], 1)
        XCTAssertEqual(drops.total, 12)
        XCTAssertEqual(responder.counters.requests, 4)
        XCTAssertEqual(responder.counters.bindingRequests, 3)

        var sum = responder.counters
        sum.add(strict.counters)
        XCTAssertEqual(sum.drops[.amplification], 1)
        XCTAssertEqual(sum.drops.total, 13)
        XCTAssertEqual(Set(ResponderDropReason.allCases.map(\.label)).count, ResponderDropReason.allCases.count)
        XCTAssertEqual(ResponderDropReason.rateLimited.label, "rate_limited")
    }

    /// Property-style check of the anti-reflection bound over many generated request shapes.
    func testReplyNeverExceedsTwoAndAHalfTimesTheRequest() throws {
        var generator = SystemRandomNumberGenerator()
        var responder = BindingResponder(config: BindingResponderConfig(
            ratePerSecond: 0, software: "rtcgate/1.0 (a deliberately long SOFTWARE value to stress the bound)"))
        let extraTypes: [UInt16] = [0x0006, 0x0024, 0x8022, 0x8029, 0x0003, 0x7001, 0x8123, 0x0027, 0x0025, 0x0008]
        var replies = 0
        for iteration in 0..<5_000 {
            let cookie = iteration % 7 != 0
            let request = try buildMessage(cookieField: cookie ? StunHeader.magicCookie : UInt32.random(in: 0...UInt32.max)) { b in
                for _ in 0..<Int.random(in: 0...6, using: &generator) {
                    let type = AttributeType(rawValue: extraTypes.randomElement(using: &generator)!)
                    let length = Int.random(in: 0...24, using: &generator)
                    try [UInt8](repeating: 0x42, count: length).raw { try b.append(type, bytes: $0) }
                }
                if Bool.random(using: &generator) { try b.appendFingerprint() }
            }
            var mutated = request
            if iteration % 5 == 0, mutated.count > 24 {
                mutated[23] = UInt8.random(in: 0...255, using: &generator)  // often breaks the chain → 400
            }
            let source = Bool.random(using: &generator) ? sourceV4 : sourceV6
            let (outcome, reply) = respond(&responder, mutated, from: source)
            if case .reply(let length) = outcome {
                replies += 1
                XCTAssertLessThanOrEqual(length, mutated.count * 5 / 2, "request \(mutated)")
                try withMessage(reply) { message in
                    XCTAssertEqual(Array(reply[4..<20]), Array(mutated[4..<20]), "id echoed")
                    XCTAssertNotEqual(message.type.messageClass, .request)
                }
            }
        }
        XCTAssertGreaterThan(replies, 4_000)
        XCTAssertGreaterThan(responder.counters.errors400, 0)
        XCTAssertGreaterThan(responder.counters.errors420, 0)
    }
}
