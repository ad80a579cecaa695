import Glibc
import MediaPlane
import Paths
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
            let relays = configuration.paths.maxRelays
            parts.append(("path model: link table (\(relays) relays² + \(clients) clients × \(relays) relays) and search (path-max-relays)",
                          LinkTable.reservedBytes(relayCapacity: relays, clientCapacity: clients)
                              + PathFinder.reservedBytes(capacity: relays + 2)))
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

    /// The most kernel memory received datagrams may hold in rtcgate's UDP sockets (all workers).
    package var socketBufferBytes: Int {
        media.socketBufferParts.reduce(0) { $0 + $1.bytes } * configuration.resolvedWorkers
    }

    /// What the board's budget is checked against: private peak + kernel socket buffers.
    package var budgetedBytes: Int { peakBytes + socketBufferBytes }

    /// A message when the peak and the socket buffers exceed the board's budget.
    package var budgetProblem: String? {
        guard let budget = configuration.memoryBudgetMiB, budgetedBytes > budget << 20 else { return nil }
        return "the configuration may need \(kib(budgetedBytes)) (\(kib(peakBytes)) private + \(kib(socketBufferBytes)) socket buffers), "
            + "more than the board's memory budget of \(budget) MiB: lower pool-slots, max-allocations, tcp-max-connections, "
            + "signal-max-sessions, mqtt-max-unacked-kib, socket-buffer-bytes or relay-socket-buffer-bytes"
    }

    /// The system's cap on socket buffers (net.core.rmem_max), which applies unless rtcgate may
    /// force sizes (CAP_NET_ADMIN); nil when unreadable.
    package static func systemReceiveBufferMax() -> Int? {
        let fd = open("/proc/sys/net/core/rmem_max", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return Int(String(decoding: bytes[0..<count].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
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
        lines.append("peak: \(kib(peakBytes)) private (runtime ~\(kib(Self.runtimePrivateFloorBytes)) + reserved + bounded)")
        let sockets = media.socketBufferParts
        if !sockets.isEmpty {
            lines.append("kernel socket buffers per worker (received datagrams, at most):")
            for part in sockets { lines.append("  \(pad(kib(part.bytes), 12))  \(part.part)") }
            let requested = [media.socketBufferBytes, media.relaySocketBufferBytes].compactMap { $0 }.max() ?? 0
            if let cap = Self.systemReceiveBufferMax(), requested > cap {
                lines.append("  note: net.core.rmem_max is \(cap / 1024) KiB: without CAP_NET_ADMIN the kernel grants at most that; "
                             + "install packaging/sysctl/60-rtcgate.conf or raise it")
            }
        }
        var total = "memory at most: \(kib(budgetedBytes)) (\(kib(peakBytes)) private + \(kib(socketBufferBytes)) socket buffers)"
        if let budget = configuration.memoryBudgetMiB { total += "; board budget \(budget) MiB" }
        lines.append(total)
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
