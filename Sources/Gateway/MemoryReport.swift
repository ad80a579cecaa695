import MediaPlane
import Signaling

/// The memory a configuration reserves at start-up and the most the bounded tables of the main
/// thread can grow to, broken down, checked against the board's `memory-budget-mib`.
package struct MemoryReport {
    package let configuration: GatewayConfiguration
    package let media: MediaWorkerConfig

    package init(configuration: GatewayConfiguration, media: MediaWorkerConfig) {
        self.configuration = configuration
        self.media = media
    }

    /// Private (anonymous) memory of the process beside its pools and tables: the Swift runtime's
    /// heap, thread stacks, libcrypto's and libmosquitto's state. Measured on x86_64 (release
    /// build, a53-256m idle: RssAnon 3.2 MiB with its 1.7 MiB of pools touched).
    package static let runtimePrivateFloorBytes = 2 << 20
    /// Code and read-only data of the binary and its libraries, resident once touched: file-backed,
    /// so shared with other processes and reclaimable under pressure (RssFile 14.7 MiB there).
    package static let codeBytes = 15 << 20

    package var reservedBytes: Int { media.reservedBytes.reduce(0) { $0 + $1.bytes } * configuration.resolvedWorkers }

    /// Tables of the main thread that grow with use, each capped: (part, most bytes).
    package var boundedParts: [(part: String, bytes: Int)] {
        var parts: [(String, Int)] = []
        let signaling = configuration.signaling
        if signaling.enabled {
            parts.append(("signaling sessions (\(signaling.maxSessions) × ~512 B)", signaling.maxSessions * 512))
            let clients = max(signaling.maxClients, signaling.clients.count)
            parts.append(("signaling clients (\(clients) × ~1 KiB state, signal-max-clients)", clients * 1024))
            parts.append(("MQTT publishes awaiting acknowledgement (mqtt-max-unacked-kib)", signaling.maxUnackedKiB * 1024))
            parts.append(("one message in and its replies (signal-max-payload × 4)", signaling.maxPayloadBytes * 4))
        }
        let management = configuration.management
        if !management.controlSocket.isEmpty {
            parts.append(("control socket (\(management.controlMaxClients) clients × (64 KiB line + 1 MiB replies))",
                          management.controlMaxClients * (64 * 1024 + ManagementOptions.controlSendLimitBytes)))
        }
        return parts
    }

    package var boundedBytes: Int { boundedParts.reduce(0) { $0 + $1.bytes } }

    /// Private runtime floor + reserved + bounded: the most private memory rtcgate should ever
    /// hold, what the board's budget is about.
    package var peakBytes: Int { Self.runtimePrivateFloorBytes + reservedBytes + boundedBytes }

    /// A message when the peak exceeds the board's budget.
    package var budgetProblem: String? {
        guard let budget = configuration.memoryBudgetMiB, peakBytes > budget << 20 else { return nil }
        return "the configuration may need \(kib(peakBytes)), more than the board's memory budget of \(budget) MiB: "
            + "lower pool-slots, max-allocations, tcp-max-connections, signal-max-sessions or mqtt-max-unacked-kib"
    }

    package var text: String {
        let workers = configuration.resolvedWorkers
        var lines = ["configuration OK",
                     "listening: \(media.listenAddresses.map(\.description).joined(separator: ", "))"
                        + " (\([media.udp ? "udp" : nil, media.tcp ? "tcp" : nil].compactMap { $0 }.joined(separator: "+")))",
                     "workers: \(workers)",
                     "reserved per worker:"]
        for part in media.reservedBytes { lines.append("  \(pad(kib(part.bytes), 12))  \(part.part)") }
        lines.append("reserved in all: \(kib(reservedBytes)) (\(workers) worker\(workers == 1 ? "" : "s"))")
        if !boundedParts.isEmpty {
            lines.append("bounded on the main thread (at most):")
            for part in boundedParts { lines.append("  \(pad(kib(part.bytes), 12))  \(part.part)") }
        }
        var peak = "peak: \(kib(peakBytes)) private (runtime ~\(kib(Self.runtimePrivateFloorBytes)) + reserved + bounded)"
        if let budget = configuration.memoryBudgetMiB { peak += "; board budget \(budget) MiB" }
        lines.append(peak)
        lines.append("resident at most ~\(kib(peakBytes + Self.codeBytes)) with code and libraries "
                     + "(~\(kib(Self.codeBytes)), file-backed: shared and reclaimable)")
        return lines.joined(separator: "\n")
    }

    private func kib(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes / (1 << 20)).\((bytes % (1 << 20)) * 10 / (1 << 20)) MiB" : "\((bytes + 1023) / 1024) KiB"
    }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
