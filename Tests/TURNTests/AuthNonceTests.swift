import STUN
import XCTest
@testable import TURN

final class AuthNonceTests: XCTestCase {
    private let client = TransportAddress(ip: IPAddress("192.0.2.10")!, port: 40000)
    private let now: UInt64 = 1_700_000_000

    private func bytes(_ nonce: IssuedNonce) -> [UInt8] { nonce.withUnsafeBytes { Array($0) } }

    private func check(_ issuer: NonceIssuer, _ nonce: [UInt8], _ client: TransportAddress, _ now: UInt64) -> NonceVerdict {
        nonce.withUnsafeBytes { issuer.validate($0, for: client, now: now) }
    }

    func testRoundTripIsValidThroughoutLifetime() {
        let issuer = NonceIssuer()
        let nonce = bytes(issuer.issue(for: client, now: now))
        XCTAssertEqual(nonce.count, issuer.nonceLength)
        XCTAssertEqual(nonce.count, 30)
        XCTAssertEqual(check(issuer, nonce, client, now), .valid)
        XCTAssertEqual(check(issuer, nonce, client, now + 599), .valid)
        XCTAssertEqual(issuer.lifetime, 600)
    }

    func testStaleAfterLifetime() {
        let issuer = NonceIssuer(lifetime: 30)
        let nonce = bytes(issuer.issue(for: client, now: now))
        XCTAssertEqual(check(issuer, nonce, client, now + 29), .valid)
        XCTAssertEqual(check(issuer, nonce, client, now + 30), .stale)
        XCTAssertEqual(check(issuer, nonce, client, now + 100_000), .stale)
    }

    func testFutureTimestampBeyondSkewIsStale() {
        let issuer = NonceIssuer()
        let nonce = bytes(issuer.issue(for: client, now: now))
        XCTAssertEqual(check(issuer, nonce, client, now - NonceIssuer.maxFutureSkew), .valid)
        XCTAssertEqual(check(issuer, nonce, client, now - NonceIssuer.maxFutureSkew - 1), .stale)
    }

    func testOtherClientIsInvalid() {
        let issuer = NonceIssuer()
        let nonce = bytes(issuer.issue(for: client, now: now))
        XCTAssertEqual(check(issuer, nonce, TransportAddress(ip: IPAddress("192.0.2.11")!, port: 40000), now), .invalid)
        XCTAssertEqual(check(issuer, nonce, TransportAddress(ip: IPAddress("2001:db8::1")!, port: 40000), now), .invalid)
        // IP-only binding by default: another port of the same host keeps the nonce…
        XCTAssertEqual(check(issuer, nonce, TransportAddress(ip: client.ip, port: 40001), now), .valid)
        // …and an IPv4-mapped IPv6 source (dual-stack socket) is the same client.
        XCTAssertEqual(check(issuer, nonce, TransportAddress(ip: IPAddress("::ffff:192.0.2.10")!, port: 1), now), .valid)
    }

    func testPortBinding() {
        let issuer = NonceIssuer(bindsPort: true)
        let nonce = bytes(issuer.issue(for: client, now: now))
        XCTAssertEqual(check(issuer, nonce, client, now), .valid)
        XCTAssertEqual(check(issuer, nonce, TransportAddress(ip: client.ip, port: 40001), now), .invalid)
    }

    func testIPv6Client() {
        let issuer = NonceIssuer(bindsPort: true)
        let v6 = TransportAddress(ip: IPAddress("2001:db8::42")!, port: 3478)
        let nonce = bytes(issuer.issue(for: v6, now: now))
        XCTAssertEqual(check(issuer, nonce, v6, now + 1), .valid)
        XCTAssertEqual(check(issuer, nonce, TransportAddress(ip: IPAddress("2001:db8::43")!, port: 3478), now), .invalid)
    }

