import Logging
import MediaPlane
import STUN
import TURN

/// The periodic (and final) counter line of the log: `key=value` metadata, drops only when
/// nonzero so a quiet gateway logs a short line.
package enum CounterSummary {
    /// `media` summed over the workers; `signaling` from `SignalingService.summary()` when the
    /// plane runs.
    package static func metadata(media total: MediaCounters, turnRunning: Bool, signaling: Logger.Metadata?) -> Logger.Metadata {
        let stun = total.stun
        var metadata: Logger.Metadata = [
            "stun_requests": "\(stun.requests)",
            "stun_success": "\(stun.successResponses)",
            "stun_errors": "\(stun.errorResponses)",
            "udp_in": "\(total.udpDatagramsIn)",
            "udp_out": "\(total.udpDatagramsOut)",
            "udp_send_failures": "\(total.udpSendFailures)",
            "udp_kernel_drops": "\(total.udpKernelDrops)",
            "udp_gso_runs": "\(total.udpSegmentedRuns)",
            "udp_gso_datagrams": "\(total.udpSegmentedDatagrams)",
            "pool_in_use": "\(total.poolInUse)/\(total.poolCapacity)",
            "pool_exhaustions": "\(total.poolExhaustions)",
            "tcp_open": "\(total.tcpOpen)",
            "tcp_refused_full": "\(total.tcpRefusedFull)",
        ]
        if turnRunning {
            metadata["turn_allocations"] = "\(total.turnAllocations)"
            metadata["turn_to_peer"] = "\(total.turn.packetsToPeer)"
            metadata["turn_to_client"] = "\(total.turn.packetsToClient)"
            metadata["turn_relay_exhaustions"] = "\(total.turnRelayExhaustions)"
            metadata["turn_relay_send_failures"] = "\(total.turnRelaySendFailures)"
            for reason in TurnDropReason.allCases where total.turn[drop: reason] > 0 {
                metadata["turn_drop_\(reason.label)"] = "\(total.turn[drop: reason])"
            }
        }
        if let signaling { metadata.merge(signaling, uniquingKeysWith: { $1 }) }
        for reason in ResponderDropReason.allCases where stun.drops[reason] > 0 {
            metadata["drop_\(reason.label)"] = "\(stun.drops[reason])"
        }
        return metadata
    }
}
