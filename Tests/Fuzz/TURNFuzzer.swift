// libFuzzer entry point for the TURN core: requests (through the real authenticator and
// through one that accepts any USERNAME, to reach the handlers), ChannelData and Send
// indications from clients, and datagrams from peers. Compiled by Tests/Fuzz/run.sh together
// with Sources/TURN/*.swift in one module, against a STUN module built beside it.
//
// Invariants checked: a reply fits its buffer and parses as a STUN response of the request's
// method and transaction id; relayed data lies inside the input; messages built for a client
// parse (Data indication) or frame (ChannelData) correctly. Any outcome is otherwise fine.

import STUN

/// Accepts any request with a USERNAME (user by first byte), so fuzz inputs reach the handlers.
private struct PermissiveAuth: TurnAuthenticating {
    let key: UnsafeMutableRawBufferPointer = {
        let key = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        key.initializeMemory(as: UInt8.self, repeating: 7)
        return key
    }()

    private(set) var sourceProven = false

    mutating func authenticate(_ request: StunMessageView, from client: TransportAddress, now: UInt64) -> AuthOutcome {
        sourceProven = request.nonce != nil
        guard let username = request.username, let first = username.first else { return .challenge(code: 401) }
        return .authenticated(TurnUser(key: UInt64(first), expired: first & 1 == 1), .sha1)
    }

    var responseKey: UnsafeRawBufferPointer { UnsafeRawBufferPointer(key) }

    func appendChallenge(to builder: inout StunMessageBuilder, for client: TransportAddress, now: UInt64) throws(StunBuildError) {
        try builder.append(.realm, utf8: "fuzz")
        try builder.append(.nonce, utf8: "nonce")
    }
}

/// Relayed addresses from a small fixed range, so tables fill and empty.
private struct FuzzRelays: RelayAddressProvider {
    var used = Set<UInt16>()
    var reserved: [UInt64: TransportAddress] = [:]

    mutating func openRelay(family: RelayFamily, evenPort: Bool, reserveNext: Bool) -> (address: TransportAddress, reservation: UInt64?)? {
        for port in UInt16(50_000)..<50_016 where !used.contains(port) && (!evenPort || port % 2 == 0) {
            used.insert(port)
            let ip: IPAddress = family == .ipv4 ? .v4(0xC633_6401) : .v6(0x2001_0DB8_0000_0000, 1)
            if reserveNext && !used.contains(port + 1) {
                used.insert(port + 1)
                reserved[UInt64(port + 1)] = TransportAddress(ip: ip, port: port + 1)
                return (TransportAddress(ip: ip, port: port), UInt64(port + 1))
            }
            return (TransportAddress(ip: ip, port: port), nil)
        }
        return nil
    }

    mutating func claimReservation(_ token: UInt64) -> TransportAddress? { reserved.removeValue(forKey: token) }
    mutating func closeRelay(_ address: TransportAddress) { used.remove(address.port) }
}

private func makeLimits() -> TurnLimits {
    var limits = TurnLimits()
    limits.maxAllocations = 8
    limits.userQuota = 3
    return limits
}

nonisolated(unsafe) private var core = TurnCore(limits: makeLimits())
nonisolated(unsafe) private var permissive = PermissiveAuth()
nonisolated(unsafe) private var relays = FuzzRelays()
nonisolated(unsafe) private var strict: TurnAuthenticator = {
    var users = CredentialStore(realm: "example.org")
    users.addUser(name: "alice", password: "secret")
    return TurnAuthenticator(users: users, rest: RestCredentials(secrets: ["fuzzfuzzfuzzfuzz"]),
                             nonces: NonceIssuer(secret: Array("0123456789abcdef0123".utf8))!, unixNow: { 1_700_000_000 })
}()
nonisolated(unsafe) private var now: UInt64 = 1_000_000_000
nonisolated(unsafe) private let response = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 16)
nonisolated(unsafe) private let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)

