import CMosquitto
import CSystem
import Glibc
import Reactor

/// Receives what an `MQTTClient` sees; called on the client's event-loop thread.
public protocol MQTTClientDelegate: AnyObject {
    /// The broker accepted the connection (`protocolVersion` 5 or 4 = 3.1.1); subscriptions and
    /// the online message have been sent.
    func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int)
    /// The connection ended or an attempt failed; the client retries on its own unless stopped.
    func mqttClientDidDisconnect(_ client: MQTTClient, reason: String)
    /// A message arrived. `payload` is valid only during the call.
    func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                    correlationData: [UInt8]?, retained: Bool)
}

/// A libmosquitto client driven by an `EventLoop`: the loop watches `mosquitto_socket`, and the
/// client calls `mosquitto_loop_read/write/misc` on readiness and on a one-second timer. There is no
/// libmosquitto thread, so everything — callbacks included — runs on the loop's thread.
///
/// The client reconnects by itself with exponential back-off and jitter, resubscribes, republishes
/// its online status, falls back from MQTT 5 to 3.1.1 when the broker refuses 5, and bounds the
/// publishes waiting for acknowledgement so a slow broker cannot grow memory.
public final class MQTTClient: EventHandler, TimerHandler {
    public let config: MQTTClientConfig
    public weak var delegate: MQTTClientDelegate?
    public internal(set) var counters = MQTTCounters()
    /// True between the broker's CONNACK and the loss of the connection.
    public private(set) var isConnected = false
    /// The protocol version of the current or next attempt (5, or 4 for 3.1.1).
    public private(set) var protocolVersion: Int32

    let handle: OpaquePointer
    private let loop: EventLoop
    private var registration: Registration?
    private var registeredForWrite = false
    private var backoff: ReconnectBackoff
    private var reconnectTimer: TimerID?
    private var housekeepingTimer: TimerID?
    private var attemptStartedAt: UInt64 = 0
    private var started = false
    private var stopping = false
    /// QoS 1 publishes the broker has not acknowledged yet.
    public var pendingAckCount: Int { pendingSizes.count }
    /// Payload bytes of those publishes.
    public private(set) var pendingBytes = 0
    private var pendingSizes: [Int32: Int] = [:]
    private var connackSeen = false
    /// Set when an attempt failed in a way that suggests the broker does not speak this version.
    private var versionSuspect = false
    private var random = SystemRandomNumberGenerator()

    private enum TimerKind: UInt64 { case housekeeping = 1, reconnect = 2 }

    /// Creates the client; nothing is sent until `start()`.
    public init(config: MQTTClientConfig, loop: EventLoop) throws(MQTTError) {
        MQTTLibrary.initialise()
        self.config = config
        self.loop = loop
        backoff = ReconnectBackoff(minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs)
        protocolVersion = config.protocolChoice == .v311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5
        guard let handle = mosquitto_new(config.clientId, true, nil) else {
            throw MQTTError(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue)
        }
        self.handle = handle
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        installCallbacks()
        try configure()
    }

    deinit {
        if let registration { loop.deregister(registration) }
        mosquitto_destroy(handle)
    }

