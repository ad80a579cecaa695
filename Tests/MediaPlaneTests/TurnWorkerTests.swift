import Glibc
import MallocCounter
import MediaPlane
import Reactor
import STUN
import TURN
import XCTest

/// A TURN client driving a worker from the test thread: the long-term 401 dance, then
/// ChannelBind and ChannelData through real loopback sockets.
private final class TurnTestClient {
    let socket: UDPSocket
    let worker: MediaWorker
    let server: SocketAddress
    var realm: [UInt8] = []
    var nonce: [UInt8] = []
    let key = LongTermKey.md5(username: "alice", realm: "example.org", password: "secret")
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 8)

    init(worker: MediaWorker) throws {
        self.worker = worker
        server = worker.boundAddresses[0]
        socket = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
    }

    deinit { buffer.deallocate() }

    /// Sends a request (authenticated once a nonce is known) and returns the parsed response.
    func request(_ method: StunMethod, _ attributes: (inout StunMessageBuilder) throws(StunBuildError) -> Void) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 512)
        let count = try bytes.withUnsafeMutableBytes { raw throws -> Int in
            var b = try StunMessageBuilder(into: raw, type: StunMessageType(method: method, messageClass: .request), transactionID: .random())
            try attributes(&b)
            if !nonce.isEmpty {
                try Array("alice".utf8).withUnsafeBytes { try b.append(.username, bytes: $0) }
                try realm.withUnsafeBytes { try b.append(.realm, bytes: $0) }
                try nonce.withUnsafeBytes { try b.append(.nonce, bytes: $0) }
                try key.withUnsafeBytes { try b.appendMessageIntegrity(key: $0) }
            }
            return b.count
        }
        XCTAssertTrue(bytes.withUnsafeBytes { socket.send(UnsafeRawBufferPointer(rebasing: $0[0..<count]), to: server) })
        let reply = try XCTUnwrap(receive(), "no answer to \(method)")
        return reply
    }

    /// Runs the worker until this socket has a datagram (≤ 1 s).
    func receive() -> [UInt8]? {
        let deadline = MonotonicClock.now() + 1_000_000_000
        while MonotonicClock.now() < deadline {
            worker.loop.runOnce(maxWaitNanos: 2_000_000)
            let n = recv(socket.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n >= 0 { return Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        }
        return nil
    }
}

/// A worker on loopback with a TURN relay for user alice (realm example.org) on `ports` ports
/// starting at a per-process base, so parallel test runs do not collide.
private func makeTurnWorker(id: Int = 0, portBase: Int, ports: UInt16) throws -> MediaWorker {
    var config = MediaWorkerConfig()
    config.listenAddresses = [SocketAddress(ip: "127.0.0.1", port: 0)!]
    config.tcp = false
    config.poolSlots = 256
    var turn = TurnSettings(realm: "example.org", nonceSecret: Array("0123456789abcdef0123456789abcdef".utf8))
    turn.users.addUser(name: "alice", password: "secret")
    turn.relayIPv4 = IPAddress("127.0.0.1")
    let base = UInt16(portBase + Int(getpid() % 200) * Int(ports))
    turn.ports = base...(base + ports - 1)
    turn.policy = PeerPolicy(allowed: [AddressRange("127.0.0.1")!])
    config.turn = turn
    return try MediaWorker(id: id, config: config)
}

final class TurnWorkerTests: XCTestCase {
    private func makeWorker() throws -> MediaWorker { try makeTurnWorker(portBase: 40_000, ports: 100) }

    func testAllocateBindAndRelayBothWaysWithoutAllocating() throws {
        let worker = try makeWorker()
        let client = try TurnTestClient(worker: worker)
        // 401 with REALM and NONCE, then the authenticated Allocate.
        let challenge = try client.request(.allocate) { b throws(StunBuildError) in try b.appendUInt32(.requestedTransport, 17 << 24) }
        try challenge.withUnsafeBytes { raw in
            let view = try StunMessageView(raw)
            XCTAssertEqual(view.errorCode?.code, 401)
            client.realm = Array(try XCTUnwrap(view.realm))
            client.nonce = Array(try XCTUnwrap(view.nonce))
        }
        let allocated = try client.request(.allocate) { b throws(StunBuildError) in try b.appendUInt32(.requestedTransport, 17 << 24) }
        let relayed = try allocated.withUnsafeBytes { raw -> TransportAddress in
            let view = try StunMessageView(raw)
            XCTAssertNil(view.errorCode.map { $0.code }, "allocate failed")
            XCTAssertTrue(client.key.withUnsafeBytes { view.verifyMessageIntegrity(key: $0) })
            return try XCTUnwrap(view.xorAddress(.xorRelayedAddress))
        }
        let peer = try UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!)
        let peerAddress = TransportAddress(peer.localAddress)!
        let bound = try client.request(.channelBind) { b throws(StunBuildError) in
            try b.appendUInt32(.channelNumber, 0x4000 << 16)
            try b.appendXorAddress(.xorPeerAddress, peerAddress)
        }
        XCTAssertNil(bound.withUnsafeBytes { try? StunMessageView($0).errorCode?.code }, "channel bind failed")

        // ChannelData client → relay → peer, and the peer's echo → relay → client as ChannelData.
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 + 172, alignment: 8)
        defer { payload.deallocate() }
        payload.copyBytes(from: [0x40, 0x00, 0x00, 172] + [UInt8](repeating: 0x5A, count: 172))
        let peerBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 8)
        defer { peerBuffer.deallocate() }
        let relayAddress = SocketAddress(relayed)
        func roundTrips(_ count: Int) -> Int {
            var completed = 0
            for _ in 0..<count {
                _ = client.socket.send(UnsafeRawBufferPointer(payload), to: client.server)
                var echoed = false
                var spins = 0
                while spins < 200 {
                    worker.loop.runOnce(maxWaitNanos: 1_000_000)
                    let n = recv(peer.fd, peerBuffer.baseAddress, peerBuffer.count, Int32(MSG_DONTWAIT))
                    if n > 0 {
                        _ = peer.send(UnsafeRawBufferPointer(rebasing: peerBuffer[0..<n]), to: relayAddress)
                        echoed = true
                    }
                    if echoed, recv(client.socket.fd, client.buffer.baseAddress, client.buffer.count, Int32(MSG_DONTWAIT)) == 176,
                       client.buffer[0] == 0x40, client.buffer[3] == 172 {
                        completed += 1
                        break
                    }
                    spins += 1
                }
            }
            return completed
        }
        // A burst each way: 16 datagrams queued before the worker runs leave as one segmented
        // run (UDP GSO) and must arrive as 16 datagrams, whole and in order.
        // Sequence numbers seen, in arrival order, in fixed buffers so the test itself does not
        // allocate while the relay path is counted.
        let toPeer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 64)
        let toClient = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 64)
        toPeer.initialize(repeating: 0xFF)
        toClient.initialize(repeating: 0xFF)
        defer { toPeer.deallocate(); toClient.deallocate() }
        func burst(_ count: Int) -> Bool {
            var peerCount = 0
            var clientCount = 0
            for sequence in 0..<count {
                payload[4] = UInt8(sequence)
                _ = client.socket.send(UnsafeRawBufferPointer(payload), to: client.server)
            }
            var spins = 0
            while clientCount < count && spins < 500 {
                worker.loop.runOnce(maxWaitNanos: 1_000_000)
                while true {
                    let n = recv(peer.fd, peerBuffer.baseAddress, peerBuffer.count, Int32(MSG_DONTWAIT))
                    if n <= 0 { break }
                    if n == 172 && peerCount < 64 {
                        toPeer[peerCount] = peerBuffer[0]
                        peerCount += 1
                    }
                    if peerCount == count {  // echo the whole burst back at once
                        for i in 0..<count {
                            peerBuffer[0] = toPeer[i]
                            _ = peer.send(UnsafeRawBufferPointer(rebasing: peerBuffer[0..<172]), to: relayAddress)
                        }
                    }
                }
                while true {
                    let n = recv(client.socket.fd, client.buffer.baseAddress, client.buffer.count, Int32(MSG_DONTWAIT))
                    if n <= 0 { break }
                    if n == 176, client.buffer[0] == 0x40, client.buffer[3] == 172, clientCount < 64 {
                        toClient[clientCount] = client.buffer[4]
                        clientCount += 1
                    }
                }
                spins += 1
            }
            payload[4] = 0x5A
            var inOrder = peerCount == count && clientCount == count
            for i in 0..<count where toPeer[i] != UInt8(i) || toClient[i] != UInt8(i) { inOrder = false }
            return inOrder
        }
        XCTAssertEqual(roundTrips(200), 200, "warm-up round trips")
        _ = burst(16)
        let before = worker.currentCounters
        rtcgate_malloc_count_reset()
        let completed = roundTrips(5_000)
        var burstsInOrder = 0
        for _ in 0..<20 where burst(16) { burstsInOrder += 1 }
        let allocations = rtcgate_malloc_count()
        XCTAssertEqual(completed, 5_000)
        XCTAssertEqual(allocations, 0, "allocations on the TURN relay path (both directions, real sockets, single and in bursts)")
        XCTAssertEqual(burstsInOrder, 20, "peer and client get every datagram of each burst, in order")
        let counters = worker.currentCounters
        XCTAssertGreaterThanOrEqual(counters.udpSegmentedRuns - before.udpSegmentedRuns, 40, "bursts leave as segmented runs both ways")
        XCTAssertGreaterThanOrEqual(counters.udpSegmentedDatagrams - before.udpSegmentedDatagrams, 40 * 8)
        XCTAssertEqual(counters.udpSegmentationFallbacks, 0)
        XCTAssertGreaterThanOrEqual(counters.turn.packetsToPeer, 5_200 + 21 * 16)
        XCTAssertGreaterThanOrEqual(counters.turn.packetsToClient, 5_200)
        XCTAssertEqual(counters.turnAllocations, 1)
    }
}

