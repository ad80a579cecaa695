import XCTest
@testable import JSON

final class JSONSerializerTests: XCTestCase {
    func testCompactOutput() {
        let v: JSONValue = ["v": 1, "type": "OFFER", "ok": true, "none": nil, "list": [1, "two", [:]]]
        XCTAssertEqual(v.jsonText, #"{"v":1,"type":"OFFER","ok":true,"none":null,"list":[1,"two",{}]}"#)
    }

    func testStringEscapes() {
        XCTAssertEqual(JSONValue.string("a\"b\\c/d").jsonText, #""a\"b\\c/d""#)
        XCTAssertEqual(JSONValue.string("\n\r\t\u{08}\u{0C}").jsonText, #""\n\r\t\b\f""#)
        XCTAssertEqual(JSONValue.string("\u{0}\u{1F}\u{7F}").jsonText, "\"\\u0000\\u001f\u{7F}\"")
        XCTAssertEqual(JSONValue.string("é😀").serialized(), [0x22, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x22])
    }

    func testNumbersWrittenWithOriginalText() throws {
        let text = #"{"a":1.50,"b":-0,"c":1E+400,"d":12345678901234567890123}"#
        XCTAssertEqual(try JSONParser.parse(Array(text.utf8)).jsonText, text)
    }

    func testRoundTrip() throws {
        let samples = [
            #"{"v":1,"type":"CANDIDATES","body":{"candidates":[{"candidate":"candidate:1 1 udp 2 10.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}],"done":false}}"#,
            #"["\u0000\"\\\n",{"k\u00e9y":[[],{}]},-1.5e-3,true,false,null]"#,
            #"{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n","emoji":"\ud83d\ude00"}"#,
        ]
        for text in samples {
            let v = try JSONParser.parse(Array(text.utf8))
            let again = try JSONParser.parse(v.serialized())
            XCTAssertEqual(again, v)
            XCTAssertEqual(again.serialized(), v.serialized())
        }
    }

    func testRandomValuesRoundTrip() throws {
        var rng = SplitMix64(state: 7)
        func random(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 4 ? 4 : 6), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .number(JSONNumber(Int.random(in: -1_000_000...1_000_000, using: &rng)))
            case 3:
                let scalars = (0..<Int.random(in: 0..<8, using: &rng)).map { _ -> Character in
                    let pool: [UInt32] = [0x0, 0x1F, 0x22, 0x5C, 0x41, 0xE9, 0x20AC, 0x1F600, 0x2028]
                    return Character(Unicode.Scalar(pool.randomElement(using: &rng)!)!)
                }
                return .string(String(scalars))
            case 4: return .array((0..<Int.random(in: 0..<4, using: &rng)).map { _ in random(depth + 1) })
            default:
                return .object((0..<Int.random(in: 0..<4, using: &rng)).map { i in ("k\(i)", random(depth + 1)) })
            }
        }
        for _ in 0..<500 {
            let v = random(0)
            XCTAssertEqual(try JSONParser.parse(v.serialized()), v)
        }
    }
}

/// A small deterministic generator for the randomized round trips.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
