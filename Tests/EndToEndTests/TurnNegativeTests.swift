import Foundation
import Glibc
import STUN
import XCTest

/// A TURN answer parsed with the project's `StunMessageView`.
struct TurnAnswer: CustomStringConvertible {
    var type: StunMessageType
    var transactionID: TransactionID
    var errorCode: Int?
    var realm: String?
    var nonce: [UInt8]?
    var hasPasswordAlgorithms: Bool
    var relayed: [TransportAddress]
    var mapped: TransportAddress?
    var lifetime: UInt32?
    /// nil without MESSAGE-INTEGRITY, else whether it verifies with the client's key.
    var integrity: Bool?
    /// The datagram's size, its ERROR-CODE reason phrase, and whether it carries FINGERPRINT.
    var size = 0
    var reason = ""
    var hasFingerprint = false
    var reservationToken: [UInt8]?

    var isSuccess: Bool { type.messageClass == .successResponse }
    var nonceText: String { nonce.map { String(decoding: $0, as: UTF8.self) } ?? "" }

    init(_ bytes: [UInt8], key: [UInt8]) throws {
        var answer = try bytes.withUnsafeBytes { raw throws -> TurnAnswer in
            let view = try StunMessageView(raw)
            let relayed = view.attributes.filter { $0.type == .xorRelayedAddress }.compactMap { view.decodeXorAddress($0.value) }
            let integrity: Bool? = view.contains(.messageIntegrity)
                ? key.withUnsafeBytes { view.verifyMessageIntegrity(key: $0) } : nil
            return TurnAnswer(type: view.type, transactionID: view.transactionID, errorCode: view.errorCode?.code,
                              realm: view.realm.map { String(decoding: $0, as: UTF8.self) }, nonce: view.nonce.map { Array($0) },
                              hasPasswordAlgorithms: view.contains(.passwordAlgorithms), relayed: relayed,
                              mapped: view.xorAddress(), lifetime: view.lifetime, integrity: integrity)
        }
        try bytes.withUnsafeBytes { raw in
            let view = try StunMessageView(raw)
            answer.reason = view.errorCode.map { String(decoding: $0.reason, as: UTF8.self) } ?? ""
            answer.hasFingerprint = view.contains(.fingerprint)
            answer.reservationToken = view.attribute(.reservationToken).map(Array.init)
        }
        answer.size = bytes.count
        self = answer
    }

    private init(type: StunMessageType, transactionID: TransactionID, errorCode: Int?, realm: String?, nonce: [UInt8]?,
                 hasPasswordAlgorithms: Bool, relayed: [TransportAddress], mapped: TransportAddress?, lifetime: UInt32?,
                 integrity: Bool?) {
        self.type = type
        self.transactionID = transactionID
        self.errorCode = errorCode
        self.realm = realm
        self.nonce = nonce
        self.hasPasswordAlgorithms = hasPasswordAlgorithms
        self.relayed = relayed
        self.mapped = mapped
        self.lifetime = lifetime
        self.integrity = integrity
    }

    var description: String {
        "\(type.method) \(type.messageClass) error=\(errorCode.map(String.init) ?? "-") relayed=\(relayed) "
            + "realm=\(realm ?? "-") nonce=\(nonceText) lifetime=\(lifetime.map(String.init) ?? "-")"
    }
}

extension StunMessageBuilder {
    mutating func appendTestBytes(_ type: AttributeType, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append(type, bytes: $0) }
    }
}

/// A datagram and where it came from.
func receiveFrom(_ fd: Int32, timeout: Double) -> (bytes: [UInt8], source: TransportAddress)? {
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let deadline = monotonicSeconds() + timeout
    while true {
        let remaining = deadline - monotonicSeconds()
        guard remaining > 0 else { return nil }
        let ready = poll(&descriptor, 1, Int32(remaining * 1000) + 1)
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = buffer.withUnsafeMutableBytes { raw in
            SocketAddressBytes.withSockaddr(&storage) { recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length) }
        }
        if n < 0 { continue }
        guard let source = SocketAddressBytes.decode(storage) else { return nil }
        return (Array(buffer[0..<n]), source)
    }
}

