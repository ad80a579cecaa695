import JSON
import XCTest

@testable import Control

final class ControlProtocolTests: XCTestCase {
    private func parse(_ text: String) throws(ControlRequestError) -> ControlRequest {
        try ControlRequest.parse(Array(text.utf8))
    }

    /// Asserts that `text` is refused as bad-request with a message containing `reason` and the
    /// given id echoed.
    private func assertRefused(_ text: String, _ reason: String, id: JSONValue = .null,
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            let request = try parse(text)
            XCTFail("accepted \(text) as \(request)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.failure.code, .badRequest, file: file, line: line)
            XCTAssertTrue(error.failure.message.contains(reason), "'\(error.failure.message)' does not mention '\(reason)'",
                          file: file, line: line)
            XCTAssertEqual(error.id, id, file: file, line: line)
            // The error response itself is a valid response line.
            XCTAssertEqual(try? ControlResponse.parse(error.response.serialized()), error.response, file: file, line: line)
        }
    }

    func testValidRequests() throws {
        let r = try parse(#"{"v":1,"id":7,"cmd":"device.add","args":{"id":"cam-1","role":"device"}}"# + "\n")
        XCTAssertEqual(r.id, 7)
        XCTAssertEqual(r.command, "device.add")
        XCTAssertEqual(r.args["id"], "cam-1")
        let s = try parse(#"  {"cmd":"status","id":"a-b","v":1}  "#)
        XCTAssertEqual(s.id, "a-b")
        XCTAssertEqual(s.args, .object([]))
        XCTAssertEqual(try parse(#"{"v":1,"id":-9223372036854775808,"cmd":"x"}"#).id, .number(JSONNumber(text: "-9223372036854775808")!))
        XCTAssertEqual(try parse(#"{"v":1,"id":"x","cmd":"x"}"# + "\r\n").command, "x")
        XCTAssertEqual(try parse(#"{"v":1,"id":"\#(String(repeating: "é", count: 64))","cmd":"x"}"#).command, "x")
    }

    func testRoundTrip() throws {
        let request = ControlRequest(id: "q1", command: "secret.rotate", args: ["overlapSeconds": 60])
        let bytes = request.serialized()
        XCTAssertEqual(bytes.last, 0x0A)
        XCTAssertEqual(bytes.filter { $0 == 0x0A }.count, 1)
        XCTAssertEqual(try ControlRequest.parse(bytes), request)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self),
                       #"{"v":1,"id":"q1","cmd":"secret.rotate","args":{"overlapSeconds":60}}"# + "\n")
    }

    func testMalformedJSON() {
        assertRefused("", "empty line")
        assertRefused("\n", "empty line")
        assertRefused("   \r\n", "empty line")
        assertRefused("{", "malformed JSON")
        assertRefused("{\"v\":1,}", "malformed JSON")
        assertRefused("nul", "malformed JSON")
        assertRefused("{\"v\":1}{\"v\":1}", "malformed JSON: unexpected data")
        assertRefused("{\"v\":1,\"v\":1,\"id\":1,\"cmd\":\"x\"}", "duplicate key")
        assertRefused("\u{FEFF}{}", "malformed JSON")
        assertRefused(String(repeating: "[", count: 100), "nesting")
        assertRefused("{\"v\":1,\"id\":1,\"cmd\":\"x\",\"args\":" + String(repeating: "[", count: 20) + String(repeating: "]", count: 20) + "}",
                      "nesting")
        XCTAssertThrowsError(try ControlRequest.parse([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]))
        XCTAssertThrowsError(try ControlRequest.parse([0x00]))
    }

    func testWrongShapes() {
        assertRefused("[1]", "must be a JSON object")
        assertRefused("\"x\"", "must be a JSON object")
        assertRefused("42", "must be a JSON object")
        assertRefused("null", "must be a JSON object")
        assertRefused(#"{"v":1,"cmd":"x"}"#, "missing \"id\"")
        assertRefused(#"{"v":1,"id":null,"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":true,"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":[1],"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":{},"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":1.5,"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":1e3,"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":"","cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":9223372036854775808,"cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":"# + String(repeating: "9", count: 5000) + #","cmd":"x"}"#, "\"id\" must be")
        assertRefused(#"{"v":1,"id":""# + String(repeating: "a", count: 129) + #"","cmd":"x"}"#, "\"id\" must be")
    }

    func testFieldErrorsEchoTheId() {
        assertRefused(#"{"id":3,"cmd":"x"}"#, "missing \"v\"", id: 3)
        assertRefused(#"{"v":2,"id":3,"cmd":"x"}"#, "unsupported protocol version 2", id: 3)
        assertRefused(#"{"v":0,"id":3,"cmd":"x"}"#, "unsupported protocol version 0", id: 3)
        assertRefused(#"{"v":"1","id":3,"cmd":"x"}"#, "\"v\" must be the integer 1", id: 3)
        assertRefused(#"{"v":1.0,"id":3,"cmd":"x"}"#, "\"v\" must be the integer 1", id: 3)
        assertRefused(#"{"v":null,"id":"k","cmd":"x"}"#, "\"v\" must be the integer 1", id: "k")
        assertRefused(#"{"v":1,"id":3}"#, "missing \"cmd\"", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":5}"#, "\"cmd\" must be a string", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":""}"#, "\"cmd\" must be 1–64", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":"Device.Add"}"#, "\"cmd\" must be 1–64", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":"a b"}"#, "\"cmd\" must be 1–64", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":""# + String(repeating: "a", count: 65) + #""}"#, "\"cmd\" must be 1–64", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":"x","args":[]}"#, "\"args\" must be a JSON object", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":"x","args":null}"#, "\"args\" must be a JSON object", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":"x","args":"a"}"#, "\"args\" must be a JSON object", id: 3)
        assertRefused(#"{"v":1,"id":3,"cmd":"x","extra":1}"#, "unknown field \"extra\"", id: 3)
    }

    /// Every prefix and single-byte corruption of a valid line gives a request or an error.
    func testTotalOnMutations() {
        let valid = Array(#"{"v":1,"id":"abc","cmd":"device.add","args":{"id":"cam\u00e9","groups":["a"],"n":-1.5e3}}"#.utf8)
        for length in 0...valid.count { _ = try? ControlRequest.parse(Array(valid[0..<length])) }
        for index in valid.indices {
            for byte: UInt8 in [0x00, 0x0A, 0x22, 0x5C, 0x7B, 0x7D, 0x80, 0xFF, 0x31] {
                var mutated = valid
                mutated[index] = byte
                _ = try? ControlRequest.parse(mutated)
                _ = try? ControlResponse.parse(mutated)
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? ControlRequest.parse(bytes)
            _ = try? ControlResponse.parse(bytes)
        }
    }

    func testResponses() throws {
        let ok = ControlResponse.ok(7, ["devices": []])
        XCTAssertEqual(String(decoding: ok.serialized(), as: UTF8.self), #"{"v":1,"id":7,"ok":true,"result":{"devices":[]}}"# + "\n")
        let error = ControlResponse.error("a", .notFound, "no device \"x\"")
        XCTAssertEqual(String(decoding: error.serialized(), as: UTF8.self),
                       #"{"v":1,"id":"a","ok":false,"error":{"code":"not-found","message":"no device \"x\""}}"# + "\n")
        XCTAssertEqual(try ControlResponse.parse(ok.serialized()), ok)
        XCTAssertEqual(try ControlResponse.parse(error.serialized()), error)
        XCTAssertTrue(ok.isOk)
        XCTAssertFalse(error.isOk)
        for code in ControlErrorCode.allCases {
            let response = ControlResponse.error(.null, code, "m\n\"")
            XCTAssertEqual(try ControlResponse.parse(response.serialized()), response)
        }
        let future = Array(#"{"v":1,"id":1,"ok":false,"error":{"code":"rate-limited","message":"slow down"}}"#.utf8)
        XCTAssertEqual(try ControlResponse.parse(future), .error(1, .internal, "rate-limited: slow down"))
        for bad in [#"{"v":2,"id":1,"ok":true,"result":1}"#, #"{"v":1,"id":1,"ok":true}"#, #"{"v":1,"id":1,"ok":"yes"}"#,
                    #"{"v":1,"id":1,"ok":false,"error":{"code":"x"}}"#, "[]", "{"] {
            XCTAssertThrowsError(try ControlResponse.parse(Array(bad.utf8)), bad)
        }
    }

    func testArgumentAccessors() throws {
        let r = try parse(#"{"v":1,"id":1,"cmd":"device.add","args":{"id":"c","relayOnly":true,"groups":["a","b"],"n":5,"x":null}}"#)
        XCTAssertEqual(try r.string("id"), "c")
        XCTAssertEqual(try r.optionalBool("relayOnly"), true)
        XCTAssertEqual(try r.optionalStringArray("groups"), ["a", "b"])
        XCTAssertEqual(try r.optionalInt("n", in: 0...10), 5)
        XCTAssertNil(try r.optionalString("x"))
        XCTAssertNil(try r.optionalString("absent"))
        XCTAssertThrowsError(try r.string("absent")) { XCTAssertTrue("\($0)".contains("missing argument \"absent\"")) }
        XCTAssertThrowsError(try r.optionalString("relayOnly")) { XCTAssertTrue("\($0)".contains("\"relayOnly\" must be a string")) }
        XCTAssertThrowsError(try r.optionalBool("id"))
        XCTAssertThrowsError(try r.optionalInt("n", in: 6...10))
        XCTAssertThrowsError(try r.optionalStringArray("n"))
        XCTAssertThrowsError(try r.requireOnlyArgs(["id"])) { XCTAssertTrue("\($0)".contains("unknown argument \"relayOnly\"")) }
        XCTAssertNoThrow(try r.requireOnlyArgs(["id", "relayOnly", "groups", "n", "x"]))
    }
}
