/// Why a payload is not valid JSON, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the problem in the input.
    public let offset: Int
    /// What was wrong, e.g. "expected ':' after object key".
    public let reason: String

    public var description: String { "\(reason) at byte \(offset)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Rejects: trailing data, invalid UTF-8, control characters in strings, lone surrogate escapes,
/// duplicate object keys, leading zeros, a byte-order mark, and nesting deeper than `maxDepth`.
/// Recursion is bounded by `maxDepth`, so no input can exhaust the stack.
public enum JSONParser {
    public static let defaultMaxDepth = 32

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buf in
            Result { () throws(JSONParseError) -> JSONValue in try parse(buf, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    public static func parse(_ buffer: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        var reader = Reader(buf: buffer, maxDepth: maxDepth)
        reader.skipWhitespace()
        let value = try reader.parseValue(depth: 0)
        reader.skipWhitespace()
        guard reader.pos == buffer.count else { throw reader.error("unexpected data after the JSON value") }
        return value
    }
}

private struct Reader {
    let buf: UnsafeRawBufferPointer
    let maxDepth: Int
    var pos = 0

    init(buf: UnsafeRawBufferPointer, maxDepth: Int) {
        self.buf = buf
        self.maxDepth = maxDepth
    }

    func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? pos, reason: reason)
    }

    func describeCurrent() -> String {
        guard pos < buf.count else { return "end of input" }
        let b = buf[pos]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        let hex = String(b, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }

    mutating func skipWhitespace() {
        while pos < buf.count {
            switch buf[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard pos < buf.count else { throw error("unexpected end of input, expected a value") }
        switch buf[pos] {
        case 0x7B: return try parseObject(depth: depth + 1)
        case 0x5B: return try parseArray(depth: depth + 1)
        case 0x22: return .string(try parseString())
        case 0x74: try expectLiteral("true"); return .bool(true)
        case 0x66: try expectLiteral("false"); return .bool(false)
        case 0x6E: try expectLiteral("null"); return .null
        case 0x2D, 0x30...0x39:
            guard let length = JSONNumber.scanLength(buf, from: pos) else { throw error("invalid number") }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: buf[pos..<pos + length]), as: UTF8.self)
            pos += length
            return .number(JSONNumber(validatedText: text))
        default:
            throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    mutating func expectLiteral(_ literal: String) throws(JSONParseError) {
        let start = pos
        for expected in literal.utf8 {
            guard pos < buf.count, buf[pos] == expected else {
                throw error("invalid literal, expected '\(literal)'", at: start)
            }
            pos += 1
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        pos += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if pos < buf.count && buf[pos] == 0x5D { pos += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < buf.count else { throw error("unexpected end of input in array") }
            if buf[pos] == 0x2C { pos += 1; continue }
            if buf[pos] == 0x5D { pos += 1; return .array(elements) }
            throw error("expected ',' or ']' in array, found \(describeCurrent())")
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        pos += 1
        var members: [(String, JSONValue)] = []
        var keys = Set<String>()
        skipWhitespace()
        if pos < buf.count && buf[pos] == 0x7D { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard pos < buf.count, buf[pos] == 0x22 else {
                throw error("expected a string key in object, found \(describeCurrent())")
            }
            let keyOffset = pos
            let key = try parseString()
            guard keys.insert(key).inserted else { throw error("duplicate key '\(key)'", at: keyOffset) }
            skipWhitespace()
            guard pos < buf.count, buf[pos] == 0x3A else {
                throw error("expected ':' after object key, found \(describeCurrent())")
            }
            pos += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            guard pos < buf.count else { throw error("unexpected end of input in object") }
            if buf[pos] == 0x2C { pos += 1; continue }
            if buf[pos] == 0x7D { pos += 1; return .object(members) }
            throw error("expected ',' or '}' in object, found \(describeCurrent())")
        }
    }

    /// Parses a string starting at the opening quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let start = pos
        pos += 1
        var bytes: [UInt8] = []
        while true {
            guard pos < buf.count else { throw error("unterminated string", at: start) }
            let b = buf[pos]
            switch b {
            case 0x22:
                pos += 1
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw error("invalid UTF-8 in string", at: start)
                }
                return s
            case 0x5C:
                try parseEscape(into: &bytes)
            case 0x00..<0x20:
                throw error("unescaped control character in string")
            default:
                bytes.append(b)
                pos += 1
            }
        }
    }

    mutating func parseEscape(into bytes: inout [UInt8]) throws(JSONParseError) {
        let escapeStart = pos
        pos += 1
        guard pos < buf.count else { throw error("unterminated escape", at: escapeStart) }
        let c = buf[pos]
        pos += 1
        switch c {
        case 0x22, 0x5C, 0x2F: bytes.append(c)
        case 0x62: bytes.append(0x08)
        case 0x66: bytes.append(0x0C)
        case 0x6E: bytes.append(0x0A)
        case 0x72: bytes.append(0x0D)
        case 0x74: bytes.append(0x09)
        case 0x75:
            var unit = try parseHex4(escapeStart)
            if (0xDC00...0xDFFF).contains(unit) {
                throw error("unpaired low surrogate escape", at: escapeStart)
            }
            if (0xD800...0xDBFF).contains(unit) {
                guard buf.count - pos >= 6, buf[pos] == 0x5C, buf[pos + 1] == 0x75 else {
                    throw error("unpaired high surrogate escape", at: escapeStart)
                }
                pos += 2
                let low = try parseHex4(escapeStart)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw error("high surrogate escape not followed by a low surrogate", at: escapeStart)
                }
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            // `unit` is a valid scalar here: surrogates were handled above.
            bytes.append(contentsOf: Unicode.Scalar(unit)!.utf8)
        default:
            throw error("invalid escape character", at: escapeStart)
        }
    }

    mutating func parseHex4(_ escapeStart: Int) throws(JSONParseError) -> UInt32 {
        guard buf.count - pos >= 4 else { throw error("truncated \\u escape", at: escapeStart) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = buf[pos]
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x41...0x46: digit = b - 0x41 + 10
            case 0x61...0x66: digit = b - 0x61 + 10
            default: throw error("invalid hex digit in \\u escape", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }
}
