import STUN

/// The result of a TURN request: a response in the caller's buffer, or none.
public enum TurnReply: Equatable, Sendable {
    case reply(length: Int)
    /// A response could not be built (buffer too small); nothing is sent.
    case none
}

/// Request handling (RFC 8656 §7–12): Allocate, Refresh, CreatePermission and ChannelBind,
/// each authenticated with long-term credentials and answered with the RFC's error codes.
extension TurnCore {
    /// Handles one TURN request from `tuple`, writing the response into `response`.
    /// - Parameters:
    ///   - policy: decides which peers may be reached (403 otherwise).
    public mutating func handleRequest<Auth: TurnAuthenticating, Relays: RelayAddressProvider>(
        _ request: StunMessageView, from tuple: FiveTuple, now: UInt64, auth: inout Auth, relays: inout Relays,
        policy: (TransportAddress) -> Bool, into response: UnsafeMutableRawBufferPointer
    ) -> TurnReply {
        var context = ReplyContext(request: request, into: response)
        let user: TurnUser
        let outcome = auth.authenticate(request, from: tuple.client, now: now)
        if auth.sourceProven {
            challenges.prove(tuple.client.ip, now: now, for: UInt64(limits.provenSourceSeconds) * 1_000_000_000)
        }
        switch outcome {
        case .challenge(let code):
            guard challenges.allow(tuple.client.ip, now: now) else {
                counters[drop: .challengeRateLimited] &+= 1
                return .none
            }
            return context.challenge(code, auth: auth, client: tuple.client, now: now)
        case .authenticated(let authenticated, let kind):
            user = authenticated
            context.sign(with: auth.responseKey, kind)
        }
        let unknown = request.unknownComprehensionRequiredAttributes()
        if !unknown.isEmpty { return context.error(420, unknown: unknown) }

        let method = request.type.method
        if method == .allocate {
            return allocate(request, tuple: tuple, user: user, now: now, relays: &relays, context: &context)
        }
        guard method == .refresh || method == .createPermission || method == .channelBind else { return context.error(400) }
        let id: AllocationID
        switch ownedAllocation(tuple, user: user, now: now) {
        case .success(let owned): id = owned
        case .failure(let error): return context.error(error.code)
        }
        switch method {
        case .refresh: return refresh(request, id: id, now: now, relays: &relays, context: &context)
        case .createPermission: return createPermission(request, id: id, now: now, policy: policy, context: &context)
        default: return channelBind(request, id: id, now: now, policy: policy, context: &context)
        }
    }

    /// Answers 400 to a TURN request whose header is sound but whose attributes cannot be read
    /// (RFC 8489 §6.3.1), within the same per-source budget as challenges, without a reason
    /// phrase (unauthenticated answers are kept small).
    public mutating func rejectMalformed(_ header: StunHeader, from client: TransportAddress, now: UInt64,
                                         into response: UnsafeMutableRawBufferPointer) -> TurnReply {
        guard header.type.messageClass == .request, challenges.allow(client.ip, now: now) else { return .none }
        counters.malformedRequests &+= 1
        do throws(StunBuildError) {
            var builder = try StunMessageBuilder(into: response, type: StunMessageType(method: header.type.method, messageClass: .errorResponse),
                                                 transactionID: header.transactionID)
            try builder.appendErrorCode(400, reason: "")
            return .reply(length: builder.count)
        } catch {
            return .none
        }
    }

    /// 443 when the allocation has no relayed address of the peer's family, 403 when the policy
    /// refuses the peer, nil when the peer may be reached.
    private func refusal(of peer: TransportAddress, by id: AllocationID, policy: (TransportAddress) -> Bool) -> Int? {
        guard allocations[id].relays(familyOf: peer.ip) else { return 443 }
        guard policy(peer) else { return 403 }
        return nil
    }

