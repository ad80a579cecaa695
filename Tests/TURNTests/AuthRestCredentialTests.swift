import Foundation
import STUN
import XCTest
@testable import TURN

final class AuthRestCredentialTests: XCTestCase {
    private func verdict(_ rest: RestCredentials, _ username: String, now: UInt64) -> RestVerdict {
        Array(username.utf8).withUnsafeBytes { rest.verdict(username: $0, now: now) }
    }

    private func keys(_ rest: RestCredentials, _ username: String, realm: String,
                      _ algorithm: LongTermKeyAlgorithm) -> [[UInt8]] {
        var output = [UInt8](repeating: 0, count: RestCredentials.maxSecrets * algorithm.keyLength)
        let count = Array(username.utf8).withUnsafeBytes { name in
            Array(realm.utf8).withUnsafeBytes { realm in
                output.withUnsafeMutableBytes { rest.keys(username: name, realm: realm, algorithm: algorithm, into: $0) }
            }
        }
        return (0..<count).map { Array(output[($0 * algorithm.keyLength)..<(($0 + 1) * algorithm.keyLength)]) }
    }

    func testMintMatchesKnownVector() throws {
        // Expected values from:
        // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"north",b"1700000000:cam-1",hashlib.sha1).digest()).decode())'
        let rest = RestCredentials(secrets: ["north"])
        let minted = try XCTUnwrap(rest.mint(clientId: "cam-1", now: 1_699_999_000, ttl: 1000))
        XCTAssertEqual(minted.username, "1700000000:cam-1")
        XCTAssertEqual(minted.password, "Eeb8+SNM7f3N7Pouraas6YDARGA=")
        XCTAssertEqual(minted.password.utf8.count, RestCredentials.passwordLength)
    }