private let server = TransportAddress(ip: .v4(0xC633_6401), port: 3478)
private let clients = [TransportAddress(ip: .v4(0xC000_0201), port: 40_000), TransportAddress(ip: .v4(0xC000_0201), port: 40_001),
                       TransportAddress(ip: .v6(0x2001_0DB8_0000_0002, 2), port: 40_002)]

private func checkReply(_ reply: TurnReply, to request: StunMessageView) {
    guard case .reply(let length) = reply else { return }
    precondition(length <= response.count)
    let bytes = UnsafeRawBufferPointer(rebasing: response[0..<length])
    guard let parsed = try? StunMessageView(bytes) else { preconditionFailure("unparseable TURN reply") }
    precondition(parsed.transactionID == request.transactionID)
    precondition(parsed.type.method == request.type.method)
    precondition(parsed.type.messageClass == .successResponse || parsed.type.messageClass == .errorResponse)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func turnFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let selector = input.first else { return 0 }
    now &+= UInt64(selector) * 1_000_000_000 / 8
    let client = clients[Int(selector) % clients.count]
    let tuple = FiveTuple(client: client, server: server, transport: selector & 0x40 == 0 ? .udp : .tcp)
    let body = UnsafeRawBufferPointer(rebasing: input[1...])
    let policy: (TransportAddress) -> Bool = { $0.port & 1 == 0 }

    if let message = try? StunMessageView(body) {
        switch message.type.messageClass {
        case .request:
            checkReply(core.handleRequest(message, from: tuple, now: now, auth: &permissive, relays: &relays,
                                          policy: policy, into: response), to: message)
            var auth = strict
            checkReply(core.handleRequest(message, from: tuple, now: now, auth: &auth, relays: &relays,
                                          policy: policy, into: response), to: message)
        case .indication:
            if case .toPeer(let id, let relayedAddress, let peer, let relayed) = core.relaySendIndication(message, from: tuple, now: now) {
                checkRelayed(relayedAddress, of: id, toward: peer)
                precondition(relayed.baseAddress! >= body.baseAddress! && relayed.baseAddress! + relayed.count <= body.baseAddress! + body.count)
            }
        default:
            break
        }
    }
    if case .toPeer(let id, let relayedAddress, let peer, let relayed) = core.relayChannelData(body, from: tuple, now: now) {
        checkRelayed(relayedAddress, of: id, toward: peer)
        precondition(relayed.baseAddress! >= body.baseAddress! && relayed.baseAddress! + relayed.count <= body.baseAddress! + body.count)
    }
    // The same bytes as a datagram from a peer to every allocation.
    let length = min(body.count, slot.count - 128)
    for id in core.allocations.ids {
        let payload = UnsafeMutableRawBufferPointer(rebasing: slot[64..<(64 + length)])
        if length > 0 { payload.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[0..<length])) }
        let peer = TransportAddress(ip: .v4(0xC000_0200 | UInt32(selector & 0x0F)), port: UInt16(selector) << 1)
        if case .toClient(_, let fiveTuple, let message) = core.relayPeerData(payload, from: peer, to: id, now: now) {
            precondition(fiveTuple == core.allocations[id].fiveTuple)
            if message[0] >> 6 == 1 {
                precondition(ChannelData.parse(message) != nil)
            } else {
                precondition((try? StunMessageView(message))?.attribute(.data)?.count == length)
            }
        }
    }
    core.removeExpired(now: now, relays: &relays)
    return 0
}

/// A decision to send to a peer names a relayed address of the allocation, in the peer's family.
private func checkRelayed(_ relayed: TransportAddress, of id: AllocationID, toward peer: TransportAddress) {
    let allocation = core.allocations[id]
    precondition(relayed == allocation.relayed || relayed == allocation.additionalRelayed)
    precondition(relayed.ip.isIPv4 == peer.ip.isIPv4)
}