/// A long-term-credential TURN client over UDP built on the project's STUN builder: it does
/// the 401 dance (unauthenticated request → REALM/NONCE → retry with USERNAME, REALM, NONCE
/// and MESSAGE-INTEGRITY keyed with MD5(username:realm:password)).
final class TurnTestClient {
    let socket: UDPClient
    let serverPort: UInt16
    var username: String
    var password: String
    var realm = "example.org"
    var nonce: [UInt8] = []

    init(port: UInt16, username: String = "alice", password: String = "secret", socket: UDPClient? = nil) throws {
        self.socket = try socket ?? UDPClient(bindTo: "127.0.0.1")
        serverPort = port
        self.username = username
        self.password = password
    }

    var key: [UInt8] { LongTermKey.md5(username: username, realm: realm, password: password) }
    var localAddress: TransportAddress { socket.localAddress }

    /// Builds a request of `method`; with `authenticated`, adds the credentials (the realm
    /// attribute can be overridden to test a wrong one).
    func build(_ method: StunMethod, authenticated: Bool, realmAttribute: String? = nil,
               _ body: (inout StunMessageBuilder) throws -> Void) throws -> StunRequest {
        try StunWire.request(type: StunMessageType(method: method, messageClass: .request)) { builder in
            try body(&builder)
            guard authenticated else { return }
            try builder.appendTestBytes(.username, Array(username.utf8))
            try builder.appendTestBytes(.realm, Array((realmAttribute ?? realm).utf8))
            try builder.appendTestBytes(.nonce, nonce)
            try key.withUnsafeBytes { try builder.appendMessageIntegrity(key: $0) }
        }
    }

    /// Sends `bytes` and waits (≤ 1 s per try, 2 tries) for the answer to `transactionID`;
    /// other datagrams are skipped.
    func exchange(_ request: StunRequest) throws -> TurnAnswer {
        for _ in 0..<2 {
            try socket.send(request.bytes, to: "127.0.0.1", port: serverPort)
            let deadline = monotonicSeconds() + 1
            while monotonicSeconds() < deadline {
                guard let bytes = socket.receive(timeout: deadline - monotonicSeconds()) else { break }
                guard bytes.count >= 20, bytes[0] & 0xC0 == 0,
                      let answer = try? TurnAnswer(bytes, key: key), answer.transactionID == request.transactionID else { continue }
                return answer
            }
        }
        throw HarnessError("no answer from rtcgate to a \(request.bytes.count)-byte request within 2 s")
    }

    /// An unauthenticated request: must be a 401 challenge; stores its NONCE.
    @discardableResult
    func challenge(_ method: StunMethod = .allocate, _ body: (inout StunMessageBuilder) throws -> Void = TurnTestClient.udpTransport) throws -> TurnAnswer {
        let answer = try exchange(try build(method, authenticated: false, body))
        if let nonce = answer.nonce { self.nonce = nonce }
        return answer
    }

    /// An authenticated request (fetching a nonce first if there is none, and once more on 438).
    func request(_ method: StunMethod, realmAttribute: String? = nil,
                 _ body: (inout StunMessageBuilder) throws -> Void) throws -> TurnAnswer {
        if nonce.isEmpty { try challenge(method, body) }
        var answer = try exchange(try build(method, authenticated: true, realmAttribute: realmAttribute, body))
        if answer.errorCode == 438, let fresh = answer.nonce {
            nonce = fresh
            answer = try exchange(try build(method, authenticated: true, realmAttribute: realmAttribute, body))
        }
        return answer
    }

    static func udpTransport(_ builder: inout StunMessageBuilder) throws {
        try builder.appendUInt32(.requestedTransport, 17 << 24)
    }

    func allocate(dualStack: Bool = false) throws -> TurnAnswer {
        try request(.allocate) { builder in
            try Self.udpTransport(&builder)
            if dualStack { try builder.appendUInt32(.additionalAddressFamily, 0x02 << 24) }
        }
    }

    func refresh(lifetime: UInt32 = 600) throws -> TurnAnswer {
        try request(.refresh) { try $0.appendUInt32(.lifetime, lifetime) }
    }

    func createPermission(_ peers: [TransportAddress]) throws -> TurnAnswer {
        try request(.createPermission) { builder in
            for peer in peers { try builder.appendXorAddress(.xorPeerAddress, peer) }
        }
    }

