import Foundation
import XCTest
@testable import STUN

final class Base64Tests: XCTestCase {
    private func encode(_ text: String, _ alphabet: Base64.Alphabet = .standard) -> String? {
        let input = Array(text.utf8)
        var output = [UInt8](repeating: 0, count: 64)
        let count = input.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { Base64.encode(input, into: $0, alphabet) }
        }
        return count.map { String(decoding: output[0..<$0], as: UTF8.self) }
    }

    private func decode(_ text: String, _ alphabet: Base64.Alphabet = .standard) -> [UInt8]? {
        let input = Array(text.utf8)
        var output = [UInt8](repeating: 0, count: 64)
        let count = input.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { Base64.decode(input, into: $0, alphabet) }
        }
        return count.map { Array(output[0..<$0]) }
    }

    func testRFC4648Vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                       ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            XCTAssertEqual(encode(plain), encoded)
            XCTAssertEqual(decode(encoded), Array(plain.utf8))
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
        }
        XCTAssertEqual(encode("foob", .urlSafeUnpadded), "Zm9vYg")
        XCTAssertEqual(decode("Zm9vYg", .urlSafeUnpadded), Array("foob".utf8))
    }

    func testAlphabetsDiffer() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF]
        XCTAssertEqual(Base64.encode(bytes), "+/+/")
        var output = [UInt8](repeating: 0, count: 8)
        let count = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { Base64.encode(input, into: $0, .urlSafeUnpadded) }
        }
        XCTAssertEqual(count.map { String(decoding: output[0..<$0], as: UTF8.self) }, "-_-_")
        XCTAssertNil(decode("-_-_"))
        XCTAssertNil(decode("+/+/", .urlSafeUnpadded))
    }

    func testRejectsMalformedInput() {
        XCTAssertNil(decode("Zm9"))          // standard needs a multiple of four
        XCTAssertNil(decode("Z==="))         // too much padding
        XCTAssertNil(decode("Zm=v"))         // padding inside
        XCTAssertNil(decode("Zh=="))         // non-zero trailing bits
        XCTAssertNil(decode("Zm 9v"))
        XCTAssertNil(decode("Z", .urlSafeUnpadded))
        XCTAssertNil(decode("Zg==", .urlSafeUnpadded))
    }

    func testShortOutputIsRefused() {
        var small = [UInt8](repeating: 0, count: 3)
        let input = Array("foob".utf8)
        let encoded = input.withUnsafeBytes { input in small.withUnsafeMutableBytes { Base64.encode(input, into: $0) } }
        XCTAssertNil(encoded)
        let text = Array("Zm9vYg==".utf8)
        let decoded = text.withUnsafeBytes { text in small.withUnsafeMutableBytes { Base64.decode(text, into: $0) } }
        XCTAssertNil(decoded)
    }

    func testRandomRoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for alphabet in [Base64.Alphabet.standard, .urlSafeUnpadded] {
                var encoded = [UInt8](repeating: 0, count: 64)
                var decoded = [UInt8](repeating: 0, count: 64)
                let n = bytes.withUnsafeBytes { b in encoded.withUnsafeMutableBytes { Base64.encode(b, into: $0, alphabet) } }!
                XCTAssertEqual(n, Base64.encodedLength(length, alphabet))
                let m = encoded.withUnsafeBytes { e in
                    decoded.withUnsafeMutableBytes { Base64.decode(UnsafeRawBufferPointer(rebasing: e[0..<n]), into: $0, alphabet) }
                }
                XCTAssertEqual(m.map { Array(decoded[0..<$0]) }, bytes)
            }
        }
    }

    /// The `String` convenience agrees with Foundation's encoder in both alphabets.
    func testStringEncodingMatchesFoundation() {
        for length in 0...10 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 251) }
            let standard = Data(bytes).base64EncodedString()
            XCTAssertEqual(Base64.encode(bytes), standard)
            let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            XCTAssertEqual(Base64.encode(bytes, .urlSafeUnpadded), urlSafe)
        }
    }
}

final class HexTests: XCTestCase {
    func testDecodesEitherCaseAndRefusesAnythingElse() {
        XCTAssertEqual(Hex.decode(Array("00ff10Ab".utf8)), [0x00, 0xFF, 0x10, 0xAB])
        XCTAssertEqual(Hex.decode(Array("".utf8)), [])
        XCTAssertNil(Hex.decode(Array("abc".utf8)), "odd length")
        XCTAssertNil(Hex.decode(Array("0g".utf8)))
        XCTAssertNil(Hex.decode(Array("0x12".utf8)), "no prefix")
        XCTAssertEqual(Hex.decode("c0ffee".utf8), [0xC0, 0xFF, 0xEE])
    }
}
