/// Which MQTT protocol version the client speaks to the broker.
public enum MQTTProtocolChoice: String, Sendable, CaseIterable {
    /// MQTT 5, falling back to 3.1.1 when the broker refuses 5 (and back again after a failure).
    case auto
    /// MQTT 5 only.
    case v5
    /// MQTT 3.1.1 only.
    case v311
}

/// TLS to the broker: the CA to trust and, optionally, a client certificate.
public struct MQTTTLSConfig: Sendable, Equatable {
    public var caFile: String?
    public var caPath: String?
    public var certFile: String?
    public var keyFile: String?
    /// Skips the broker host name check (never in production; for test CAs).
    public var insecureSkipHostnameCheck: Bool

    public init(caFile: String? = nil, caPath: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                insecureSkipHostnameCheck: Bool = false) {
        self.caFile = caFile
        self.caPath = caPath
        self.certFile = certFile
        self.keyFile = keyFile
        self.insecureSkipHostnameCheck = insecureSkipHostnameCheck
    }
}

/// A message the client publishes on its own: its Last Will, and its online status.
public struct MQTTStatusMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var retain: Bool

    public init(topic: String, payload: [UInt8], retain: Bool = true) {
        self.topic = topic
        self.payload = payload
        self.retain = retain
    }
}

/// Everything an `MQTTClient` needs to reach its broker and stay connected.
public struct MQTTClientConfig: Sendable {
    public var host: String
    public var port: Int
    public var clientId: String
    public var username: String?
    public var password: String?
    public var protocolChoice: MQTTProtocolChoice
    public var tls: MQTTTLSConfig?
    public var keepAliveSeconds: Int
    /// Published (retained) by the broker when this client vanishes without a clean disconnect.
    public var will: MQTTStatusMessage?
    /// Published after every successful connect (e.g. a retained `{"state":"online"}`).
    public var onlineMessage: MQTTStatusMessage?
    /// Published before a clean disconnect (e.g. a retained `{"state":"offline"}`).
    public var offlineMessage: MQTTStatusMessage?
    /// Topic filters subscribed (QoS 1) after every connect.
    public var subscriptions: [String]
    /// First reconnect delay; it doubles per failed attempt up to `reconnectMaxMs`, with ±20 % jitter.
    public var reconnectMinMs: UInt64
    public var reconnectMaxMs: UInt64
    /// A connect that has not been acknowledged within this time is abandoned and retried.
    public var connectTimeoutMs: UInt64
    /// QoS 1 publishes not yet acknowledged by the broker, beyond which new publishes are dropped
    /// and counted (memory stays bounded however slow the broker is).
    public var maxPendingPublishes: Int
    /// Payload bytes of those unacknowledged publishes, beyond which new publishes are dropped.
    public var maxPendingBytes: Int
    /// MQTT 5 Message Expiry Interval put on every publish (0: none).
    public var messageExpirySeconds: UInt32

    public init(host: String = "127.0.0.1", port: Int = 1883, clientId: String, username: String? = nil,
                password: String? = nil, protocolChoice: MQTTProtocolChoice = .auto, tls: MQTTTLSConfig? = nil,
                keepAliveSeconds: Int = 30, will: MQTTStatusMessage? = nil, onlineMessage: MQTTStatusMessage? = nil,
                offlineMessage: MQTTStatusMessage? = nil, subscriptions: [String] = [], reconnectMinMs: UInt64 = 100,
                reconnectMaxMs: UInt64 = 2_000, connectTimeoutMs: UInt64 = 10_000, maxPendingPublishes: Int = 10_000,
                maxPendingBytes: Int = 4 << 20,
                messageExpirySeconds: UInt32 = 60) {
        self.host = host
        self.port = port
        self.clientId = clientId
        self.username = username
        self.password = password
        self.protocolChoice = protocolChoice
        self.tls = tls
        self.keepAliveSeconds = keepAliveSeconds
        self.will = will
        self.onlineMessage = onlineMessage
        self.offlineMessage = offlineMessage
        self.subscriptions = subscriptions
        self.reconnectMinMs = reconnectMinMs
        self.reconnectMaxMs = reconnectMaxMs
        self.connectTimeoutMs = connectTimeoutMs
        self.maxPendingPublishes = maxPendingPublishes
        self.maxPendingBytes = maxPendingBytes
        self.messageExpirySeconds = messageExpirySeconds
    }
}

/// What the client has done since it started; read from the loop's thread.
public struct MQTTCounters: Sendable, Equatable {
    public var connectAttempts: UInt64 = 0
    public var connects: UInt64 = 0
    public var disconnects: UInt64 = 0
    public var protocolFallbacks: UInt64 = 0
    public var messagesIn: UInt64 = 0
    public var published: UInt64 = 0
    public var acknowledged: UInt64 = 0
    /// Publishes refused because the broker was unreachable or too many were unacknowledged.
    public var publishDrops: UInt64 = 0
    /// SUBACKs received: one per subscription request, on every (re)connect and resubscribe.
    public var subscriptionsAcknowledged: UInt64 = 0

    public init() {}
}