    func channelBind(_ channel: UInt16, to peer: TransportAddress) throws -> TurnAnswer {
        try request(.channelBind) { builder in
            try builder.appendUInt32(.channelNumber, UInt32(channel) << 16)
            try builder.appendXorAddress(.xorPeerAddress, peer)
        }
    }

    /// A Send indication carrying `data` to `peer`.
    func sendIndication(_ data: [UInt8], to peer: TransportAddress) throws {
        let indication = try StunWire.request(type: StunMessageType(method: .send, messageClass: .indication)) { builder in
            try builder.appendXorAddress(.xorPeerAddress, peer)
            try builder.appendTestBytes(.data, data)
        }
        try socket.send(indication.bytes, to: "127.0.0.1", port: serverPort)
    }

    /// A ChannelData message on `channel`.
    func sendChannelData(_ data: [UInt8], channel: UInt16) throws {
        let header: [UInt8] = [UInt8(channel >> 8), UInt8(channel & 0xFF), UInt8(data.count >> 8), UInt8(data.count & 0xFF)]
        try socket.send(header + data, to: "127.0.0.1", port: serverPort)
    }
}

func peerAddress(_ text: String, _ port: UInt16 = 9) -> TransportAddress {
    TransportAddress(ip: IPAddress(text)!, port: port)
}

/// Live refusals of the built `rtcgate`: authentication, peer policy, allocation ownership,
/// quotas, and relaying only what the client bound or permitted.
final class TurnNegativeTests: XCTestCase {
    private func startGateway(_ flags: [String], users: [String] = ["alice:secret"]) throws -> (GatewayProcess, ClosedRange<UInt16>) {
        let port = try freePort()
        let range = try freeRelayRange(avoiding: [port])
        var all = ["--realm", "example.org", "--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)"]
        for user in users { all += ["--user", user] }
        return (try GatewayProcess(flags: all + flags, port: port), range)
    }

    private func assertError(_ answer: TurnAnswer, _ code: Int, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(answer.type.messageClass, .errorResponse, "\(what): \(answer)", file: file, line: line)
        XCTAssertEqual(answer.errorCode, code, "\(what): \(answer)", file: file, line: line)
    }

    private func assertSuccess(_ answer: TurnAnswer, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(answer.type.messageClass, .successResponse, "\(what): \(answer)", file: file, line: line)
        XCTAssertEqual(answer.integrity, true, "\(what): success signed with the user's key: \(answer)", file: file, line: line)
    }