    /// The allocation of `tuple` if `user` may act on it: 437 without one, 441 for another user,
    /// 401 for an expired REST credential past the maximum session lifetime.
    private func ownedAllocation(_ tuple: FiveTuple, user: TurnUser, now: UInt64) -> Result<AllocationID, TurnError> {
        guard let id = allocations.lookup(tuple) else { return .failure(TurnError(437)) }
        let allocation = allocations[id]
        guard allocation.userKey == user.key else { return .failure(TurnError(441)) }
        if user.expired && now &- allocation.created > limits.maxSessionLifetime * 1_000_000_000 {
            return .failure(TurnError(401))
        }
        return .success(id)
    }

    private mutating func allocate<Relays: RelayAddressProvider>(
        _ request: StunMessageView, tuple: FiveTuple, user: TurnUser, now: UInt64, relays: inout Relays,
        context: inout ReplyContext
    ) -> TurnReply {
        if let id = allocations.lookup(tuple) {
            // A retransmitted Allocate gets its success again; anything else is a mismatch.
            let existing = allocations[id]
            guard existing.creatingTransaction == request.transactionID, existing.userKey == user.key else { return context.error(437) }
            // Remaining lifetime; 0 for one that expired but is not swept yet (the clock may also
            // have run past it between the sweep and this retransmission).
            let remaining = existing.expiry > now ? (existing.expiry - now) / 1_000_000_000 : 0
            return context.allocateSuccess(existing, lifetime: UInt32(clamping: remaining), client: tuple.client)
        }
        if user.expired { return context.error(401) }
        guard acceptsAllocations else {
            counters.refusedDraining &+= 1
            return context.error(508)
        }
        guard let transport = request.requestedTransport else { return context.error(400) }
        guard transport == 17 else { return context.error(442) }
        let requestedFamily = request.requestedAddressFamily
        // 0x8032 is the draft codepoint coturn's clients still send; RFC 8656 assigned 0x8000.
        let additionalFamily = request.additionalAddressFamily
            ?? request.attribute(Self.legacyAdditionalAddressFamily).flatMap { $0.count == 4 ? $0[0] : nil }
        let wantsEvenPort = request.evenPort
        let token = request.attribute(.reservationToken)
        if token != nil && (wantsEvenPort != nil || requestedFamily != nil) { return context.error(400) }
        if let token, token.count != 8 { return context.error(400) }
        if requestedFamily != nil && additionalFamily != nil { return context.error(400) }
        if let additionalFamily, additionalFamily != RelayFamily.ipv6.rawValue { return context.error(400) }
        let family: RelayFamily
        switch requestedFamily {
        case nil: family = .ipv4
        case RelayFamily.ipv4.rawValue: family = .ipv4
        case RelayFamily.ipv6.rawValue: family = .ipv6
        default: return context.error(440)
        }
        if limits.totalQuota > 0 && allocations.count >= limits.totalQuota { return context.error(486) }
        if limits.userQuota > 0 && allocations.allocations(ofUser: user.key) >= limits.userQuota { return context.error(486) }
        guard allocations.count < allocations.capacity else { return context.error(508) }
        let relayed: TransportAddress
        var reservation: UInt64?
        if let token {
            // The address an earlier EVEN-PORT Allocate held for this token (RFC 8656 §7.2).
            guard let reserved = relays.claimReservation(UInt64(bigEndian: token.loadUnaligned(as: UInt64.self))) else { return context.error(508) }
            relayed = reserved
        } else if let opened = relays.openRelay(family: family, evenPort: wantsEvenPort != nil, reserveNext: wantsEvenPort == true) {
            relayed = opened.address
            reservation = opened.reservation
        } else {
            return context.error(family == .ipv6 && requestedFamily != nil ? 440 : 508)
        }
        if request.dontFragment { relays.setDontFragment(relayed) }
        var additional: TransportAddress?
        var additionalError = false
        if additionalFamily != nil {
            additional = relays.openRelay(family: .ipv6, evenPort: false, reserveNext: false)?.address
            additionalError = additional == nil
        }
        let lifetime = limits.grantedLifetime(requested: request.lifetime)
        var allocation = Allocation(fiveTuple: tuple, relayed: relayed, userKey: user.key,
                                    expiry: now + UInt64(lifetime) * 1_000_000_000, created: now,
                                    creatingTransaction: request.transactionID)
        allocation.additionalRelayed = additional
        switch allocations.insert(allocation) {
        case .success(let id):
            relays.bind(relayed, to: id)
            if let additional { relays.bind(additional, to: id) }
            return context.allocateSuccess(allocation, lifetime: lifetime, client: tuple.client, additionalFamilyFailed: additionalError,
                                           reservation: reservation)
        case .failure(let refusal):
            relays.closeRelay(relayed)
            if let additional { relays.closeRelay(additional) }
            return context.error(refusal == .tableFull ? 508 : 486)
        }
    }

