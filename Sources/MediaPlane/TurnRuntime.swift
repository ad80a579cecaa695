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
    /// The peer policy in force: the configured one, plus the cluster's relays admitted.
    var policy: PeerPolicy
    /// The configured policy, before any cluster relays were admitted.
    let configuredPolicy: PeerPolicy
    /// Receive ring of the relay sockets: pool slots with headroom for the ChannelData or Data
    /// indication header and 4 bytes of tailroom for padding.
    let relayBatch: DatagramBatch
    let relaySlots: [UnsafeMutableRawBufferPointer]
    /// Datagrams for peers queued during one receive batch, all through relay `peerRelay`.
    let peerBatch: DatagramBatch
    var peerCount = 0
    var peerRelay = 0
    /// Usernames and owning TCP connections of the allocations.
    var attachments: AllocationAttachments
    /// Relay send failures (peer unreachable, socket buffer full).
    var relaySendFailures: UInt64 = 0

    init(settings: TurnSettings, worker: Int, workers: Int, pool: BufferPool, batch: Int, socketBufferBytes: Int?, segmentation: Bool,
         prefault: Bool, loop: EventLoop, makeHandler: @escaping (Int) -> EventHandler) throws(SystemError) {
        core = TurnCore(limits: settings.limits, prefault: prefault)
        let features: NonceSecurityFeatures? = settings.securityFeatures ? [.passwordAlgorithms, .usernameAnonymity] : nil
        guard let nonces = NonceIssuer(secret: settings.nonceSecret, features: features) else { throw SystemError("nonce secret too short", code: EINVAL) }
        authenticator = TurnAuthenticator(users: settings.users, rest: RestCredentials(secrets: settings.restSecrets), nonces: nonces,
                                          unixNow: { WallClock.unixSeconds() })
        relays = RelayPortPool(range: settings.ports, worker: worker, workers: workers, relayIPv4: settings.relayIPv4,
                               relayIPv6: settings.relayIPv6, reservations: settings.reservations, socketBufferBytes: socketBufferBytes,
                               segmentation: segmentation, loop: loop, makeHandler: makeHandler)
        policy = settings.policy
        configuredPolicy = settings.policy
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
        attachments = AllocationAttachments(capacity: core.allocations.capacity)
    }

    /// Handles a TURN request; a new allocation is tied to its relay sockets by the core
    /// (`RelayAddressProvider.bind`) and to its username and TCP connection here.
    func handleRequest(_ request: StunMessageView, from tuple: FiveTuple, now: UInt64,
                       into response: UnsafeMutableRawBufferPointer, connection: StreamConnection?) -> TurnReply {
        var auth = authenticator
        var pool = relays
        let policy = self.policy
        let reply = core.handleRequest(request, from: tuple, now: now, auth: &auth, relays: &pool,
                                       policy: { policy.evaluate($0).isAllowed }, into: response)
        if request.type.method == .allocate, let id = core.allocations.lookup(tuple),
           core.allocations[id].creatingTransaction == request.transactionID {
            attachments.setUserName(request.username.map { String(decoding: $0, as: UTF8.self) } ?? "(userhash)", for: id)
            if let connection { attachments.setOwner(connection, for: id) }
        }
        return reply
    }

    /// Ends allocation `id` (its relays closed).
    func remove(_ id: AllocationID) {
        var pool = relays
        core.removeAllocation(id, relays: &pool)
    }

    /// Removes expired allocations and closes their relays.
    /// Whether anything here can expire: allocations, or EVEN-PORT reservations (shared by
    /// every worker; each sweeps them while it holds allocations or they exist).
    var holdsExpiringState: Bool { core.allocations.count > 0 || relays.holdsReservations }

    func expire(now: UInt64) {
        relays.expireReservations(now: now)
        var pool = relays
        core.removeExpired(now: now, relays: &pool)
    }

    /// Deletes every allocation owned by a closed TCP connection (RFC 8656 §3.1: the
    /// allocation lives as long as the connection).
    func connectionClosed(_ connection: StreamConnection) {
        for id in core.allocations.ids where attachments[id]?.owner?.connection === connection {
            remove(id)
        }
    }
}
