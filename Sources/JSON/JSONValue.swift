/// A JSON value (RFC 8259).
///
/// Objects keep their members in document order; numbers keep their original text
/// (`JSONNumber`) so a forwarded message carries them unchanged. Equality is structural and
/// order-sensitive for object members.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
}

/// A JSON number, stored as its original (validated) text.
public struct JSONNumber: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The number exactly as written, e.g. `-0.5e3`.
    public let text: String

    /// Creates a number from JSON number text; `nil` if `text` is not RFC 8259 number syntax.
    public init?(text: String) {
        let valid = Array(text.utf8).withUnsafeBytes { JSONNumber.scanLength($0, from: 0) == $0.count }
        guard valid else { return nil }
        self.text = text
    }

    public init(_ value: Int) { text = String(value) }
    public init(_ value: UInt64) { text = String(value) }

    init(validatedText: String) { text = validatedText }

    /// The value as an `Int` when written as an integer without fraction or exponent.
    public var intValue: Int? { Int(text) }
    /// The value as a `Double` (may round; `nil` only if out of range).
    public var doubleValue: Double? { Double(text) }
    public var description: String { text }

    /// Length of the RFC 8259 number starting at `start`, or `nil` if none is there.
    static func scanLength(_ buf: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        func digit(_ i: Int) -> Bool { i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 }
        if i < buf.count && buf[i] == 0x2D { i += 1 }  // -
        guard digit(i) else { return nil }
        if buf[i] == 0x30 { i += 1 } else { while digit(i) { i += 1 } }
        if i < buf.count && buf[i] == 0x2E {  // .
            i += 1
            guard digit(i) else { return nil }
            while digit(i) { i += 1 }
        }
        if i < buf.count && (buf[i] == 0x65 || buf[i] == 0x45) {  // e E
            i += 1
            if i < buf.count && (buf[i] == 0x2B || buf[i] == 0x2D) { i += 1 }
            guard digit(i) else { return nil }
            while digit(i) { i += 1 }
        }
        return i - start
    }
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where x.0 != y.0 || x.1 != y.1 { return false }
            return true
        default: return false
        }
    }
}

extension JSONValue {
    /// The first member named `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var numberValue: JSONNumber? { if case .number(let n) = self { return n } else { return nil } }
    public var intValue: Int? { numberValue?.intValue }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [(String, JSONValue)]? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Members keep the literal's order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
}