    /// No credentials → 401 with REALM and a compact NONCE (no cookie, no PASSWORD-ALGORITHMS
    /// by default); wrong
    /// password, tampered nonce, unknown user, wrong realm → 401; the right ones → an
    /// allocation in the configured range, signed with the user's key.
    func testChallengeAndBadCredentials() throws {
        let (gateway, range) = try startGateway(["--workers", "2"])
        let alice = try TurnTestClient(port: gateway.port)
        let challenge = try alice.challenge()
        XCTAssertEqual(challenge.type, StunMessageType(method: .allocate, messageClass: .errorResponse), "\(challenge)")
        XCTAssertEqual(challenge.errorCode, 401, "\(challenge)")
        XCTAssertEqual(challenge.realm, "example.org", "\(challenge)")
        XCTAssertFalse(challenge.nonceText.hasPrefix("obMatJos2"), "no security features offered by default: \(challenge.nonceText)")
        XCTAssertFalse(challenge.hasPasswordAlgorithms, "no PASSWORD-ALGORITHMS by default: \(challenge)")
        XCTAssertNil(challenge.integrity, "a challenge is not signed")
        XCTAssertTrue(challenge.relayed.isEmpty)

        // Wrong password (same socket, valid nonce).
        let wrong = try TurnTestClient(port: gateway.port, password: "Secret")
        wrong.nonce = challenge.nonce ?? []
        let wrongAnswer = try wrong.allocate()
        assertError(wrongAnswer, 401, "wrong password")
        XCTAssertEqual(wrongAnswer.realm, "example.org", "a 401 carries the REALM again: \(wrongAnswer)")
        XCTAssertNotNil(wrongAnswer.nonce, "a 401 carries a NONCE again: \(wrongAnswer)")

        // Tampered nonce: one payload character changed.
        var tampered = challenge.nonce ?? []
        XCTAssertGreaterThan(tampered.count, 10)
        if tampered.count > 10 {
            tampered[10] = tampered[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            alice.nonce = tampered
            assertError(try alice.allocate(), 401, "tampered nonce")
            alice.nonce = Array(tampered.dropLast())
            assertError(try alice.allocate(), 401, "truncated nonce")
        }

        // Unknown user, with a fresh valid nonce.
        let mallory = try TurnTestClient(port: gateway.port, username: "mallory", password: "secret")
        assertError(try mallory.allocate(), 401, "unknown user")

        // Right password, wrong realm attribute.
        alice.nonce = challenge.nonce ?? []
        assertError(try alice.request(.allocate, realmAttribute: "evil.example", TurnTestClient.udpTransport), 401, "wrong realm")

        // And nothing was allocated by any of that: the right credentials now succeed once.
        let allocated = try alice.allocate()
        assertSuccess(allocated, "alice's Allocate")
        XCTAssertEqual(allocated.relayed.count, 1, "\(allocated)")
        if let relayed = allocated.relayed.first {
            XCTAssertEqual(relayed.ip, IPAddress("127.0.0.1"), "\(allocated)")
            XCTAssertTrue(range.contains(relayed.port), "relayed port \(relayed.port) outside \(range)")
        }
        XCTAssertEqual(allocated.mapped, alice.localAddress, "XOR-MAPPED-ADDRESS is the client: \(allocated)")
        XCTAssertGreaterThan(allocated.lifetime ?? 0, 0, "\(allocated)")
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertEqual(counters["turn_allocations"], "1", "only the good Allocate holds one:\n\(exit.log)")
    }

    /// The default policy (no allowed-peer-ip) refuses loopback, private, link-local, metadata,
    /// IPv4-mapped and NAT64-embedded loopback peers with 403, and permits a public address.
    func testDefaultPeerPolicy() throws {
        let (gateway, _) = try startGateway(["--workers", "2"])
        let alice = try TurnTestClient(port: gateway.port)
        let allocated = try alice.allocate(dualStack: true)
        assertSuccess(allocated, "dual-stack Allocate")
        XCTAssertEqual(allocated.relayed.count, 2, "IPv4 and IPv6 relayed addresses: \(allocated)")
        for peer in ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "::ffff:127.0.0.1", "::1", "64:ff9b::7f00:1"] {
            assertError(try alice.createPermission([peerAddress(peer)]), 403, "CreatePermission \(peer)")
            assertError(try alice.channelBind(0x4000, to: peerAddress(peer)), 403, "ChannelBind \(peer)")
        }
        // Public addresses: only the permission is installed; nothing is ever sent to them.
        assertSuccess(try alice.createPermission([peerAddress("8.8.8.8")]), "CreatePermission 8.8.8.8")
        assertSuccess(try alice.createPermission([peerAddress("2001:4860:4860::8888")]), "CreatePermission 2001:4860:4860::8888")
        // All or nothing: one refused peer refuses the whole request.
        assertError(try alice.createPermission([peerAddress("8.8.4.4"), peerAddress("127.0.0.1")]), 403, "mixed CreatePermission")
        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertEqual(counters["turn_to_peer"], "0", "nothing relayed to any peer:\n\(exit.log)")
    }

    /// Operator ranges: allowed 10.0.0.0/8 minus denied 10.0.0.5; allowed 127.0.0.1 still
    /// excludes the gateway's own listening address.
    func testOperatorPeerRanges() throws {
        let (gateway, _) = try startGateway(["--workers", "2", "--allowed-peer-ip", "10.0.0.0/8", "--denied-peer-ip", "10.0.0.5",
                                             "--allowed-peer-ip", "127.0.0.1"])
        let alice = try TurnTestClient(port: gateway.port)
        assertSuccess(try alice.allocate(), "Allocate")
        assertSuccess(try alice.createPermission([peerAddress("10.0.0.1")]), "CreatePermission 10.0.0.1")
        assertSuccess(try alice.createPermission([peerAddress("10.200.3.4")]), "CreatePermission 10.200.3.4")
        assertError(try alice.createPermission([peerAddress("10.0.0.5")]), 403, "CreatePermission denied 10.0.0.5")
        assertError(try alice.channelBind(0x4001, to: peerAddress("10.0.0.5")), 403, "ChannelBind denied 10.0.0.5")
        assertError(try alice.createPermission([peerAddress("192.168.1.1")]), 403, "CreatePermission 192.168.1.1 (not allowed)")
        let own = peerAddress("127.0.0.1", gateway.port)
        assertError(try alice.createPermission([own]), 403, "CreatePermission to the gateway's own \(own)")
        assertError(try alice.channelBind(0x4002, to: own), 403, "ChannelBind to the gateway's own \(own)")
        let otherPort: UInt16 = gateway.port == 9 ? 10 : 9
        assertSuccess(try alice.createPermission([peerAddress("127.0.0.1", otherPort)]), "CreatePermission 127.0.0.1:\(otherPort)")
        gateway.stopCleanly()
    }

