import STUN

/// Builds the response to one TURN request: same method and transaction id, signed with the
/// request's key and integrity kind once authenticated, FINGERPRINT when the request had one.
struct ReplyContext {
    let request: StunMessageView
    let response: UnsafeMutableRawBufferPointer
    private var key: UnsafeRawBufferPointer?
    private var kind = IntegrityKind.sha1
    private let fingerprint: Bool

    init(request: StunMessageView, into response: UnsafeMutableRawBufferPointer) {
        self.request = request
        self.response = response
        fingerprint = request.contains(.fingerprint)
    }

    mutating func sign(with key: UnsafeRawBufferPointer, _ kind: IntegrityKind) {
        self.key = key
        self.kind = kind
    }

    /// A success response carrying LIFETIME when given (Refresh), nothing else.
    func success(lifetime: UInt32?) -> TurnReply {
        build(.successResponse) { builder throws(StunBuildError) in
            if let lifetime { try builder.appendUInt32(.lifetime, lifetime) }
        }
    }

    /// The Allocate success: relayed address(es), lifetime, the client's reflexive address.
    func allocateSuccess(_ allocation: Allocation, lifetime: UInt32, client: TransportAddress,
                         additionalFamilyFailed: Bool = false, reservation: UInt64? = nil) -> TurnReply {
        build(.successResponse) { builder throws(StunBuildError) in
            try builder.appendXorAddress(.xorRelayedAddress, allocation.relayed)
            if let additional = allocation.additionalRelayed { try builder.appendXorAddress(.xorRelayedAddress, additional) }
            if additionalFamilyFailed {
                // ADDRESS-ERROR-CODE (RFC 8656 §18.13): family 0x02, 440 Address Family not Supported.
                let value: [UInt8] = [0x02, 0x00, 0x04, 40] + Array("Address Family not Supported".utf8)
                let appended: Result<Void, StunBuildError> = value.withUnsafeBytes { bytes in
                    do throws(StunBuildError) {
                        try builder.append(.addressErrorCode, bytes: bytes)
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
                try appended.get()
            }
            try builder.appendUInt32(.lifetime, lifetime)
            if let reservation { try builder.appendUInt64(.reservationToken, reservation) }
            try builder.appendXorAddress(.xorMappedAddress, client)
        }
    }

    /// An error response with the RFC's reason phrase (and UNKNOWN-ATTRIBUTES for 420).
    func error(_ code: Int, unknown: UnknownAttributeList? = nil) -> TurnReply {
        build(.errorResponse) { builder throws(StunBuildError) in
            try builder.appendErrorCode(code, reason: Self.reason(code))
            if let unknown { try builder.appendUnknownAttributes(unknown) }
        }
    }

    /// A 400/401/438 challenge with REALM and a fresh NONCE; never signed, and as small as the
    /// RFCs allow (no reason phrase, FINGERPRINT only when asked for): anyone can provoke one.
    mutating func challenge<Auth: TurnAuthenticating>(_ code: Int, auth: Auth, client: TransportAddress, now: UInt64) -> TurnReply {
        key = nil
        return build(.errorResponse) { builder throws(StunBuildError) in
            try builder.appendErrorCode(code, reason: "")
            if code != 400 { try auth.appendChallenge(to: &builder, for: client, now: now) }
        }
    }

    private func build(_ messageClass: StunClass, _ body: (inout StunMessageBuilder) throws(StunBuildError) -> Void) -> TurnReply {
        do throws(StunBuildError) {
            var builder = try StunMessageBuilder(into: response, type: StunMessageType(method: request.type.method, messageClass: messageClass),
                                                 transactionID: request.transactionID)
            try body(&builder)
            if let key {
                switch kind {
                case .sha1: try builder.appendMessageIntegrity(key: key)
                case .sha256: try builder.appendMessageIntegritySHA256(key: key)
                }
            }
            if fingerprint { try builder.appendFingerprint() }
            return .reply(length: builder.count)
        } catch {
            return .none
        }
    }

    static func reason(_ code: Int) -> StaticString {
        switch code {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 420: "Unknown Attribute"
        case 437: "Allocation Mismatch"
        case 438: "Stale Nonce"
        case 440: "Address Family not Supported"
        case 441: "Wrong Credentials"
        case 442: "Unsupported Transport Protocol"
        case 443: "Peer Address Family Mismatch"
        case 486: "Allocation Quota Reached"
        case 508: "Insufficient Capacity"
        default: "Server Error"
        }
    }
}
