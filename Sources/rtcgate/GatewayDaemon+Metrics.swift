import Gateway
import Glibc
import Logging
import MediaPlane
import Reactor

/// The daemon's counters: `stats`, Prometheus and the periodic summary line.
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
}
