// libFuzzer entry point for the STUN codec and the Binding responder.
//
// Compiled in ONE module together with Sources/STUN/*.swift by Tests/Fuzz/run.sh (so there is
// no `import STUN`, and internal API is visible). Not part of any SwiftPM target.
//
// Each input is fed to:
//   - StunHeader.peek;
//   - StunMessageView: every attribute walked byte by byte, every typed getter, the
//     unknown-attribute scan, FINGERPRINT and MESSAGE-INTEGRITY(-SHA256) verification with a
//     fixed key;
//   - a global BindingResponder (unlimited rate) from an IPv4 and an IPv6 source, with a full
//     response buffer and with a small one, and a rate-limited responder. Any outcome is fine,
//     but a `.reply(length)` must fit the buffer, be at most 2.5x the input and itself parse
//     as a Binding response with the request's transaction id.
// Every byte read is folded into a global sink so the optimizer cannot drop the reads.

/// The RFC 5769 short-term password, so the test-vector seeds' MESSAGE-INTEGRITY verifies.
private let fuzzKey: StaticString = "VOkJxbRl1RmTxUk/WvJxBt"

nonisolated(unsafe) private var sink: UInt64 = 0
nonisolated(unsafe) private var unlimited = BindingResponder(
    config: BindingResponderConfig(ratePerSecond: 0, burst: 1, rateTableCapacity: 16, software: "rtcgate"))
nonisolated(unsafe) private var limited = BindingResponder(
    config: BindingResponderConfig(ratePerSecond: 5, burst: 2, rateTableCapacity: 16, software: nil,
                                   amplificationLimitPercent: 180))
nonisolated(unsafe) private var clock: UInt64 = 1_000_000_000
nonisolated(unsafe) private let fullBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)

private let sourceV4 = TransportAddress(ip: .v4(0xC000_0201), port: 3478)
private let sourceV6 = TransportAddress(ip: .v6(0x2001_0DB8_0000_0001, 0x0000_0000_0000_0042), port: 61000)
private let mappedV6 = TransportAddress(ip: .v6(0, 0x0000_FFFF_C000_0202), port: 1)

@inline(never)
private func fold(_ value: UInt64) { sink = (sink &* 31) &+ value }

@inline(never)
private func fold(_ bytes: UnsafeRawBufferPointer?) {
    guard let bytes else { fold(0xFFFF); return }
    var sum: UInt64 = UInt64(bytes.count)
    for byte in bytes { sum = (sum &* 131) &+ UInt64(byte) }
    fold(sum)
}

private func fold(_ address: TransportAddress?) {
    guard let address else { fold(0xDEAD); return }
    switch address.ip {
    case .v4(let value): fold(UInt64(value))
    case .v6(let high, let low): fold(high ^ low)
    }
    fold(UInt64(address.port))
}

/// Everything a parser user could call on a message.
private func exercise(_ message: StunMessageView) {
    fold(UInt64(message.type.rawValue))
    fold(message.transactionID.low ^ UInt64(message.transactionID.high))
    fold(message.hasMagicCookie ? 1 : 2)
    for attribute in message.attributes {
        fold(UInt64(attribute.type.rawValue))
        fold(attribute.value)
        fold(attribute.type.isKnown ? 3 : 4)
    }
    for type: AttributeType in [.xorMappedAddress, .xorPeerAddress, .xorRelayedAddress] { fold(message.xorAddress(type)) }
    for type: AttributeType in [.mappedAddress, .alternateServer, .responseOrigin, .otherAddress] { fold(message.address(type)) }
    if let error = message.errorCode {
        fold(UInt64(error.code))
        fold(error.reason)
    }
    fold(message.uint32(.lifetime).map(UInt64.init) ?? 1)
    fold(message.uint64(.iceControlled) ?? 2)
    fold(message.uint64(.iceControlling) ?? 3)
    fold(message.uint64(.reservationToken) ?? 4)
    fold(message.lifetime.map(UInt64.init) ?? 5)
    fold(message.priority.map(UInt64.init) ?? 6)
    fold(message.channelNumber.map(UInt64.init) ?? 7)
    fold(message.requestedTransport.map(UInt64.init) ?? 8)
    fold(message.requestedAddressFamily.map(UInt64.init) ?? 9)
    fold(message.additionalAddressFamily.map(UInt64.init) ?? 10)
    fold(message.evenPort.map { $0 ? 11 : 12 } ?? 13)
    fold(message.dontFragment ? 14 : 15)
    fold(message.useCandidate ? 16 : 17)
    if let unknown = message.unknownAttributes {
        fold(UInt64(unknown.count))
        for type in unknown { fold(UInt64(type.rawValue)) }
    }
    if let algorithm = message.passwordAlgorithm {
        fold(UInt64(algorithm.algorithm))
        fold(algorithm.parameters)
    }
    if let algorithms = message.passwordAlgorithms {
        for algorithm in algorithms {
            fold(UInt64(algorithm.algorithm))
            fold(algorithm.parameters)
        }
    }
    fold(message.username)
    fold(message.realm)
    fold(message.nonce)
    fold(message.software)
    fold(message.userhash)
    let unknown = message.unknownComprehensionRequiredAttributes()
    fold(UInt64(unknown.count) | (unknown.overflowed ? 0x100 : 0))
    for type in unknown { fold(UInt64(type.rawValue)) }
    fold(message.verifyFingerprint().map { $0 ? 18 : 19 } ?? 20)
    fuzzKey.withUTF8Buffer { key in
        let raw = UnsafeRawBufferPointer(key)
        fold(message.verifyMessageIntegrity(key: raw) ? 21 : 22)
        fold(message.verifyMessageIntegritySHA256(key: raw) ? 23 : 24)
    }
}

