/// Limits and timings of the signaling router (board profile and rtcgate.conf).
public struct SignalingConfig: Sendable, Equatable {
    /// Topic prefix: `{p}/up/{id}`, `{p}/down/{id}`, `{p}/status/{id}`.
    public var topicPrefix = "rtc/v1"
    /// Larger `up` payloads get `too-large` (413) unparsed.
    public var maxPayloadBytes = 65536
    /// Sessions involving one device (on either side) at most.
    public var maxViewersPerDevice = 4
    /// Live sessions in all (capacity of the session table).
    public var maxSessions = 256
    /// An offer unanswered this long after rtcgate received the first OFFER ends with `timeout`.
    public var offerTimeoutMs: UInt64 = 30_000
    /// A session without messages this long ends with `timeout`.
    public var idleTimeoutMs: UInt64 = 3_600_000
    /// OFFER + ANSWER bucket per sender.
    public var sdpRatePerSecond: UInt32 = 5
    public var sdpBurst: UInt32 = 10
    /// CANDIDATES bucket per sender.
    public var candidateRatePerSecond: UInt32 = 20
    public var candidateBurst: UInt32 = 40
    /// Lifetime of TURN REST credentials handed out in ICE_CONFIG.
    public var iceTTLSeconds: UInt64 = 3600
    /// Push a fresh ICE_CONFIG this long before expiry; `nil` means `min(iceTTLSeconds / 5, 300)`.
    public var iceRefreshLeadSeconds: UInt64?
    /// Peers told a client went offline hear `PEER_STATUS online` if it returns within this window.
    public var presenceReturnWindowMs: UInt64 = 120_000
    /// Capacity of the per-client state table (presence, rate buckets, ICE expiry).
    public var maxClients = 1024

    public init() {}

    /// The lead time actually used for ICE_CONFIG pushes.
    public var effectiveIceRefreshLeadSeconds: UInt64 {
        iceRefreshLeadSeconds ?? min(iceTTLSeconds / 5, 300)
    }
}

/// Time, injected by the shell: the router never reads a clock.
public struct SignalingClock: Sendable, Equatable {
    /// Monotonic milliseconds (timeouts, rate buckets).
    public var monotonicMs: UInt64
    /// Wall-clock Unix seconds (TURN REST credential expiry).
    public var unixSeconds: UInt64

    public init(monotonicMs: UInt64, unixSeconds: UInt64) {
        self.monotonicMs = monotonicMs
        self.unixSeconds = unixSeconds
    }
}

/// A message for the MQTT layer to publish (QoS 1, not retained, Message Expiry 60 s).
public struct OutboundMessage: Sendable, Equatable {
    /// The client it is for (in a cluster, its owner instance publishes it).
    public var recipient: String
    /// `{p}/down/{recipient}`.
    public var topic: String
    public var payload: [UInt8]
    /// MQTT 5 Correlation Data echoed from the request this replies to; `nil` otherwise.
    public var correlationData: [UInt8]?

    public init(recipient: String, topic: String, payload: [UInt8], correlationData: [UInt8]? = nil) {
        self.recipient = recipient
        self.topic = topic
        self.payload = payload
        self.correlationData = correlationData
    }
}
