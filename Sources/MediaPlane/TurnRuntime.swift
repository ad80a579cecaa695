import Glibc
import Reactor
import STUN
import TURN

/// One worker's TURN state: the protocol core, the authenticator, the relay ports and the
/// buffers the relay path receives into.
final class TurnRuntime {
    var core: TurnCore
    var authenticator: TurnAuthenticator
    var relays: RelayPortPool
    let policy: PeerPolicy
    /// Receive ring of the relay sockets: pool slots with headroom for the ChannelData or Data
    /// indication header and 4 bytes of tailroom for padding.
    let relayBatch: DatagramBatch
    let relaySlots: [UnsafeMutableRawBufferPointer]
    /// Datagrams for peers queued during one receive batch, all through relay `peerRelay`.
    let peerBatch: DatagramBatch
    var peerCount = 0
    var peerRelay = 0
    /// For allocations made over TCP: the connection that owns each (by allocation index).
    var streamOwners: [(connection: StreamConnection, generation: UInt32)?]
    /// The username each allocation was made with (by allocation index), for listings. Set on
    /// the control path (Allocate), never per packet.
    var userNames: [String?]
    /// Relay send failures (peer unreachable, socket buffer full).
    var relaySendFailures: UInt64 = 0

    init(settings: TurnSettings, worker: Int, workers: Int, pool: BufferPool, batch: Int, socketBufferBytes: Int?, segmentation: Bool,
         prefault: Bool, loop: EventLoop, makeHandler: @escaping (Int) -> EventHandler) throws(SystemError) {
        core = TurnCore(limits: settings.limits, prefault: prefault)
        guard let nonces = NonceIssuer(secret: settings.nonceSecret) else { throw SystemError("nonce secret too short", code: EINVAL) }
        authenticator = TurnAuthenticator(users: settings.users, rest: RestCredentials(secrets: settings.restSecrets), nonces: nonces,
                                          unixNow: { WallClock.unixSeconds() })
        relays = RelayPortPool(range: settings.ports, worker: worker, workers: workers, relayIPv4: settings.relayIPv4,
                               relayIPv6: settings.relayIPv6, reservations: settings.reservations, socketBufferBytes: socketBufferBytes,
                               segmentation: segmentation, loop: loop, makeHandler: makeHandler)
        policy = settings.policy
        relayBatch = DatagramBatch(capacity: batch)
        peerBatch = DatagramBatch(capacity: batch)
        var slots: [UnsafeMutableRawBufferPointer] = []
        for i in 0..<batch {
            guard let slot = pool.acquire() else { throw SystemError("buffer pool too small for the relay ring", code: ENOMEM) }
            let payload = pool.payload(of: slot)
            let usable = UnsafeMutableRawBufferPointer(rebasing: payload[0..<(payload.count - 4)])
            relayBatch.setBuffer(i, usable)
            slots.append(usable)
        }
        relaySlots = slots
        streamOwners = Array(repeating: nil, count: core.allocations.capacity)
        userNames = Array(repeating: nil, count: core.allocations.capacity)
    }

    /// Handles a TURN request and, for a new allocation, ties its relay sockets to it.
    func handleRequest(_ request: StunMessageView, from tuple: FiveTuple, now: UInt64,
                       into response: UnsafeMutableRawBufferPointer) -> TurnReply {
        var auth = authenticator
        var pool = relays
        let policy = self.policy
        let reply = core.handleRequest(request, from: tuple, now: now, auth: &auth, relays: &pool,
                                       policy: { policy.evaluate($0).isAllowed }, into: response)
        if request.type.method == .allocate, let id = core.allocations.lookup(tuple) {
            if core.allocations[id].creatingTransaction == request.transactionID {
                userNames[Int(id.index)] = request.username.map { String(decoding: $0, as: UTF8.self) } ?? "(userhash)"
            }
            for address in [core.allocations[id].relayed, core.allocations[id].additionalRelayed] {
                if let address, let index = relays.index(of: address), relays[index]?.allocation == nil {
                    relays[index]?.allocation = id
                }
            }
        }
        return reply
    }

    /// Removes expired allocations and closes their relays.
    func expire(now: UInt64) {
        let relays = self.relays
        relays.expireReservations(now: now)
        core.allocations.removeExpired(now: now) { id, allocation in
            relays.closeRelay(allocation.relayed)
            if let additional = allocation.additionalRelayed { relays.closeRelay(additional) }
            streamOwners[Int(id.index)] = nil
            userNames[Int(id.index)] = nil
        }
    }

    /// Deletes every allocation owned by a closed TCP connection (RFC 8656 §3.1: the
    /// allocation lives as long as the connection).
    func connectionClosed(_ connection: StreamConnection) {
        let client = TransportAddress(connection.peer)
        for index in streamOwners.indices {
            guard let owner = streamOwners[index], owner.connection === connection else { continue }
            streamOwners[index] = nil
            // The record may have been freed (Refresh 0) and reused since: only a TCP allocation
            // of this connection's client goes with it.
            for id in core.allocations.ids where id.index == UInt32(index)
                && core.allocations[id].fiveTuple.transport == .tcp && core.allocations[id].fiveTuple.client == client {
                relays.closeRelay(core.allocations[id].relayed)
                if let additional = core.allocations[id].additionalRelayed { relays.closeRelay(additional) }
                userNames[index] = nil
                core.allocations.remove(id)
            }
        }
    }
}
