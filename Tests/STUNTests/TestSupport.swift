import STUN
import XCTest

/// Bytes from hex text with arbitrary whitespace ("00 01 ab").
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter(\.isHexDigit)
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(Array(digits)[$0...$0 + 1]), radix: 16)! }
}

/// Parses `bytes` and runs `body` with the view; the test fails on a parse error.
func withMessage<T>(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line,
                    _ body: (StunMessageView) throws -> T) throws -> T {
    try bytes.withUnsafeBytes { raw in
        do {
            return try body(try StunMessageView(raw))
        } catch let error as StunParseError {
            XCTFail("parse failed: \(error)", file: file, line: line)
            throw error
        }
    }
}

/// The parse error for `bytes`, or nil if they parse.
func parseError(_ bytes: [UInt8]) -> StunParseError? {
    bytes.withUnsafeBytes { raw in
        do throws(StunParseError) {
            _ = try StunMessageView(raw)
            return nil
        } catch {
            return error
        }
    }
}

/// Builds a message into a fresh 1500-byte buffer and returns the written bytes.
func buildMessage(type: StunMessageType = .bindingRequest, transactionID: TransactionID = .random(),
                  cookieField: UInt32 = StunHeader.magicCookie,
                  _ body: (inout StunMessageBuilder) throws -> Void = { _ in }) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0xEE, count: 1500)
    let count = try buffer.withUnsafeMutableBytes { raw -> Int in
        var builder = try StunMessageBuilder(into: raw, type: type, transactionID: transactionID, cookieField: cookieField)
        try body(&builder)
        return builder.count
    }
    return Array(buffer[0..<count])
}

extension Array where Element == UInt8 {
    /// Calls `body` with a raw view of the array.
    func raw<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withUnsafeBytes(body)
    }
}

/// Runs `body` with the UTF-8 bytes of `text`.
func utf8<T>(_ text: String, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
    try Array(text.utf8).withUnsafeBytes(body)
}

/// The bytes of a raw buffer as an array.
func bytes(_ raw: UnsafeRawBufferPointer?) -> [UInt8]? {
    raw.map { Array($0) }
}

/// RFC 5769's transaction id for §2.1–2.3.
let rfc5769TransactionID = TransactionID(high: 0xb7e7_a701, low: 0xbc34_d686_fa87_dfae)

/// The common test source addresses.
let sourceV4 = TransportAddress(ip: IPAddress("192.0.2.1")!, port: 32853)
let sourceV6 = TransportAddress(ip: IPAddress("2001:db8:1234:5678:11:2233:4455:6677")!, port: 32853)