    /// Allocation ownership: bob on alice's 5-tuple → 441; alice from another socket → 437; a
    /// second Allocate (new transaction) on the same 5-tuple → 437, while a retransmission of
    /// the first gets the same success again.
    func testAllocationHijack() throws {
        let (gateway, _) = try startGateway(["--workers", "2", "--allowed-peer-ip", "127.0.0.1"],
                                            users: ["alice:secret", "bob:pw2"])
        let alice = try TurnTestClient(port: gateway.port)
        assertError(try alice.challenge(), 401, "unauthenticated Allocate")
        let allocate = try alice.build(.allocate, authenticated: true, TurnTestClient.udpTransport)
        let allocated = try alice.exchange(allocate)
        assertSuccess(allocated, "alice's Allocate")
        let relayed = allocated.relayed.first

        let bob = try TurnTestClient(port: gateway.port, username: "bob", password: "pw2", socket: alice.socket)
        assertError(try bob.refresh(), 441, "bob's Refresh on alice's 5-tuple")
        assertError(try bob.createPermission([peerAddress("127.0.0.1")]), 441, "bob's CreatePermission on alice's 5-tuple")
        assertError(try bob.channelBind(0x4000, to: peerAddress("127.0.0.1")), 441, "bob's ChannelBind on alice's 5-tuple")
        assertError(try bob.refresh(lifetime: 0), 441, "bob deleting alice's allocation")

        let elsewhere = try TurnTestClient(port: gateway.port)
        assertError(try elsewhere.refresh(), 437, "alice's Refresh from another socket")
        assertError(try elsewhere.createPermission([peerAddress("127.0.0.1")]), 437, "alice's CreatePermission from another socket")

        assertError(try alice.allocate(), 437, "a second Allocate on the same 5-tuple")
        let again = try alice.exchange(allocate)
        assertSuccess(again, "retransmitted first Allocate")
        XCTAssertEqual(again.relayed.first, relayed, "a retransmission gets the same relayed address")

        // The allocation survived all of it.
        let refreshed = try alice.refresh()
        assertSuccess(refreshed, "alice's own Refresh")
        gateway.stopCleanly()
    }

    /// user-quota 1 (one worker): a second allocation by alice from another socket → 486;
    /// once the first is deleted, it succeeds.
    func testUserQuota() throws {
        let (gateway, _) = try startGateway(["--workers", "1", "--user-quota", "1"], users: ["alice:secret", "bob:pw2"])
        let first = try TurnTestClient(port: gateway.port)
        assertSuccess(try first.allocate(), "first Allocate")
        let second = try TurnTestClient(port: gateway.port)
        assertError(try second.allocate(), 486, "second Allocate over the quota")
        let bob = try TurnTestClient(port: gateway.port, username: "bob", password: "pw2")
        assertSuccess(try bob.allocate(), "bob has his own quota")
        let deleted = try first.refresh(lifetime: 0)
        assertSuccess(deleted, "deleting the first allocation")
        XCTAssertEqual(deleted.lifetime, 0, "\(deleted)")
        assertSuccess(try second.allocate(), "second Allocate once the first is gone")
        gateway.stopCleanly()
    }

