import STUN
import XCTest
@testable import TURN

final class AuthCredentialStoreTests: XCTestCase {
    private func named(_ store: CredentialStore, _ name: String) -> CredentialStore.User? {
        Array(name.utf8).withUnsafeBytes { store.user(named: $0) }
    }

    private func hashed(_ store: CredentialStore, _ hash: [UInt8]) -> CredentialStore.User? {
        hash.withUnsafeBytes { store.user(userhash: $0) }
    }

    private func key(_ user: CredentialStore.User?, _ algorithm: LongTermKeyAlgorithm) -> [UInt8]? {
        user?.withKey(algorithm) { Array($0) }
    }

    func testClearTextUserStoresBothKeys() {
        var store = CredentialStore(realm: "example.org")
        XCTAssertTrue(store.addUser(name: "alice", password: "secret"))
        let alice = named(store, "alice")
        XCTAssertEqual(key(alice, .md5), LongTermKey.md5(username: "alice", realm: "example.org", password: "secret"))
        // python3 -c 'import hashlib;print(hashlib.md5(b"alice:example.org:secret").hexdigest())'
        XCTAssertEqual(key(alice, .md5).map { $0.map { String(format: "%02x", $0) }.joined() },
                       "543e1aec5d3614f03141652d6ada51b2")
        XCTAssertEqual(key(alice, .sha256), LongTermKey.sha256(username: "alice", realm: "example.org", password: "secret"))
        XCTAssertEqual(store.name(of: alice!), "alice")
    }

    func testPreHashedEntryFromConfigLine() throws {
        let md5 = LongTermKey.md5(username: "bob", realm: "example.org", password: "hunter2")
        let hex = md5.map { String(format: "%02x", $0) }.joined()
        var store = CredentialStore(realm: "example.org")
        XCTAssertTrue(store.addUser(line: "bob:0x\(hex)"))
        XCTAssertTrue(store.addUser(line: "carol:pa:ss"))  // password may contain ':'
        XCTAssertTrue(store.addUser(line: "dave:0x1234"))  // not 32 hex digits: a clear-text password
        let bob = named(store, "bob")
        XCTAssertEqual(key(bob, .md5), md5)
        XCTAssertNil(key(bob, .sha256))
        XCTAssertEqual(bob?.hasSHA256Key, false)
        XCTAssertEqual(key(named(store, "carol"), .md5), LongTermKey.md5(username: "carol", realm: "example.org", password: "pa:ss"))
        XCTAssertEqual(key(named(store, "dave"), .md5), LongTermKey.md5(username: "dave", realm: "example.org", password: "0x1234"))
        let upper = "0X" + hex.uppercased()
        XCTAssertTrue(store.addUser(line: "erin:\(upper)"))
        XCTAssertEqual(key(named(store, "erin"), .md5), md5)
        let sha = LongTermKey.sha256(username: "fay", realm: "example.org", password: "pw")
        XCTAssertTrue(store.addUser(line: "fay:0x" + sha.map { String(format: "%02x", $0) }.joined()))
        XCTAssertEqual(key(named(store, "fay"), .sha256), sha)
        XCTAssertNil(key(named(store, "fay"), .md5))
    }

    func testUserhashLookup() {
        var store = CredentialStore(realm: "example.org")
        store.addUser(name: "alice", password: "secret")
        store.addUser(name: "bob", password: "x")
        let hash = LongTermKey.userhash(username: "bob", realm: "example.org")
        let bob = hashed(store, hash)
        XCTAssertEqual(bob.map { store.name(of: $0) }, "bob")
        XCTAssertEqual(key(bob, .md5), LongTermKey.md5(username: "bob", realm: "example.org", password: "x"))
        XCTAssertNil(hashed(store, LongTermKey.userhash(username: "bob", realm: "other.org")))
        XCTAssertNil(hashed(store, Array(hash.prefix(31))))
    }

    func testRFC8489AppendixB1Userhash() {
        // RFC 8489 B.1: username "<U+30DE><U+30C8><U+30EA><U+30C3><U+30AF><U+30B9>", realm "example.org".
        var store = CredentialStore(realm: "example.org")
        XCTAssertTrue(store.addUser(name: "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}", password: "TheMatrIX"))
        let hash: [UInt8] = [0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17,
                             0xda, 0x0f, 0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41,
                             0x40, 0x7f, 0x17, 0x04]
        XCTAssertNotNil(hashed(store, hash))
    }

    func testUnknownUserAndRejectedLines() {
        var store = CredentialStore(realm: "example.org")
        store.addUser(name: "alice", password: "secret")
        XCTAssertNil(named(store, "alic"))
        XCTAssertNil(named(store, "alice2"))
        XCTAssertNil(named(store, ""))
        XCTAssertFalse(store.addUser(line: "nocolon"))
        XCTAssertFalse(store.addUser(line: ":password"))
        XCTAssertFalse(store.addUser(name: "a:b", password: "x"))
        XCTAssertFalse(store.addUser(name: "k", key: [1, 2, 3]))
        XCTAssertNil(CredentialStore(realm: "r", lines: ["a:b", "bad"]))
        XCTAssertEqual(CredentialStore(realm: "r", lines: ["a:b", "c:d"])?.count, 2)
    }

    func testReplacingUserKeepsOneEntry() {
        var store = CredentialStore(realm: "example.org")
        store.addUser(name: "alice", password: "old")
        store.addUser(name: "alice", password: "new")
        XCTAssertEqual(store.count, 1)
        XCTAssertEqual(key(named(store, "alice"), .md5), LongTermKey.md5(username: "alice", realm: "example.org", password: "new"))
    }

    func testManyUsersGrowTables() {
        var store = CredentialStore(realm: "r")
        for index in 0..<1000 { XCTAssertTrue(store.addUser(name: "user\(index)", password: "pw\(index)")) }
        XCTAssertEqual(store.count, 1000)
        for index in stride(from: 0, to: 1000, by: 37) {
            let user = named(store, "user\(index)")
            XCTAssertEqual(user?.index, index)
            XCTAssertEqual(key(user, .md5), LongTermKey.md5(username: "user\(index)", realm: "r", password: "pw\(index)"))
            XCTAssertEqual(hashed(store, LongTermKey.userhash(username: "user\(index)", realm: "r"))?.index, index)
        }
        XCTAssertNil(named(store, "user1000"))
    }
}