/// Runs `responder` on `input` and checks any reply against the anti-reflection contract.
private func respond(_ responder: inout BindingResponder, _ input: UnsafeRawBufferPointer, from source: TransportAddress,
                     into buffer: UnsafeMutableRawBufferPointer, maxPercent: Int) {
    clock &+= 7_000_000
    switch responder.handle(input, from: source, now: clock, into: buffer) {
    case .drop(let reason):
        fold(UInt64(reason.rawValue))
    case .reply(let length):
        precondition(length >= StunHeader.size && length <= buffer.count, "reply of \(length) bytes in a \(buffer.count)-byte buffer")
        precondition(length * 100 <= input.count * maxPercent, "reply of \(length) bytes to a \(input.count)-byte request")
        let reply = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        let message: StunMessageView
        do throws(StunParseError) {
            message = try StunMessageView(reply)
        } catch {
            preconditionFailure("the responder's reply does not parse: \(error)")
        }
        let request = try? StunHeader.peek(input)
        precondition(message.type.method == .binding, "reply method \(message.type.method)")
        precondition(message.type.messageClass == .successResponse || message.type.messageClass == .errorResponse,
                     "reply class \(message.type.messageClass)")
        precondition(message.transactionID == request?.transactionID, "reply transaction id differs")
        precondition(message.header.cookieField == request?.cookieField, "reply cookie field differs")
        precondition(message.verifyFingerprint() != false, "reply FINGERPRINT wrong")
        if message.type.messageClass == .successResponse {
            let mapped = message.hasMagicCookie ? message.xorAddress() : message.address()
            precondition(mapped == source, "reply maps \(String(describing: mapped)) for \(source)")
        } else {
            let code = message.errorCode?.code
            precondition(code == 400 || code == 420, "reply error code \(String(describing: code))")
        }
        exercise(message)
    }
}

/// A heap copy of `input`, exactly as large as the message it becomes, with the framing the
/// fuzzer rarely gets right by chance fixed up: top bits cleared, body cut to a multiple of
/// four, length field matching, and a trailing FINGERPRINT given the right CRC. Exactly sized so
/// AddressSanitizer catches any read past the end. The caller deallocates it.
private func framedCopy(of input: UnsafeRawBufferPointer) -> UnsafeMutableRawBufferPointer? {
    guard input.count >= StunHeader.size else { return nil }
    let size = StunHeader.size + Swift.min((input.count - StunHeader.size) & ~3, 0xFFFC)
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
    copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[0..<size]))
    copy[0] &= 0x3F
    copy.stunStore(UInt16(size - StunHeader.size), at: 2)
    if let message = try? StunMessageView(UnsafeRawBufferPointer(copy)), message.fingerprintOffset >= 0 {
        let offset = message.fingerprintOffset
        copy.stunStore(StunFingerprint.value(over: UnsafeRawBufferPointer(rebasing: copy[0..<offset])), at: offset + 4)
    }
    return copy
}

/// One input through every entry point.
private func run(_ input: UnsafeRawBufferPointer) {
    if let header = try? StunHeader.peek(input) {
        fold(UInt64(header.length))
        fold(UInt64(header.messageSize))
        fold(header.hasMagicCookie ? 1 : 0)
    }
    if let message = try? StunMessageView(input) {
        exercise(message)
    }

    respond(&unlimited, input, from: sourceV4, into: fullBuffer, maxPercent: BindingResponder.maxAmplificationPercent)
    respond(&unlimited, input, from: sourceV6, into: fullBuffer, maxPercent: BindingResponder.maxAmplificationPercent)
    // A response buffer sized by the input: exercises bufferTooSmall and every partial build.
    let small = input.count > 0 ? 20 + Int(input[input.count - 1]) % 64 : 20
    respond(&unlimited, input, from: mappedV6, into: UnsafeMutableRawBufferPointer(rebasing: fullBuffer[0..<small]),
            maxPercent: BindingResponder.maxAmplificationPercent)
    respond(&limited, input, from: input.count & 1 == 0 ? sourceV4 : sourceV6, into: fullBuffer, maxPercent: 180)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func stunFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    run(UnsafeRawBufferPointer(start: data, count: size))
    if let framed = framedCopy(of: UnsafeRawBufferPointer(start: data, count: size)) {
        run(UnsafeRawBufferPointer(framed))
        framed.deallocate()
    }
    return 0
}