    func testMintMatchesPythonForRandomInputs() throws {
        let script = "import hmac,hashlib,base64,sys\nfor s,u in zip(sys.argv[1::2],sys.argv[2::2]):"
            + " print(base64.b64encode(hmac.new(s.encode(),u.encode(),hashlib.sha1).digest()).decode())"
        var arguments = ["python3", "-c", script]
        var expected: [(String, String, String)] = []
        for index in 0..<8 {
            let secret = String((0..<(index * 9 + 1)).map { _ in "abcXYZ019:/+é".randomElement()! })
            let rest = RestCredentials(secrets: [secret])
            let minted = try XCTUnwrap(rest.mint(clientId: "client-\(index)-é", now: UInt64(index) * 1_000_003, ttl: 86_400))
            arguments += [secret, minted.username]
            expected.append((secret, minted.username, minted.password))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return XCTFail("cannot run python3: \(error)") }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return XCTFail("python3 failed") }
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, expected.map { $0.2 })
    }

    func testVerdicts() {
        let rest = RestCredentials(secrets: ["north"])
        XCTAssertEqual(verdict(rest, "1700000000:cam-1", now: 1_699_999_999), .valid(expiry: 1_700_000_000))
        XCTAssertEqual(verdict(rest, "1700000000:cam-1", now: 1_700_000_000), .expired(expiry: 1_700_000_000))
        XCTAssertEqual(verdict(rest, "1700000000:cam-1", now: 1_800_000_000), .expired(expiry: 1_700_000_000))
        XCTAssertEqual(verdict(rest, "1700000000", now: 1), .valid(expiry: 1_700_000_000))  // bare number (coturn)
        XCTAssertEqual(verdict(rest, "1700000000:", now: 1), .valid(expiry: 1_700_000_000))
        XCTAssertEqual(verdict(rest, "1700000000:a:b", now: 1), .valid(expiry: 1_700_000_000))
        XCTAssertEqual(verdict(rest, "cam-1", now: 1), .malformed)           // no colon, not a number
        XCTAssertEqual(verdict(rest, "cam-1:1700000000", now: 1), .malformed)
        XCTAssertEqual(verdict(rest, ":cam-1", now: 1), .malformed)
        XCTAssertEqual(verdict(rest, "", now: 1), .malformed)
        XCTAssertEqual(verdict(rest, "17a0:cam", now: 1), .malformed)
        XCTAssertEqual(verdict(rest, "-5:cam", now: 1), .malformed)
        XCTAssertEqual(verdict(rest, "99999999999999999999:cam", now: 1), .malformed)  // > UInt64.max
        XCTAssertEqual(verdict(rest, "18446744073709551615:x", now: 1), .valid(expiry: UInt64.max))
        XCTAssertEqual(verdict(rest, String(repeating: "1", count: 509), now: 1), .malformed)
    }

    func testKeysMatchLongTermKeyOfMintedPassword() throws {
        let rest = RestCredentials(secrets: ["north"])
        let minted = try XCTUnwrap(rest.mint(clientId: "cam-1", now: 1_699_999_000, ttl: 1000))
        let md5 = keys(rest, minted.username, realm: "example.org", .md5)
        XCTAssertEqual(md5, [LongTermKey.md5(username: minted.username, realm: "example.org", password: minted.password)])
        let sha = keys(rest, minted.username, realm: "example.org", .sha256)
        XCTAssertEqual(sha, [LongTermKey.sha256(username: minted.username, realm: "example.org", password: minted.password)])
        var password = [UInt8](repeating: 0, count: 28)
        let length = Array(minted.username.utf8).withUnsafeBytes { name in
            password.withUnsafeMutableBytes { rest.password(username: name, secretIndex: 0, into: $0) }
        }
        XCTAssertEqual(length, 28)
        XCTAssertEqual(String(decoding: password, as: UTF8.self), minted.password)
        let outOfRange = Array(minted.username.utf8).withUnsafeBytes { name in
            password.withUnsafeMutableBytes { rest.password(username: name, secretIndex: 1, into: $0) }
        }
        XCTAssertNil(outOfRange)
    }

    func testRotationKeepsOldCredentialsValid() throws {
        var rest = RestCredentials(secrets: ["north"])
        let old = try XCTUnwrap(rest.mint(clientId: "cam-1", now: 1_699_999_000, ttl: 1000))
        rest.rotate(adding: "south")
        XCTAssertEqual(rest.secrets.count, 2)
        // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"south",b"1700000000:cam-1",hashlib.sha1).digest()).decode())'
        let new = try XCTUnwrap(rest.mint(clientId: "cam-1", now: 1_699_999_000, ttl: 1000))
        XCTAssertEqual(new.password, "f/EjvNcwfyOmZXeQ0qGTr7Ze2zY=")
        let candidates = keys(rest, old.username, realm: "example.org", .md5)
        XCTAssertEqual(candidates.count, 2)
        XCTAssertEqual(candidates[0], LongTermKey.md5(username: new.username, realm: "example.org", password: new.password))
        XCTAssertEqual(candidates[1], LongTermKey.md5(username: old.username, realm: "example.org", password: old.password))
        rest.retireOldest()
        XCTAssertEqual(keys(rest, old.username, realm: "example.org", .md5),
                       [LongTermKey.md5(username: new.username, realm: "example.org", password: new.password)])
        for secret in ["a", "b", "c", "d", "e"] { rest.rotate(adding: secret) }
        XCTAssertEqual(rest.secrets.count, RestCredentials.maxSecrets)
        XCTAssertEqual(rest.secrets.first, Array("e".utf8))
    }

    func testKeysLimitedByOutputSize() {
        let rest = RestCredentials(secrets: ["one", "two", "three"])
        var output = [UInt8](repeating: 0, count: 16 * 2 + 15)
        let count = Array("1:x".utf8).withUnsafeBytes { name in
            Array("r".utf8).withUnsafeBytes { realm in
                output.withUnsafeMutableBytes { rest.keys(username: name, realm: realm, algorithm: .md5, into: $0) }
            }
        }
        XCTAssertEqual(count, 2)
    }

    func testMessageIntegrityVerifiesAgainstRotatedSecret() throws {
        var rest = RestCredentials(secrets: ["north"])
        let minted = try XCTUnwrap(rest.mint(clientId: "cam-1", now: 1_700_000_000, ttl: 3600))
        rest.rotate(adding: "south")
        let clientKey = LongTermKey.md5(username: minted.username, realm: "example.org", password: minted.password)
        var buffer = [UInt8](repeating: 0, count: 512)
        let message: [UInt8] = try buffer.withUnsafeMutableBytes { buffer in
            var builder = try StunMessageBuilder(into: buffer, type: StunMessageType(method: .binding, messageClass: .request),
                                                 transactionID: .random())
            try Array(minted.username.utf8).withUnsafeBytes { try builder.append(.username, bytes: $0) }
            try builder.append(.realm, utf8: "example.org")
            try clientKey.withUnsafeBytes { try builder.appendMessageIntegrity(key: $0) }
            return Array(builder.bytes)
        }
        let candidates = keys(rest, minted.username, realm: "example.org", .md5)
        let matches = try message.withUnsafeBytes { bytes in
            let view = try StunMessageView(bytes)
            return candidates.map { key in key.withUnsafeBytes { view.verifyMessageIntegrity(key: $0) } }
        }
        XCTAssertEqual(matches, [false, true])
    }

    func testEmptySecretList() {
        let rest = RestCredentials(secrets: [])
        XCTAssertNil(rest.mint(clientId: "cam-1", now: 1, ttl: 1))
        XCTAssertEqual(verdict(rest, "1700000000:cam-1", now: 1), .noSecrets)
        XCTAssertEqual(keys(rest, "1700000000:cam-1", realm: "r", .md5), [])
        XCTAssertTrue(RestCredentials(secrets: [""]).secrets.isEmpty)
    }

    func testMintRejectsOverlongUsernameAndSaturatesExpiry() throws {
        let rest = RestCredentials(secrets: ["north"])
        XCTAssertNil(rest.mint(clientId: String(repeating: "x", count: 500), now: 1_700_000_000, ttl: 1))
        let far = try XCTUnwrap(rest.mint(clientId: "c", now: UInt64.max - 1, ttl: 10))
        XCTAssertEqual(far.username, "18446744073709551615:c")
    }
}