    /// ChannelData on an unbound channel and a Send indication to an unpermitted peer reach
    /// nobody; after CreatePermission / ChannelBind the same messages do, from the relayed
    /// address, and the peer's answer comes back as a Data indication / ChannelData.
    func testRelayNeedsPermissionOrChannel() throws {
        let (gateway, _) = try startGateway(["--workers", "2", "--allowed-peer-ip", "127.0.0.1"])
        let alice = try TurnTestClient(port: gateway.port)
        let allocated = try alice.allocate()
        assertSuccess(allocated, "Allocate")
        let relayed = try XCTUnwrap(allocated.relayed.first, "\(allocated)")
        let peerSocket = try UDPClient(bindTo: "127.0.0.1")
        let peer = peerSocket.localAddress

        try alice.sendChannelData(Array("unbound channel".utf8), channel: 0x4000)
        try alice.sendIndication(Array("no permission".utf8), to: peer)
        try alice.sendChannelData(Array("other unbound channel".utf8), channel: 0x7FFE)
        let leaked = receiveFrom(peerSocket.fd, timeout: 0.5)
        XCTAssertNil(leaked, "the peer received \(leaked.map { String(decoding: $0.bytes, as: UTF8.self) } ?? "") without a permission")

        // Permission: the Send indication now arrives, from the relayed address.
        assertSuccess(try alice.createPermission([peer]), "CreatePermission \(peer)")
        try alice.sendChannelData(Array("still unbound".utf8), channel: 0x4000)
        let permitted = Array("permitted".utf8)
        try alice.sendIndication(permitted, to: peer)
        let viaSend = receiveFrom(peerSocket.fd, timeout: 2)
        XCTAssertEqual(viaSend?.bytes, permitted, "Send indication after CreatePermission")
        XCTAssertEqual(viaSend?.source, relayed, "relayed from the allocation's address")
        XCTAssertNil(receiveFrom(peerSocket.fd, timeout: 0.3), "the unbound ChannelData stayed dropped")

        // The peer answers: a Data indication from the peer's address.
        try peerSocket.send(Array("pong-1".utf8), to: "127.0.0.1", port: relayed.port)
        let dataIndication = try XCTUnwrap(alice.socket.receive(timeout: 2), "no Data indication for the peer's answer")
        try dataIndication.withUnsafeBytes { raw in
            let view = try StunMessageView(raw)
            XCTAssertEqual(view.type, StunMessageType(method: .data, messageClass: .indication))
            XCTAssertEqual(view.xorAddress(.xorPeerAddress), peer)
            XCTAssertEqual(view.attribute(.data).map { Array($0) }, Array("pong-1".utf8))
        }

        // Channel: ChannelData on the bound channel arrives, and the answer comes back on it.
        assertSuccess(try alice.channelBind(0x4001, to: peer), "ChannelBind 0x4001")
        let channelled = Array("channelled".utf8)
        try alice.sendChannelData(channelled, channel: 0x4001)
        let viaChannel = receiveFrom(peerSocket.fd, timeout: 2)
        XCTAssertEqual(viaChannel?.bytes, channelled, "ChannelData after ChannelBind")
        XCTAssertEqual(viaChannel?.source, relayed)
        try peerSocket.send(Array("pong-2".utf8), to: "127.0.0.1", port: relayed.port)
        let channelData = try XCTUnwrap(alice.socket.receive(timeout: 2), "no ChannelData for the peer's answer")
        XCTAssertEqual(Array(channelData.prefix(4)), [0x40, 0x01, 0x00, 6], "ChannelData header")
        XCTAssertEqual(Array(channelData.dropFirst(4).prefix(6)), Array("pong-2".utf8))

        // A stranger writing to the relayed address is not forwarded (no permission for it).
        // (Permissions are per IP; 127.0.0.2 is loopback too but was never permitted.)
        let stranger = try UDPClient(bindTo: "127.0.0.2")
        try stranger.send(Array("stranger".utf8), to: "127.0.0.1", port: relayed.port)
        let strayed = alice.socket.receive(timeout: 0.3)
        XCTAssertNil(strayed, "a packet from an unpermitted peer was forwarded: \(strayed ?? [])")

        let exit = gateway.stopCleanly()
        let counters = logFields(exit.log, lineContaining: "final counters") ?? [:]
        XCTAssertEqual(counters["turn_to_peer"], "2", "exactly the two permitted packets:\n\(exit.log)")
        XCTAssertEqual(counters["turn_to_client"], "2", "exactly the two answers:\n\(exit.log)")
        // 0x4000 twice and 0x7FFE once; the Send indication before the permission and the stranger.
        XCTAssertEqual(counters["turn_drop_unbound_channel"], "3", exit.log)
        XCTAssertEqual(counters["turn_drop_no_permission"], "2", exit.log)
        XCTAssertEqual(counters["turn_relay_send_failures"], "0", exit.log)
    }
}
