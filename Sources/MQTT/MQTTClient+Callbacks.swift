import CMosquitto

/// The C callbacks libmosquitto calls; each finds its `MQTTClient` through the user-data pointer.
extension MQTTClient {
    func installCallbacks() {
        mosquitto_connect_v5_callback_set(handle) { _, object, rc, _, _ in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didReceiveConnack(rc)
        }
        mosquitto_disconnect_v5_callback_set(handle) { _, object, rc, _ in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didDisconnect(rc)
        }
        mosquitto_publish_v5_callback_set(handle) { _, object, mid, _, _ in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didPublish(mid: mid)
        }
        mosquitto_subscribe_v5_callback_set(handle) { _, object, _, _, _, _ in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().counters.subscriptionsAcknowledged &+= 1
        }
        mosquitto_message_v5_callback_set(handle) { _, object, message, properties in
            guard let object, let message else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didReceive(message, properties: properties)
        }
    }
}
