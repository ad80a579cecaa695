import CMosquitto
import CSystem
import Glibc

extension MQTTClient {
    /// Publishes at QoS 1. Returns false, and counts a drop, when the broker is not connected or
    /// `maxPendingPublishes` messages (or `maxPendingBytes` of payload) still wait for their
    /// acknowledgement.
    ///
    /// On MQTT 5 the message carries `expirySeconds` (default: the config's Message Expiry) and the
    /// given Correlation Data; on 3.1.1 those properties do not exist and are left out.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], retain: Bool = false, correlationData: [UInt8]? = nil,
                        expirySeconds: UInt32? = nil) -> Bool {
        guard isConnected, pendingAckCount < config.maxPendingPublishes,
              pendingBytes + payload.count <= config.maxPendingBytes else {
            counters.publishDrops += 1
            return false
        }
        var properties: OpaquePointer?
        defer { if properties != nil { mosquitto_property_free_all(&properties) } }
        if protocolVersion == MQTT_PROTOCOL_V5 {
            let expiry = expirySeconds ?? config.messageExpirySeconds
            if expiry > 0 {
                _ = mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), expiry)
            }
            if let correlationData, !correlationData.isEmpty, correlationData.count <= Int(UInt16.max) {
                _ = correlationData.withUnsafeBytes { bytes in
                    mosquitto_property_add_binary(&properties, Int32(MQTT_PROP_CORRELATION_DATA.rawValue),
                                                  bytes.baseAddress, UInt16(bytes.count))
                }
            }
        }
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, 1, retain, properties)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            counters.publishDrops += 1
            return false
        }
        counters.published += 1
        notePublished(mid: mid, bytes: payload.count)
        // A partial write leaves the rest queued: make sure the loop waits for writability.
        syncRegistration()
        return true
    }
}

/// An error from libmosquitto, with its description.
public struct MQTTError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32

    public var description: String { "\(operation): \(Self.describe(code))" }

    static func describe(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue {
            return String(cString: strerror(errno))
        }
        return String(cString: mosquitto_strerror(rc))
    }

    static func describeConnack(_ rc: Int32, protocolVersion: Int32) -> String {
        protocolVersion == MQTT_PROTOCOL_V5
            ? "\(String(cString: mosquitto_reason_string(rc))) (reason \(rc))"
            : "\(String(cString: mosquitto_connack_string(rc))) (code \(rc))"
    }
}

/// libmosquitto's process-wide initialisation, done once.
enum MQTTLibrary {
    private static let once: Bool = {
        mosquitto_lib_init()
        return true
    }()

    static func initialise() { _ = once }
}

extension MQTTClient {
    /// The broker connection's descriptor, or -1 (for diagnostics and tests).
    public var socketDescriptor: Int32 { mosquitto_socket(handle) }
}

extension MQTTClient {
    /// Subscribes to `filter` again (QoS 1) so the broker resends its retained messages, e.g. the
    /// presence of clients that were provisioned while already connected. False when not connected.
    @discardableResult
    public func resubscribe(_ filter: String) -> Bool {
        guard isConnected else { return false }
        var mid: Int32 = 0
        let ok = mosquitto_subscribe(handle, &mid, filter, 1) == MOSQ_ERR_SUCCESS.rawValue
        syncRegistration()
        return ok
    }
}
