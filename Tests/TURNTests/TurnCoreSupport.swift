import STUN
import XCTest

@testable import TURN

/// Authenticates by USERNAME alone (the real mechanism has its own tests): "alice" and "bob"
/// are users 1 and 2, "alice-expired" is user 1 with an expired REST credential; no USERNAME
/// gets a 401 challenge.
struct FakeAuth: TurnAuthenticating {
    let key: [UInt8] = Array(repeating: 0x5A, count: 16)
    /// A request carrying any NONCE counts as one that came back with ours.
    private(set) var sourceProven = false

    mutating func authenticate(_ request: StunMessageView, from client: TransportAddress, now: UInt64) -> AuthOutcome {
        sourceProven = request.nonce != nil
        guard let username = request.username.map({ String(decoding: $0, as: UTF8.self) }) else { return .challenge(code: 401) }
        switch username {
        case "alice": return .authenticated(TurnUser(key: 1), .sha1)
        case "bob": return .authenticated(TurnUser(key: 2), .sha1)
        case "alice-expired": return .authenticated(TurnUser(key: 1, expired: true), .sha1)
        default: return .challenge(code: 401)
        }
    }

    var responseKey: UnsafeRawBufferPointer { key.withUnsafeBytes { $0 } }

    func appendChallenge(to builder: inout StunMessageBuilder, for client: TransportAddress, now: UInt64) throws(StunBuildError) {
        try builder.append(.realm, utf8: "test.realm")
        try builder.append(.nonce, utf8: "nonce-1")
    }
}

/// Hands out relayed addresses 203.0.113.1:50000+ (and [2001:db8::1] for IPv6).
struct FakeRelays: RelayAddressProvider {
    var next: UInt16 = 50_000
    var available = 100
    var open: [TransportAddress] = []
    var closed: [TransportAddress] = []

    var reserved: [UInt64: TransportAddress] = [:]
    /// Relayed addresses the core tied to an allocation, in order.
    var bound: [(address: TransportAddress, id: AllocationID)] = []

    mutating func openRelay(family: RelayFamily, evenPort: Bool, reserveNext: Bool) -> (address: TransportAddress, reservation: UInt64?)? {
        guard available > 0 else { return nil }
        available -= 1
        next += evenPort && next % 2 == 1 ? 1 : 0
        let ip = family == .ipv4 ? IPAddress("203.0.113.1")! : IPAddress("2001:db8::1")!
        let address = TransportAddress(ip: ip, port: next)
        next += 1
        open.append(address)
        guard reserveNext else { return (address, nil) }
        let token = UInt64(next) << 32 | 0xABCD
        reserved[token] = TransportAddress(ip: ip, port: next)
        next += 1
        return (address, token)
    }

    mutating func claimReservation(_ token: UInt64) -> TransportAddress? { reserved.removeValue(forKey: token) }

    mutating func bind(_ address: TransportAddress, to id: AllocationID) { bound.append((address, id)) }

    mutating func closeRelay(_ address: TransportAddress) { closed.append(address) }
}

/// Builds a request; `attributes` appends whatever the test needs.
func turnRequest(_ method: StunMethod, username: String? = "alice", id: TransactionID = .random(),
                 _ attributes: (inout StunMessageBuilder) throws(StunBuildError) -> Void = { _ in }) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 512)
    let count = buffer.withUnsafeMutableBytes { raw -> Int in
        var builder = try! StunMessageBuilder(into: raw, type: StunMessageType(method: method, messageClass: .request), transactionID: id)
        if let username {
            let bytes = Array(username.utf8)
            bytes.withUnsafeBytes { try! builder.append(.username, bytes: $0) }
        }
        try! attributes(&builder)
        return builder.count
    }
    return Array(buffer[0..<count])
}

/// REQUESTED-TRANSPORT UDP.
func udpTransport(_ builder: inout StunMessageBuilder) throws(StunBuildError) {
    try builder.appendUInt32(.requestedTransport, 17 << 24)
}

let client = TransportAddress(ip: IPAddress("198.51.100.7")!, port: 40_000)
let server = TransportAddress(ip: IPAddress("203.0.113.1")!, port: 3478)
let clientTuple = FiveTuple(client: client, server: server, transport: .udp)
let second: UInt64 = 1_000_000_000

/// Runs requests through a core with fake auth and relays, returning parsed responses.
struct TurnHarness {
    var core: TurnCore
    var auth = FakeAuth()
    var relays = FakeRelays()
    var allowPeer: (TransportAddress) -> Bool = { _ in true }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 8)

    init(limits: TurnLimits = TurnLimits()) { core = TurnCore(limits: limits) }

    /// The response as bytes (empty when none).
    mutating func send(_ request: [UInt8], from tuple: FiveTuple = clientTuple, at now: UInt64 = 0) -> [UInt8] {
        let reply = request.withUnsafeBytes { raw -> TurnReply in
            let view = try! StunMessageView(raw)
            return core.handleRequest(view, from: tuple, now: now, auth: &auth, relays: &relays, policy: allowPeer, into: buffer)
        }
        guard case .reply(let length) = reply else { return [] }
        return Array(buffer[0..<length])
    }
}

/// The error code of a response, or nil for a success.
func errorCode(_ response: [UInt8]) -> Int? {
    response.withUnsafeBytes { raw in (try? StunMessageView(raw))?.errorCode?.code }
}

/// Appends an attribute from a byte array (the test's own bytes; the buffer is large enough).
func appendBytes(_ builder: inout StunMessageBuilder, _ type: AttributeType, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { try! builder.append(type, bytes: $0) }
}

/// A Send indication carrying `payload` for `peer`.
func sendIndication(to peer: TransportAddress, _ payload: [UInt8]) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 512)
    let n = buffer.withUnsafeMutableBytes { raw -> Int in
        var b = try! StunMessageBuilder(into: raw, type: StunMessageType(method: .send, messageClass: .indication), transactionID: .random())
        try! b.appendXorAddress(.xorPeerAddress, peer)
        payload.withUnsafeBytes { try! b.append(.data, bytes: $0) }
        return b.count
    }
    return Array(buffer[0..<n])
}