    private func configure() throws(MQTTError) {
        try check("tcp_nodelay", mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1))
        try check("protocol_version", mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, protocolVersion))
        if config.username != nil || config.password != nil {
            try check("username_pw_set", mosquitto_username_pw_set(handle, config.username, config.password))
        }
        if let tls = config.tls {
            try check("tls_set", mosquitto_tls_set(handle, tls.caFile, tls.caPath, tls.certFile, tls.keyFile, nil))
            if tls.insecureSkipHostnameCheck { try check("tls_insecure_set", mosquitto_tls_insecure_set(handle, true)) }
        }
        if let will = config.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(handle, will.topic, Int32(bytes.count), bytes.baseAddress, 1, will.retain)
            }
            try check("will_set", rc)
        }
    }

    private func check(_ operation: String, _ rc: Int32) throws(MQTTError) {
        if rc != MOSQ_ERR_SUCCESS.rawValue { throw MQTTError(operation: operation, code: rc) }
    }

    // MARK: Lifecycle

    /// Starts connecting; failures are retried with back-off, never thrown.
    public func start() {
        guard !started else { return }
        started = true
        scheduleHousekeeping()
        attempt(first: true)
    }

    /// Publishes the offline message (if configured and connected), waits (at most `flushMillis`)
    /// until the broker has acknowledged every QoS 1 publish, disconnects cleanly and stops
    /// retrying. The socket is half-closed and drained before it is closed, so the kernel never
    /// answers unread data with a reset that would make the broker drop what it has not read yet.
    /// `publishOffline: false` leaves the broker's view as it is (a handover: the successor
    /// connects with the same client id at once, docs/handover.md).
    public func stop(flushMillis: Int = 1_000, publishOffline: Bool = true) {
        guard started, !stopping else { return }
        if let reconnectTimer { loop.timers.cancel(reconnectTimer) }
        if let housekeepingTimer { loop.timers.cancel(housekeepingTimer) }
        reconnectTimer = nil
        housekeepingTimer = nil
        if publishOffline, isConnected, let offline = config.offlineMessage {
            _ = publish(topic: offline.topic, payload: offline.payload, retain: offline.retain)
        }
        let deadline = MonotonicClock.now() + UInt64(flushMillis) * 1_000_000
        while isConnected, pendingAckCount > 0, MonotonicClock.now() < deadline {
            guard pollSocket(wantRead: true, millis: 20) else { break }
        }
        stopping = true
        _ = mosquitto_disconnect(handle)
        while mosquitto_want_write(handle), MonotonicClock.now() < deadline {
            guard pollSocket(wantRead: false, millis: 20) else { break }
        }
        let fd = mosquitto_socket(handle)
        if fd >= 0 {
            Glibc.shutdown(fd, Int32(SHUT_WR))
            var scratch = [UInt8](repeating: 0, count: 4096)
            let drainUntil = min(deadline, MonotonicClock.now() + 200_000_000)
            while MonotonicClock.now() < drainUntil {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 20) >= 0 else { break }
                if descriptor.revents == 0 { continue }
                if read(fd, &scratch, scratch.count) <= 0 { break }
            }
        }
        isConnected = false
        syncRegistration()
    }

    /// Connects again after `stop` (a handover that failed: the old process serves on).
    public func restart() {
        guard started, stopping else { return }
        stopping = false
        started = false
        start()
    }

    /// Waits up to `millis` for the socket, then lets libmosquitto read and write. False when the
    /// connection is gone.
    private func pollSocket(wantRead: Bool, millis: Int32) -> Bool {
        let fd = mosquitto_socket(handle)
        guard fd >= 0 else { return false }
        let events = (wantRead ? POLLIN : 0) | (mosquitto_want_write(handle) ? POLLOUT : 0)
        var descriptor = pollfd(fd: fd, events: Int16(events), revents: 0)
        guard poll(&descriptor, 1, millis) >= 0 else { return false }
        if wantRead, descriptor.revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
            if rtcgate_mosquitto_read_available(handle, 64) != MOSQ_ERR_SUCCESS.rawValue { return false }
        }
        if mosquitto_want_write(handle) {
            if mosquitto_loop_write(handle, 1) != MOSQ_ERR_SUCCESS.rawValue { return false }
        }
        return mosquitto_socket(handle) >= 0
    }

    private func attempt(first: Bool) {
        guard !stopping else { return }
        reconnectTimer = nil
        counters.connectAttempts += 1
        connackSeen = false
        versionSuspect = false
        attemptStartedAt = MonotonicClock.now()
        _ = mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, protocolVersion)
        let rc = first
            ? mosquitto_connect_async(handle, config.host, Int32(config.port), Int32(config.keepAliveSeconds))
            : mosquitto_reconnect_async(handle)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            connectionLost(reason: "connect to \(config.host):\(config.port) failed: \(MQTTError.describe(rc))")
            return
        }
        scheduleHousekeeping()
        syncRegistration()
    }

    private func scheduleReconnect() {
        guard !stopping, reconnectTimer == nil else { return }
        let delay = backoff.nextDelayMs { bound in UInt64.random(in: 0..<bound, using: &random) }
        reconnectTimer = loop.timers.schedule(at: MonotonicClock.now() + delay * 1_000_000, handler: self,
                                              context: TimerKind.reconnect.rawValue)
    }

    /// libmosquitto's housekeeping (`mosquitto_loop_misc`: PINGREQ once the keepalive has passed
    /// without traffic, and the ping's timeout) runs every quarter keepalive while connected, so a
    /// ping leaves at most 1.25 keepalives after the last packet, inside the broker's 1.5; an idle
    /// connection wakes the process a few times a minute, not every second. The interval is capped
    /// at 15 s because an MQTT 5 broker may impose a shorter keepalive than the one asked for.
    /// While connecting it runs every second to enforce `connectTimeoutMs`; each attempt and each
    /// CONNACK restarts it at the interval for the new state.
    private func scheduleHousekeeping() {
        if let housekeepingTimer { loop.timers.cancel(housekeepingTimer) }
        let keepAliveMs = UInt64(max(config.keepAliveSeconds, 0)) * 1_000
        let intervalMs: UInt64 = isConnected ? (keepAliveMs > 0 ? min(max(keepAliveMs / 4, 1_000), 15_000) : 15_000) : 1_000
        housekeepingTimer = loop.timers.schedule(at: MonotonicClock.now() + intervalMs * 1_000_000, handler: self,
                                                 context: TimerKind.housekeeping.rawValue)
    }

    public func timerFired(context: UInt64, now: UInt64) {
        guard !stopping else { return }
        switch TimerKind(rawValue: context) {
        case .reconnect:
            attempt(first: counters.connectAttempts == 0)
        case .housekeeping:
            housekeepingTimer = nil
            if mosquitto_socket(handle) >= 0 {
                if !isConnected, now &- attemptStartedAt > config.connectTimeoutMs * 1_000_000 {
                    // A broker that accepted TCP but never answered this CONNECT may not speak
                    // this version (3.1.1-only brokers may wait on an MQTT 5 CONNECT).
                    if !connackSeen { versionSuspect = true }
                    _ = mosquitto_disconnect(handle)
                    connectionLost(reason: "no CONNACK within \(config.connectTimeoutMs) ms")
                } else {
                    _ = mosquitto_loop_misc(handle)
                    syncRegistration()
                }
            }
            scheduleHousekeeping()
        case nil:
            break
        }
    }

    // MARK: Readiness

    public func handleEvents(_ events: UInt32, loop: EventLoop) {
        let readable = events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
        if readable {
            let rc = rtcgate_mosquitto_read_available(handle, 64)
            if rc != MOSQ_ERR_SUCCESS.rawValue { return afterFailure(rc) }
        }
        if events & EPOLLOUT.rawValue != 0 || mosquitto_want_write(handle) {
            let rc = mosquitto_loop_write(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue { return afterFailure(rc) }
        }
        syncRegistration()
    }

    private func afterFailure(_ rc: Int32) {
        if !connackSeen && [MOSQ_ERR_PROTOCOL, MOSQ_ERR_CONN_LOST, MOSQ_ERR_MALFORMED_PACKET].map(\.rawValue).contains(rc) {
            versionSuspect = true
        }
        connectionLost(reason: MQTTError.describe(rc))
    }

    /// Keeps the epoll registration in step with libmosquitto's socket and write interest.
    func syncRegistration() {
        let fd = mosquitto_socket(handle)
        if let current = registration, current.fd != fd || fd < 0 {
            loop.deregister(current)
            registration = nil
        }
        guard fd >= 0, !stopping || mosquitto_want_write(handle) else {
            if fd < 0 && started && !stopping && reconnectTimer == nil { connectionLost(reason: "socket closed") }
            return
        }
        // While the TCP connect is pending, writability says it completed (or failed).
        let wantWrite = mosquitto_want_write(handle) || !connackSeen
        let mask = EPOLLIN.rawValue | (wantWrite ? EPOLLOUT.rawValue : 0)
        if let current = registration {
            if wantWrite != registeredForWrite {
                try? loop.modify(current, events: mask)
                registeredForWrite = wantWrite
            }
        } else {
            registration = try? loop.register(fd: fd, events: mask, handler: self)
            registeredForWrite = wantWrite
        }
    }

    /// Called whenever a connection or an attempt ends; schedules the next attempt.
    private func connectionLost(reason: String) {
        let wasConnected = isConnected
        isConnected = false
        if let current = registration {
            loop.deregister(current)
            registration = nil
        }
        if wasConnected { counters.disconnects += 1 }
        if versionSuspect, config.protocolChoice == .auto, !wasConnected {
            // The broker closed or refused before accepting this version: try the other one next.
            versionSuspect = false
            protocolVersion = protocolVersion == MQTT_PROTOCOL_V5 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5
            counters.protocolFallbacks += 1
        }
        // Unacknowledged publishes stay counted: libmosquitto keeps them and sends them again
        // after the next CONNACK, so their PUBACKs (same mids) settle the count then.
        delegate?.mqttClientDidDisconnect(self, reason: reason)
        scheduleReconnect()
    }

    // MARK: Callbacks from libmosquitto (on this thread, inside loop_read/write)

    func didReceiveConnack(_ rc: Int32) {
        connackSeen = true
        guard rc == 0 else {
            let refusedVersion = rc == 1 || rc == 132  // 3.1.1 "unacceptable protocol", 5 "unsupported version"
            if refusedVersion { versionSuspect = true }
            delegate?.mqttClientDidDisconnect(self, reason: "broker refused the connection: \(MQTTError.describeConnack(rc, protocolVersion: protocolVersion))")
            return
        }
        isConnected = true
        scheduleHousekeeping()
        backoff.reset()
        counters.connects += 1
        var subscriptionMid: Int32 = 0
        for filter in config.subscriptions {
            _ = mosquitto_subscribe(handle, &subscriptionMid, filter, 1)
        }
        if let online = config.onlineMessage {
            _ = publish(topic: online.topic, payload: online.payload, retain: online.retain, expirySeconds: 0)
        }
        delegate?.mqttClientDidConnect(self, protocolVersion: Int(protocolVersion))
    }

    func didDisconnect(_ rc: Int32) {
        guard !stopping else { return }
        // libmosquitto has closed the socket; syncRegistration after the current call notices.
        if isConnected {
            isConnected = false
            counters.disconnects += 1
            delegate?.mqttClientDidDisconnect(self, reason: "connection lost: \(MQTTError.describe(rc))")
            if let current = registration {
                loop.deregister(current)
                registration = nil
            }
            scheduleReconnect()
        }
    }

    func notePublished(mid: Int32, bytes: Int) {
        pendingSizes[mid] = bytes
        pendingBytes += bytes
    }


    func didPublish(mid: Int32) {
        counters.acknowledged += 1
        if let bytes = pendingSizes.removeValue(forKey: mid) { pendingBytes -= bytes }
    }

    func didReceive(_ message: UnsafePointer<mosquitto_message>, properties: OpaquePointer?) {
        counters.messagesIn += 1
        let topic = String(cString: message.pointee.topic)
        let payload = UnsafeRawBufferPointer(start: message.pointee.payload, count: Int(message.pointee.payloadlen))
        var correlation: [UInt8]?
        if let properties {
            var value: UnsafeMutableRawPointer?
            var length: UInt16 = 0
            if mosquitto_property_read_binary(properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &value, &length, false) != nil,
               let value {
                correlation = Array(UnsafeRawBufferPointer(start: value, count: Int(length)))
                free(value)
            }
        }
        delegate?.mqttClient(self, didReceive: topic, payload: payload, correlationData: correlation,
                             retained: message.pointee.retain)
    }
}
