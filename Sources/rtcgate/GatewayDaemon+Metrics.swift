import Gateway
import Glibc
import Logging
import MediaPlane
import Reactor

/// The daemon's counters: `stats`, Prometheus, the periodic summary line, and the report of the
/// socket buffers the kernel granted at start-up.
extension GatewayDaemon {
    /// Every counter of every plane, for `stats` and Prometheus.
    func metrics() -> MetricsCollector { metrics(fresh: true) }

    /// `fresh: false` takes the counters the workers last published (they may be paused).
    func metrics(fresh: Bool) -> MetricsCollector {
        var collector = MetricsCollector()
        collector.gauge("uptime_seconds", "Seconds since rtcgate started.", (MonotonicClock.now() - startedAt) / 1_000_000_000)
        collector.gauge("resident_memory_bytes", "Resident set size of the process (code pages included).", ProcessMemory.residentBytes())
        collector.gauge("private_memory_bytes", "Resident anonymous memory: heap, stacks, pools and tables (what the board's budget is about).",
                        ProcessMemory.privateBytes())
        collector.add(media: totals(fresh: fresh), workers: handles.count)
        addTLSMetrics(to: &collector)
        if let controlServer { collector.add(control: controlServer.counters) }
        if let signaling {
            collector.add(signaling: signaling.router.counters, mqtt: signaling.client.counters,
                          connected: signaling.client.isConnected, pending: signaling.client.pendingAckCount)
            collector.add(paths: signaling.paths, now: UInt64(time(nil)))
        }
        collector.addCarried(carriedCounters)
        return collector
    }

    /// The workers' counters summed; `fresh` asks running workers to publish first (they publish
    /// only when asked, so an idle worker never wakes for it).
    func totals(fresh: Bool = true) -> MediaCounters {
        if fresh { synchronizeWorkers() }
        var total = MediaCounters()
        for handle in handles { total.add(handle.counters) }
        return total
    }

    func logSummary(final: Bool) {
        let metadata = CounterSummary.metadata(media: totals(fresh: !final), turnRunning: turnRunning, signaling: signaling?.summary())
        logger.info(final ? "final counters" : "counters", metadata: metadata)
    }

    /// The UDP socket buffers as the kernel granted them (the listening sockets', and a relay
    /// socket's as a probe shows); a warning when the system maximum cut a request, since bursts
    /// then overflow (udp_kernel_drops).
    func logSocketBuffers(_ worker: MediaWorker, media: MediaWorkerConfig) {
        guard let buffers = worker.socketBuffers else { return }
        func kib(_ bytes: Int?) -> String { bytes.map { "\($0 / 1024)" } ?? "system default" }
        // The kernel reports twice what it grants for data (the rest is its bookkeeping).
        var metadata: Logger.Metadata = ["receive_kib": "\(buffers.receiveBytes / 2048)", "send_kib": "\(buffers.sendBytes / 2048)",
                                         "requested_kib": "\(kib(media.socketBufferBytes))"]
        var capped = buffers.capped
        if media.turn != nil, let probe = try? UDPSocket(bindTo: SocketAddress(ip: "127.0.0.1", port: 0)!, bufferBytes: media.relaySocketBufferBytes) {
            metadata["relay_receive_kib"] = "\(probe.receiveBufferBytes / 2048)"
            metadata["relay_requested_kib"] = "\(kib(media.relaySocketBufferBytes))"
            capped = capped || probe.bufferCapped
        }
        if capped {
            logger.warning("""
                UDP socket buffers capped by net.core.rmem_max/wmem_max: bursts may be dropped (udp_kernel_drops); \
                install packaging/sysctl/60-rtcgate.conf, raise those sysctls or give rtcgate CAP_NET_ADMIN
                """, metadata: metadata)
        } else {
            logger.info("UDP socket buffers", metadata: metadata)
        }
    }
}
