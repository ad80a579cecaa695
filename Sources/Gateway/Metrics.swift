import Control
import Glibc
import JSON
import MediaPlane
import MQTT
import Reactor
import STUN
import Signaling
import TURN

/// One metric sample: a Prometheus-style name (`rtcgate_…`, `_total` for counters), its kind,
/// help text, labels and value. `stats` shows them as JSON; `stats.prometheus` and the metrics
/// listener render them in the Prometheus text format (version 0.0.4).
package struct MetricSample: Equatable {
    package enum Kind: String { case counter, gauge }

    package var name: String
    package var kind: Kind
    package var help: String
    package var labels: [(String, String)] = []
    package var value: UInt64

    package static func == (a: MetricSample, b: MetricSample) -> Bool {
        a.name == b.name && a.kind == b.kind && a.value == b.value && a.labels.map(\.0) == b.labels.map(\.0)
            && a.labels.map(\.1) == b.labels.map(\.1)
    }
}

/// Gathers every counter of every plane into samples.
package struct MetricsCollector {
    package var samples: [MetricSample] = []

    package init() {}

    package mutating func counter(_ name: String, _ help: String, _ value: UInt64, _ labels: [(String, String)] = []) {
        samples.append(MetricSample(name: "rtcgate_" + name, kind: .counter, help: help, labels: labels, value: value))
    }

    package mutating func gauge(_ name: String, _ help: String, _ value: UInt64, _ labels: [(String, String)] = []) {
        samples.append(MetricSample(name: "rtcgate_" + name, kind: .gauge, help: help, labels: labels, value: value))
    }

    /// The media plane (summed over workers).
    package mutating func add(media total: MediaCounters, workers: Int) {
        gauge("media_workers", "Media worker threads.", UInt64(workers))
        let stun = total.stun
        counter("stun_requests_total", "STUN requests received.", stun.requests)
        counter("stun_binding_requests_total", "STUN Binding requests received.", stun.bindingRequests)
        counter("stun_success_responses_total", "STUN success responses sent.", stun.successResponses)
        counter("stun_error_responses_total", "STUN error responses sent.", stun.errorResponses)
        for reason in ResponderDropReason.allCases {
            counter("stun_dropped_total", "STUN datagrams dropped, by reason.", stun.drops[reason], [("reason", reason.label)])
        }
        counter("udp_datagrams_received_total", "UDP datagrams received on the listening sockets.", total.udpDatagramsIn)
        counter("udp_datagrams_sent_total", "UDP datagrams sent from the listening sockets.", total.udpDatagramsOut)
        counter("udp_send_failures_total", "UDP sends that failed.", total.udpSendFailures)
        counter("udp_kernel_drops_total", "Datagrams the kernel dropped for a full socket receive buffer (SO_RXQ_OVFL); raise socket-buffer-bytes.",
                total.udpKernelDrops)
        counter("udp_segmented_runs_total", "Runs of same-size datagrams to one destination sent as one message (UDP GSO).", total.udpSegmentedRuns)
        counter("udp_segmented_datagrams_total", "Datagrams sent within those runs.", total.udpSegmentedDatagrams)
        counter("udp_segmentation_fallbacks_total", "Runs the kernel refused as one message, sent datagram by datagram.", total.udpSegmentationFallbacks)
        counter("udp_truncated_total", "UDP datagrams truncated on receive (larger than a pool slot).", total.udpTruncated)
        gauge("pool_slots_in_use", "Buffer-pool slots in use.", total.poolInUse)
        gauge("pool_slots", "Buffer-pool slots in all.", total.poolCapacity)
        counter("pool_exhaustions_total", "Times a datagram found no free pool slot.", total.poolExhaustions)
        counter("tcp_connections_accepted_total", "TCP connections accepted.", total.tcpAccepted)
        counter("tcp_connections_refused_total", "TCP connections refused because the table was full.", total.tcpRefusedFull)
        gauge("tcp_connections_open", "TCP connections open.", total.tcpOpen)
        for reason in StreamCloseReason.plainReasons {
            counter("tcp_connections_closed_total", "TCP connections closed, by reason.", total.tcpClosed[reason.rawValue], [("reason", reason.label)])
        }
        let tls = total.tls
        counter("tls_connections_accepted_total", "TURN-over-TLS connections accepted (handshakes started).", tls.accepted)
        counter("tls_handshakes_total", "TLS handshakes completed.", tls.handshakes)
        counter("tls_connections_refused_total", "TLS connections refused at accept, by reason.", tls.refusedFull, [("reason", "table_full")])
        counter("tls_connections_refused_total", "TLS connections refused at accept, by reason.", tls.refusedRate, [("reason", "handshake_rate")])
        counter("tls_connections_refused_total", "TLS connections refused at accept, by reason.", tls.refusedUnavailable, [("reason", "unavailable")])
        gauge("tls_connections_open", "TLS connections open.", tls.open)
        for reason in StreamCloseReason.allCases {
            counter("tls_connections_closed_total", "TLS connections closed, by reason.", tls.closed[reason.rawValue], [("reason", reason.label)])
        }
        let turn = total.turn
        gauge("turn_allocations", "TURN allocations live.", total.turnAllocations)
        counter("turn_packets_total", "Packets relayed, by direction.", turn.packetsToPeer, [("direction", "to_peer")])
        counter("turn_packets_total", "Packets relayed, by direction.", turn.packetsToClient, [("direction", "to_client")])
        counter("turn_bytes_total", "Payload bytes relayed, by direction.", turn.bytesToPeer, [("direction", "to_peer")])
        counter("turn_bytes_total", "Payload bytes relayed, by direction.", turn.bytesToClient, [("direction", "to_client")])
        counter("turn_malformed_requests_total", "TURN requests answered 400 because they could not be read.", turn.malformedRequests)
        counter("turn_allocations_refused_draining_total", "Allocations refused (508) while draining.", turn.refusedDraining)
        counter("turn_relay_exhaustions_total", "Allocations refused because no relay port was free.", total.turnRelayExhaustions)
        counter("turn_relay_send_failures_total", "Relay sends that failed.", total.turnRelaySendFailures)
        for reason in TurnDropReason.allCases {
            counter("turn_dropped_total", "TURN packets dropped, by reason.", turn[drop: reason], [("reason", reason.label)])
        }
    }

    /// The signaling plane: the router and its MQTT connection.
    package mutating func add(signaling counters: SignalingCounters, mqtt: MQTTCounters, connected: Bool, pending: Int) {
        gauge("mqtt_connected", "1 while connected to the broker.", connected ? 1 : 0)
        counter("mqtt_connects_total", "Successful broker connections.", mqtt.connects)
        counter("mqtt_disconnects_total", "Broker connections lost.", mqtt.disconnects)
        counter("mqtt_messages_received_total", "MQTT messages received.", mqtt.messagesIn)
        counter("mqtt_messages_published_total", "MQTT messages published.", mqtt.published)
        counter("mqtt_publish_drops_total", "Publishes dropped (broker away or too many unacknowledged).", mqtt.publishDrops)
        gauge("mqtt_unacknowledged", "QoS 1 publishes waiting for the broker's acknowledgement.", UInt64(pending))
        counter("signaling_messages_total", "Client messages received on up topics.", UInt64(counters.messagesIn))
        counter("signaling_forwarded_total", "Client messages forwarded to a peer.", UInt64(counters.forwarded))
        counter("signaling_replies_total", "STATUS and ICE_CONFIG replies.", UInt64(counters.replies))
        counter("signaling_gateway_messages_total", "PEER_STATUS, END, GO_AWAY and pushed ICE_CONFIG sent.", UInt64(counters.gatewayMessages))
        for code in SignalingErrorCode.allCases {
            counter("signaling_refusals_total", "Requests refused, by error.", UInt64(counters.refusals[code]), [("error", code.rawValue)])
        }
        gauge("signaling_sessions", "Live signaling sessions.", UInt64(counters.sessionsLive))
        counter("signaling_sessions_started_total", "Sessions started.", UInt64(counters.sessionsStarted))
        for reason in EndReason.allCases {
            counter("signaling_sessions_ended_total", "Sessions ended, by reason.", UInt64(counters.sessionsEnded[reason]), [("reason", reason.rawValue)])
        }
        counter("signaling_presence_changes_total", "Presence changes.", UInt64(counters.presenceOnline), [("state", "online")])
        counter("signaling_presence_changes_total", "Presence changes.", UInt64(counters.presenceOffline), [("state", "offline")])
        counter("signaling_client_table_full_total", "Presence or requests refused because the client table was full (signal-max-clients).", UInt64(counters.clientTableFull))
        counter("signaling_ice_configs_total", "ICE_CONFIG messages issued (replies and pushes).", UInt64(counters.iceConfigsIssued + counters.icePushes))
        counter("signaling_directories_total", "DIRECTORY messages sent (replies and pushes).", UInt64(counters.directoriesSent))
    }

    /// The control socket.
    package mutating func add(control counters: ControlServerCounters) {
        counter("control_connections_total", "Control socket connections admitted.", counters.accepted)
        counter("control_refused_total", "Control socket connections refused, by reason.", counters.refusedForbidden, [("reason", "forbidden")])
        counter("control_refused_total", "Control socket connections refused, by reason.", counters.refusedBusy, [("reason", "busy")])
        counter("control_refused_total", "Control socket connections refused, by reason.", counters.refusedOther, [("reason", "other")])
        counter("control_requests_total", "Control requests handled.", counters.requests)
        counter("control_errors_total", "Control error responses.", counters.errors)
    }

    /// The Prometheus text exposition: one HELP/TYPE block per metric name, samples in order.
    package var prometheusText: String {
        var text = ""
        var described = Set<String>()
        for sample in samples {
            if described.insert(sample.name).inserted {
                text += "# HELP \(sample.name) \(Self.escapeHelp(sample.help))\n# TYPE \(sample.name) \(sample.kind.rawValue)\n"
            }
            text += sample.name
            if !sample.labels.isEmpty {
                text += "{" + sample.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " \(sample.value)\n"
        }
        return text
    }

    /// The samples as JSON: `{name: value}` for unlabelled samples, `{name: {label=value: n}}` otherwise.
    package var json: JSONValue {
        var members: [(String, JSONValue)] = []
        for sample in samples {
            let key = String(sample.name.dropFirst("rtcgate_".count))
            if sample.labels.isEmpty {
                members.append((key, .number(JSONNumber(sample.value))))
                continue
            }
            let labelKey = sample.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            if let index = members.firstIndex(where: { $0.0 == key }), case .object(var inner) = members[index].1 {
                inner.append((labelKey, .number(JSONNumber(sample.value))))
                members[index].1 = .object(inner)
            } else {
                members.append((key, .object([(labelKey, .number(JSONNumber(sample.value)))])))
            }
        }
        return .object(members)
    }

    /// Help text: backslash and newline escaped.
    private static func escapeHelp(_ text: String) -> String { escape(text, quotes: false) }

    /// Label values: backslash, newline and double quote escaped.
    private static func escapeLabel(_ text: String) -> String { escape(text, quotes: true) }

    private static func escape(_ text: String, quotes: Bool) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.append(character)
            }
        }
        return out
    }
}

/// The process's resident memory, from /proc/self/statm.
package enum ProcessMemory {
    package static func residentBytes() -> UInt64 { statm().resident }

    /// Resident anonymous (private) memory: heap, stacks, pools and tables, without the
    /// file-backed pages of code, which are shared and reclaimable.
    package static func privateBytes() -> UInt64 {
        let pages = statm()
        return pages.resident > pages.shared ? pages.resident - pages.shared : 0
    }

    /// Resident and shared (file-backed and shmem) bytes from /proc/self/statm.
    private static func statm() -> (resident: UInt64, shared: UInt64) {
        guard let file = fopen("/proc/self/statm", "r") else { return (0, 0) }
        defer { fclose(file) }
        var size: UInt = 0, resident: UInt = 0, shared: UInt = 0
        guard withUnsafeMutablePointer(to: &size, { sizePointer in
            withUnsafeMutablePointer(to: &resident) { residentPointer in
                withUnsafeMutablePointer(to: &shared) { sharedPointer in
                    withVaList([sizePointer, residentPointer, sharedPointer]) { vfscanf(file, "%lu %lu %lu", $0) }
                }
            }
        }) == 3 else { return (0, 0) }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        return (UInt64(resident) * page, UInt64(shared) * page)
    }
}