    private mutating func refresh<Relays: RelayAddressProvider>(
        _ request: StunMessageView, id: AllocationID, now: UInt64, relays: inout Relays, context: inout ReplyContext
    ) -> TurnReply {
        if let family = request.requestedAddressFamily {
            let allocation = allocations[id]
            let matches = [allocation.relayed, allocation.additionalRelayed].contains { address in
                address.map { $0.ip.stunFamily == family } == true
            }
            if !matches { return context.error(443) }
        }
        let lifetime = limits.grantedLifetime(requested: request.lifetime)
        if lifetime == 0 {
            removeAllocation(id, relays: &relays)
        } else {
            allocations[id].expiry = now + UInt64(lifetime) * 1_000_000_000
        }
        return context.success(lifetime: lifetime)
    }

    private mutating func createPermission(
        _ request: StunMessageView, id: AllocationID, now: UInt64, policy: (TransportAddress) -> Bool, context: inout ReplyContext
    ) -> TurnReply {
        // Every XOR-PEER-ADDRESS is checked before any is installed: all or nothing (§9.2).
        var peers = 0
        for attribute in request.attributes where attribute.type == .xorPeerAddress {
            guard let peer = request.decodeXorAddress(attribute.value) else { return context.error(400) }
            if let code = refusal(of: peer, by: id, policy: policy) { return context.error(code) }
            peers += 1
        }
        guard peers > 0 else { return context.error(400) }
        let lifetime = UInt64(limits.permissionLifetime) * 1_000_000_000
        for attribute in request.attributes where attribute.type == .xorPeerAddress {
            let peer = request.decodeXorAddress(attribute.value)!
            guard allocations[id].permit(peer.ip, now: now, lifetimeNanos: lifetime, limit: limits.maxPermissionsPerAllocation) else {
                return context.error(508)
            }
        }
        return context.success(lifetime: nil)
    }

    private mutating func channelBind(
        _ request: StunMessageView, id: AllocationID, now: UInt64, policy: (TransportAddress) -> Bool, context: inout ReplyContext
    ) -> TurnReply {
        guard let number = request.channelNumber, let peer = request.xorAddress(.xorPeerAddress) else { return context.error(400) }
        if let code = refusal(of: peer, by: id, policy: policy) { return context.error(code) }
        let second: UInt64 = 1_000_000_000
        switch allocations[id].bindChannel(number, to: peer, now: now, lifetimeNanos: UInt64(limits.channelLifetime) * second,
                                           quarantineNanos: UInt64(limits.channelQuarantine) * second,
                                           limit: limits.maxChannelsPerAllocation) {
        case .conflict: return context.error(400)
        case .full: return context.error(508)
        case .bound: break
        }
        // Binding a channel installs or refreshes the peer's permission (§12.2).
        guard allocations[id].permit(peer.ip, now: now, lifetimeNanos: UInt64(limits.permissionLifetime) * second,
                                     limit: limits.maxPermissionsPerAllocation) else { return context.error(508) }
        return context.success(lifetime: nil)
    }
}

extension TurnCore {
    /// ADDITIONAL-ADDRESS-FAMILY as numbered in draft-ietf-tram-turnbis (coturn's clients).
    static let legacyAdditionalAddressFamily = AttributeType(rawValue: 0x8032)
}

/// A TURN error code.
struct TurnError: Error {
    let code: Int
    init(_ code: Int) { self.code = code }
}