/// The worker's control mailbox: listings, kills, drain and live credentials.
final class WorkerControlTests: XCTestCase {
    private func makeWorker() throws -> MediaWorker { try makeTurnWorker(id: 3, portBase: 30_000, ports: 50) }

    private func allocate(_ client: TurnTestClient) throws -> Int? {
        if client.nonce.isEmpty {
            let challenge = try client.request(.allocate) { b throws(StunBuildError) in try b.appendUInt32(.requestedTransport, 17 << 24) }
            try challenge.withUnsafeBytes { raw in
                let view = try StunMessageView(raw)
                if let realm = view.realm { client.realm = Array(realm) }
                if let nonce = view.nonce { client.nonce = Array(nonce) }
            }
        }
        let answer = try client.request(.allocate) { b throws(StunBuildError) in try b.appendUInt32(.requestedTransport, 17 << 24) }
        return try answer.withUnsafeBytes { try StunMessageView($0).errorCode?.code }
    }

    private func ask(_ worker: MediaWorker, _ command: (UInt64) -> WorkerCommand, ticket: UInt64) -> WorkerReply? {
        worker.handle.send(command(ticket))
        for _ in 0..<50 {
            worker.loop.runOnce(maxWaitNanos: 2_000_000)
            if let reply = worker.handle.reply(for: ticket) { return reply }
        }
        return nil
    }

