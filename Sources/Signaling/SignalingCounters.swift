/// Refused `up` messages, by error name.
public struct RefusalCounts: Sendable, Equatable {
    public var badRequest = 0, forbidden = 0, notFound = 0, peerOffline = 0
    public var tooLarge = 0, rateLimited = 0, resources = 0, noPath = 0

    public init() {}

    public subscript(error: SignalingErrorCode) -> Int {
        get {
            switch error {
            case .badRequest: badRequest
            case .forbidden: forbidden
            case .notFound: notFound
            case .peerOffline: peerOffline
            case .tooLarge: tooLarge
            case .rateLimited: rateLimited
            case .resources: resources
            case .noPath: noPath
            }
        }
        set {
            switch error {
            case .badRequest: badRequest = newValue
            case .forbidden: forbidden = newValue
            case .notFound: notFound = newValue
            case .peerOffline: peerOffline = newValue
            case .tooLarge: tooLarge = newValue
            case .rateLimited: rateLimited = newValue
            case .resources: resources = newValue
            case .noPath: noPath = newValue
            }
        }
    }
}

/// Ended sessions, by reason (a client's END reason, or the gateway's).
public struct SessionEndCounts: Sendable, Equatable {
    public var hangup = 0, busy = 0, declined = 0, timeout = 0, iceFailed = 0
    public var replaced = 0, peerOffline = 0, policy = 0, resources = 0, shutdown = 0

    public init() {}

    public subscript(reason: EndReason) -> Int {
        get {
            switch reason {
            case .hangup: hangup
            case .busy: busy
            case .declined: declined
            case .timeout: timeout
            case .iceFailed: iceFailed
            case .replaced: replaced
            case .peerOffline: peerOffline
            case .policy: policy
            case .resources: resources
            case .shutdown: shutdown
            }
        }
        set {
            switch reason {
            case .hangup: hangup = newValue
            case .busy: busy = newValue
            case .declined: declined = newValue
            case .timeout: timeout = newValue
            case .iceFailed: iceFailed = newValue
            case .replaced: replaced = newValue
            case .peerOffline: peerOffline = newValue
            case .policy: policy = newValue
            case .resources: resources = newValue
            case .shutdown: shutdown = newValue
            }
        }
    }
}

/// The router's counters: plain integers, for status output and metrics.
public struct SignalingCounters: Sendable, Equatable {
    /// Messages received on `up/{id}`.
    public var messagesIn = 0
    /// Messages received on `status/{id}`.
    public var statusMessagesIn = 0
    /// Messages on topics the router does not handle (or with an invalid id segment).
    public var ignoredTopics = 0
    /// Client messages forwarded to a peer.
    public var forwarded = 0
    /// Replies to requests: STATUS (success and error) and requested ICE_CONFIG.
    public var replies = 0
    /// Unsolicited gateway messages: PEER_STATUS, END, GO_AWAY, pushed ICE_CONFIG.
    public var gatewayMessages = 0
    public var refusals = RefusalCounts()
    public var sessionsLive = 0
    public var sessionsStarted = 0
    public var renegotiations = 0
    public var sessionsEnded = SessionEndCounts()
    /// Presence transitions.
    public var presenceOnline = 0
    public var presenceOffline = 0
    /// Status messages for ids that are not provisioned (or reserved).
    public var presenceUnprovisioned = 0
    /// Status payloads that are neither empty nor `{"state":"online"|"offline"}`.
    public var presenceMalformed = 0
    /// Presence updates dropped because the client table was full.
    public var clientTableFull = 0
    public var iceConfigsIssued = 0
    public var icePushes = 0
    /// ICE_CONFIGs sent without TURN credentials (the minter returned nil).
    public var iceWithoutCredentials = 0
    /// DIRECTORY messages sent (replies and pushes).
    public var directoriesSent = 0

    public init() {}
}