    func testEveryTamperedByteIsInvalid() {
        let issuer = NonceIssuer()
        let nonce = bytes(issuer.issue(for: client, now: now))
        for index in nonce.indices {
            var tampered = nonce
            tampered[index] = tampered[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            XCTAssertEqual(check(issuer, tampered, client, now), .invalid, "byte \(index)")
        }
    }

    func testWrongLengthAndGarbageAreInvalid() {
        let issuer = NonceIssuer()
        let nonce = bytes(issuer.issue(for: client, now: now))
        XCTAssertEqual(check(issuer, [], client, now), .invalid)
        XCTAssertEqual(check(issuer, Array(nonce.dropLast()), client, now), .invalid)
        XCTAssertEqual(check(issuer, nonce + [UInt8(ascii: "A")], client, now), .invalid)
        XCTAssertEqual(check(issuer, [UInt8](repeating: UInt8(ascii: "A"), count: nonce.count), client, now), .invalid)
        XCTAssertEqual(check(issuer, [UInt8](repeating: 0xFF, count: nonce.count), client, now), .invalid)
        var badChar = nonce
        badChar[nonce.count - 1] = UInt8(ascii: "=")
        XCTAssertEqual(check(issuer, badChar, client, now), .invalid)
    }

    func testOtherProcessSecretIsInvalidButSharedSecretWorks() {
        let secret = Array("0123456789abcdef-shared".utf8)
        let a = NonceIssuer(secret: secret)!, b = NonceIssuer(secret: secret)!
        let nonce = bytes(a.issue(for: client, now: now))
        XCTAssertEqual(check(b, nonce, client, now + 5), .valid)
        XCTAssertEqual(check(NonceIssuer(), nonce, client, now), .invalid)
        XCTAssertEqual(check(NonceIssuer(secret: secret + [1])!, nonce, client, now), .invalid)
        XCTAssertNil(NonceIssuer(secret: Array("short".utf8)))
        XCTAssertEqual(bytes(a.issue(for: client, now: now)), bytes(b.issue(for: client, now: now)))
    }

    func testCookiePrefixAndFeatureBits() {
        let issuer = NonceIssuer()
        let nonce = issuer.issue(for: client, now: now)
        XCTAssertTrue(nonce.description.hasPrefix("obMatJos2AAAD2"), nonce.description)
        XCTAssertEqual(nonce.withUnsafeBytes { NonceSecurityFeatures.parse(nonce: $0) },
                       [.passwordAlgorithms, .usernameAnonymity])

        let onlyAlgorithms = NonceIssuer(features: .passwordAlgorithms).issue(for: client, now: now)
        XCTAssertTrue(onlyAlgorithms.description.hasPrefix("obMatJos2AAAB"))
        XCTAssertEqual(onlyAlgorithms.withUnsafeBytes { NonceSecurityFeatures.parse(nonce: $0) }, .passwordAlgorithms)

        // RFC 8489 Appendix B.1 vector: "AAAC" = username anonymity (bit 1, erratum 6290).
        let rfc = Array("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA".utf8)
        XCTAssertEqual(rfc.withUnsafeBytes { NonceSecurityFeatures.parse(nonce: $0) }, .usernameAnonymity)
        XCTAssertNil(Array("obMatJos2AA".utf8).withUnsafeBytes { NonceSecurityFeatures.parse(nonce: $0) })
        XCTAssertNil(Array("xbMatJos2AAAD".utf8).withUnsafeBytes { NonceSecurityFeatures.parse(nonce: $0) })
    }

    func testAlteringAdvertisedFeaturesInvalidatesNonce() {
        let issuer = NonceIssuer()
        var nonce = bytes(issuer.issue(for: client, now: now))
        nonce[12] = UInt8(ascii: "B")  // "AAAD" -> "AAAB": strip the USERHASH bit
        XCTAssertEqual(check(issuer, nonce, client, now), .invalid)
    }

    func testWithoutCookie() {
        let issuer = NonceIssuer(features: nil)
        let nonce = issuer.issue(for: client, now: now)
        XCTAssertEqual(nonce.count, 17)
        XCTAssertNil(nonce.withUnsafeBytes { NonceSecurityFeatures.parse(nonce: $0) })
        XCTAssertEqual(nonce.withUnsafeBytes { issuer.validate($0, for: client, now: now) }, .valid)
        // A cookie-less nonce is not accepted by an issuer configured with a cookie, even with the same secret.
        let secret = Array("0123456789abcdef".utf8)
        let plain = NonceIssuer(secret: secret, features: nil)!, cookie = NonceIssuer(secret: secret)!
        let fromPlain = bytes(plain.issue(for: client, now: now))
        XCTAssertEqual(check(cookie, fromPlain, client, now), .invalid)
    }

    func testCharsetIsLegalNonceText() {
        let issuer = NonceIssuer()
        for step in 0..<200 {
            let address = TransportAddress(ip: .v4(UInt32.random(in: 0...UInt32.max)), port: UInt16(step))
            let nonce = issuer.issue(for: address, now: now + UInt64(step) * 7919)
            nonce.withUnsafeBytes { value in
                XCTAssertTrue(IssuedNonce.isLegalNonceText(value))
                for byte in value {
                    let base64url = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte)
                        || (0x61...0x7A).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                    XCTAssertTrue(base64url, "unexpected byte \(byte)")
                }
            }
        }
        XCTAssertFalse(Array("a\"b".utf8).withUnsafeBytes { IssuedNonce.isLegalNonceText($0) })
        XCTAssertFalse(Array("a\\".utf8).withUnsafeBytes { IssuedNonce.isLegalNonceText($0) })
        XCTAssertTrue(Array("a\\\"b".utf8).withUnsafeBytes { IssuedNonce.isLegalNonceText($0) })
        XCTAssertFalse([UInt8](repeating: 0x41, count: 128).withUnsafeBytes { IssuedNonce.isLegalNonceText($0) })
        XCTAssertTrue([UInt8](repeating: 0x41, count: 127).withUnsafeBytes { IssuedNonce.isLegalNonceText($0) })
    }

    func testNoncesDifferPerClientAndTime() {
        let issuer = NonceIssuer()
        let a = issuer.issue(for: client, now: now)
        XCTAssertEqual(a, issuer.issue(for: client, now: now))
        XCTAssertNotEqual(a, issuer.issue(for: client, now: now + 1))
        XCTAssertNotEqual(a, issuer.issue(for: TransportAddress(ip: .v4(1), port: client.port), now: now))
    }
}
