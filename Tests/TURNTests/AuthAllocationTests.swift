import MallocCounter
import STUN
import XCTest
@testable import TURN

/// Hot-path lookups must not touch the Swift heap. Paths that run a digest pay only
/// libcrypto's own per-digest allocations (EVP_MD_CTX), measured here as a baseline.
final class AuthAllocationTests: XCTestCase {
    private let userName = Array("user7".utf8)
    private let realm = Array("example.org".utf8)

    /// Allocations of `body`, averaged over `rounds` calls.
    private func allocations(rounds: Int = 100, _ body: () -> Void) -> Double {
        body()  // warm up lazily initialised libcrypto state
        rtcgate_malloc_count_reset()
        for _ in 0..<rounds { body() }
        return Double(rtcgate_malloc_count()) / Double(rounds)
    }

    func testStoreLookupsAndVerdictsDoNotAllocate() {
        XCTAssertEqual(rtcgate_malloc_counter_linked(), 1)
        var sink: [Int] = []
        XCTAssertGreaterThanOrEqual(allocations { sink = [Int](repeating: 1, count: 100) }, 1, "positive control")
        XCTAssertEqual(sink.count, 100)
        var store = CredentialStore(realm: "example.org")
        for index in 0..<100 { store.addUser(name: "user\(index)", password: "pw\(index)") }
        let hash = LongTermKey.userhash(username: "user7", realm: "example.org")
        let rest = RestCredentials(secrets: ["north", "south"])
        let restName = Array("1700000000:cam-1".utf8)
        var found = 0
        let lookups = allocations {
            userName.withUnsafeBytes { if let user = store.user(named: $0) { found += user.withKey(.md5) { Int($0[0]) } ?? 0 } }
            hash.withUnsafeBytes { if store.user(userhash: $0) != nil { found += 1 } }
            restName.withUnsafeBytes { if case .valid = rest.verdict(username: $0, now: 1) { found += 1 } }
        }
        XCTAssertGreaterThan(found, 0)
        XCTAssertEqual(lookups, 0)
        let cookie = Array("obMatJos2AAAD".utf8)
        let parse = allocations { cookie.withUnsafeBytes { found += NonceSecurityFeatures.parse(nonce: $0) == nil ? 0 : 1 } }
        XCTAssertEqual(parse, 0)
    }

    func testDigestPathsAllocateOnlyInsideLibcrypto() {
        var mac = [UInt8](repeating: 0, count: 64)
        let key = [UInt8](repeating: 7, count: 32)
        let hmacBaseline = allocations {
            key.withUnsafeBytes { k in mac.withUnsafeMutableBytes { _ = LongTermKey.hmacSHA256(key: k, message: k, into: $0) } }
        }
        let md5Baseline = allocations {
            userName.withUnsafeBytes { n in
                mac.withUnsafeMutableBytes { _ = LongTermKey.md5(username: n, realm: n, password: n, into: $0) }
            }
        }
        let issuer = NonceIssuer()
        let client = TransportAddress(ip: .v4(0xC000_020A), port: 4000)
        var nonce = issuer.issue(for: client, now: 1_700_000_000)
        XCTAssertEqual(allocations { nonce = issuer.issue(for: client, now: 1_700_000_000) }, hmacBaseline)
        let validate = allocations {
            nonce.withUnsafeBytes { XCTAssertEqual(issuer.validate($0, for: client, now: 1_700_000_001), .valid) }
        }
        XCTAssertEqual(validate, hmacBaseline)

        let rest = RestCredentials(secrets: ["north", "south"])
        let restName = Array("1700000000:cam-1".utf8)
        var keys = [UInt8](repeating: 0, count: 64)
        let derive = allocations {
            restName.withUnsafeBytes { n in
                realm.withUnsafeBytes { r in
                    keys.withUnsafeMutableBytes { XCTAssertEqual(rest.keys(username: n, realm: r, algorithm: .md5, into: $0), 2) }
                }
            }
        }
        XCTAssertEqual(derive, 2 * (hmacBaseline + md5Baseline))  // per secret: one HMAC-SHA1, one MD5
        XCTAssertGreaterThan(hmacBaseline, 0)  // libcrypto's EVP_MD_CTX: proves the counter sees these paths
    }
}
