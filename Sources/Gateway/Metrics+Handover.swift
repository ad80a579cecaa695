/// Counters across a handover (docs/handover.md): the old process hands its totals over and the
/// new one adds them to its own, so a scrape never sees a counter go back. The signaling
/// router's counters travel inside its state instead and are left out here.
extension MetricsCollector {
    /// Every counter's value by `name{label=value,…}`, the router's excepted, and the kernel's
    /// drops: the kernel counts those per socket since its creation, and the new process reads
    /// that total again from each socket it adopts (carrying them too would count them twice).
    package var carriedCounters: [(key: String, value: UInt64)] {
        samples.filter { $0.kind == .counter && !$0.name.hasPrefix("rtcgate_signaling_") && $0.name != "rtcgate_udp_kernel_drops_total" }
            .map { (Self.key(of: $0), $0.value) }
    }

    /// Adds the totals a handover carried to the matching counters.
    package mutating func addCarried(_ totals: [String: UInt64]) {
        guard !totals.isEmpty else { return }
        for index in samples.indices where samples[index].kind == .counter {
            if let carried = totals[Self.key(of: samples[index])] { samples[index].value &+= carried }
        }
    }

    static func key(of sample: MetricSample) -> String {
        sample.name + "{" + sample.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}