    func testListKillDrainAndReplaceCredentials() throws {
        let worker = try makeWorker()
        let client = try TurnTestClient(worker: worker)
        XCTAssertNil(try allocate(client), "allocation succeeds")
        guard case .allocations(let list)? = ask(worker, { .listAllocations(ticket: $0) }, ticket: 1) else { return XCTFail("no listing") }
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.first?.user, "alice")
        XCTAssertEqual(list.first?.worker, 3)
        XCTAssertEqual(list.first?.transport, "udp")
        XCTAssertEqual(list.first?.client, TransportAddress(client.socket.localAddress))
        XCTAssertEqual(list.first?.lifetimeSeconds ?? 0, 600, accuracy: 2)

        guard case .killed(let killed)? = ask(worker, { .killAllocations(client: TransportAddress(client.socket.localAddress)!, ticket: $0) }, ticket: 2)
        else { return XCTFail("no kill answer") }
        XCTAssertEqual(killed, 1)
        guard case .allocations(let after)? = ask(worker, { .listAllocations(ticket: $0) }, ticket: 3) else { return XCTFail() }
        XCTAssertTrue(after.isEmpty)

        // Draining: a new allocation is refused with 508; accepting again lets it through.
        worker.handle.send(.acceptAllocations(false))
        worker.loop.runOnce(maxWaitNanos: 2_000_000)
        XCTAssertEqual(try allocate(client), 508)
        worker.handle.send(.acceptAllocations(true))
        worker.loop.runOnce(maxWaitNanos: 2_000_000)
        XCTAssertNil(try allocate(client))
        XCTAssertEqual(worker.currentCounters.turn.refusedDraining, 1)

        // New credentials: alice is gone (401), so her next request is refused.
        var users = CredentialStore(realm: "example.org")
        users.addUser(name: "bob", password: "other")
        worker.handle.send(.replaceCredentials(users: users, restSecrets: []))
        worker.loop.runOnce(maxWaitNanos: 2_000_000)
        let refresh = try client.request(.refresh) { b throws(StunBuildError) in try b.appendUInt32(.lifetime, 600) }
        XCTAssertEqual(try refresh.withUnsafeBytes { try StunMessageView($0).errorCode?.code }, 401)
    }
}
