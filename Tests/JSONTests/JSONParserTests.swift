import XCTest
@testable import JSON

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    private func assertRejects(_ bytes: [UInt8], _ reason: String, offset: Int? = nil, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let v = try JSONParser.parse(bytes)
            XCTFail("accepted \(bytes) as \(v)", file: file, line: line)
        } catch {
            XCTAssertTrue(error.reason.contains(reason), "\(error) does not mention '\(reason)'", file: file, line: line)
            if let offset { XCTAssertEqual(error.offset, offset, file: file, line: line) }
        }
    }

    private func assertRejects(_ text: String, _ reason: String, offset: Int? = nil, file: StaticString = #filePath, line: UInt = #line) {
        assertRejects(Array(text.utf8), reason, offset: offset, file: file, line: line)
    }

    func testScalarsAndWhitespace() throws {
        XCTAssertEqual(try parse(" \t\r\n null \n"), .null)
        XCTAssertEqual(try parse("true"), .bool(true))
        XCTAssertEqual(try parse("false"), .bool(false))
        XCTAssertEqual(try parse(#""a""#), .string("a"))
        XCTAssertEqual(try parse("[]"), .array([]))
        XCTAssertEqual(try parse("{}"), .object([]))
        XCTAssertEqual(try parse(#"{ "a" : [ 1 , { } ] }"#), ["a": [1, [:]]])
    }

    func testObjectKeepsOrder() throws {
        let v = try parse(#"{"z":1,"a":2,"m":3}"#)
        XCTAssertEqual(v.objectValue?.map(\.0), ["z", "a", "m"])
        XCTAssertEqual(v["a"], 2)
        XCTAssertNil(v["q"])
    }

    func testNumbersKeepTheirText() throws {
        for text in ["0", "-0", "1", "-12", "1.5", "1e10", "1E+2", "-0.0e-7", "12345678901234567890123"] {
            XCTAssertEqual(try parse(text).numberValue?.text, text)
        }
        XCTAssertEqual(try parse("42").intValue, 42)
        XCTAssertNil(try parse("1.0").intValue)
        XCTAssertEqual(try parse("2.5e1").numberValue?.doubleValue, 25)
        XCTAssertNil(JSONNumber(text: "01"))
        XCTAssertNil(JSONNumber(text: ""))
        XCTAssertEqual(JSONNumber(text: "-3.25")?.text, "-3.25")
    }

    func testRejectsBadNumbers() {
        assertRejects("01", "unexpected data after")
        assertRejects("-", "invalid number")
        assertRejects("1.", "invalid number")
        assertRejects(".5", "expected a value")
        assertRejects("1e", "invalid number")
        assertRejects("+1", "expected a value")
        assertRejects("0x10", "unexpected data after")
        assertRejects("NaN", "expected a value")
        assertRejects("Infinity", "expected a value")
    }

    func testEscapes() throws {
        XCTAssertEqual(try parse(#""\"\\\/\b\f\n\r\t""#), .string("\"\\/\u{08}\u{0C}\n\r\t"))
        XCTAssertEqual(try parse(#""\u0041\u00e9\u20AC""#), .string("Aé€"))
        XCTAssertEqual(try parse(#""\u0000""#), .string("\u{0}"))
        XCTAssertEqual(try parse(#""\uD83D\uDE00""#), .string("😀"))
        XCTAssertEqual(try parse(#""\ud834\udd1e""#), .string("𝄞"))
    }

    func testRejectsBadEscapesAndSurrogates() {
        assertRejects(#""\x""#, "invalid escape", offset: 1)
        assertRejects(#""\u12zz""#, "invalid hex digit")
        assertRejects(#""\u12"#, "truncated")
        assertRejects(#""\uD83D""#, "unpaired high surrogate")
        assertRejects(#""\uD83Dx""#, "unpaired high surrogate")
        assertRejects(#""\uD83D\u0041""#, "not followed by a low surrogate")
        assertRejects(#""\uDE00""#, "unpaired low surrogate")
        assertRejects(#""abc"#, "unterminated string", offset: 0)
        assertRejects("\"a\nb\"", "control character")
        assertRejects("\"\u{1}\"", "control character")
    }

    func testUTF8() throws {
        XCTAssertEqual(try JSONParser.parse([0x22, 0xC3, 0xA9, 0x22]), .string("é"))
        XCTAssertEqual(try JSONParser.parse([0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]), .string("😀"))
        assertRejects([0x22, 0xC3, 0x22], "invalid UTF-8")            // truncated sequence
        assertRejects([0x22, 0xC0, 0xAF, 0x22], "invalid UTF-8")      // overlong '/'
        assertRejects([0x22, 0xED, 0xA0, 0x80, 0x22], "invalid UTF-8")  // encoded surrogate
        assertRejects([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "invalid UTF-8")  // > U+10FFFF
        assertRejects([0x22, 0x80, 0x22], "invalid UTF-8")            // lone continuation
        assertRejects([0x22, 0xFF, 0x22], "invalid UTF-8")
        assertRejects([0x22, 0xC3, 0x5C, 0x75, 0x30, 0x30, 0x41, 0x39, 0x22], "invalid UTF-8")  // raw lead + escape
        assertRejects([0xEF, 0xBB, 0xBF, 0x7B, 0x7D], "expected a value")  // BOM
        assertRejects([0x7B, 0xC3, 0xA9, 0x7D], "expected a string key")
    }

    func testStructuralErrors() {
        assertRejects("", "unexpected end of input")
        assertRejects("   ", "unexpected end of input")
        assertRejects("{", "expected a string key")
        assertRejects(#"{"a"}"#, "expected ':'", offset: 4)
        assertRejects(#"{"a":1,}"#, "expected a string key")
        assertRejects(#"{"a":1 "b":2}"#, "expected ',' or '}'")
        assertRejects("[1,]", "expected a value")
        assertRejects("[1 2]", "expected ',' or ']'")
        assertRejects("[1", "unexpected end of input in array")
        assertRejects(#"{"a":1"#, "unexpected end of input in object")
        assertRejects("{} {}", "unexpected data after the JSON value", offset: 3)
        assertRejects("tru", "expected 'true'")
        assertRejects("nul", "expected 'null'")
        assertRejects("True", "expected a value")
        assertRejects("{a:1}", "expected a string key")
        assertRejects("['a']", "unexpected ''', expected a value")
        assertRejects(#"{"a":1,"a":2}"#, "duplicate key 'a'", offset: 7)
        assertRejects([0x5B, 0x00, 0x5D], "unexpected byte 0x00")
    }

    func testDepthLimit() throws {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        XCTAssertNoThrow(try parse(ok))
        let tooDeep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        assertRejects(tooDeep, "nesting deeper than 32 levels")
        let objects = String(repeating: #"{"a":"#, count: 33) + "1" + String(repeating: "}", count: 33)
        assertRejects(objects, "nesting deeper than 32 levels")
        // A huge unbalanced nesting attempt fails fast without recursion beyond the limit.
        assertRejects(String(repeating: "[", count: 100_000), "nesting deeper")
        XCTAssertThrowsError(try JSONParser.parse(Array("[[[]]]".utf8), maxDepth: 2))
    }

    func testErrorDescriptionNamesOffset() {
        XCTAssertEqual(JSONParseError(offset: 4, reason: "expected ':' after object key, found '}'").description,
                       "expected ':' after object key, found '}' at byte 4")
    }

    func testParsesFromRawBuffer() throws {
        let bytes = Array(#"{"x":[true,null]}"#.utf8)
        let v = try bytes.withUnsafeBytes { try JSONParser.parse($0) }
        XCTAssertEqual(v, ["x": [true, nil]])
    }
}
