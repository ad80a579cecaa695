import ArgumentParser
import Glibc
import Paths

/// `rtcgate-bench paths`: how long choosing a call's relay path takes, on a link table as full as
/// a board allows: every relay pair measured, every client with reports (docs/paths.md).
struct PathBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paths",
        abstract: "Time to choose a call's relay path (µs), with --relays relays all linked and --clients clients reporting.",
        discussion: """
            Builds a link table of --relays relays (every pair measured: RTT 1-100 ms, loss 0-20 %, \
            jitter 0-20 ms, random with --seed) and --clients clients (each at a site with a relay, \
            and reporting --reports random relays), then plans --calls calls between random pairs \
            of clients, timing each with CLOCK_MONOTONIC (--cold: each in a new second, so the relay \
            edges are rebuilt every time, as after a row changes). Prints the median, p99 and max µs per call, \
            the share of calls that found a path meeting the threshold, and the table's bytes.
            """)

    @Option(help: "Relays (instances of the cluster).") var relays = 64
    @Option(help: "Clients with link reports.") var clients = 1_000
    @Option(help: "Relays each client reported.") var reports = 8
    @Option(help: "Calls to plan.") var calls = 20_000
    @Option(help: "Minimum link quality (path-min-quality).") var minQuality = 0.5
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Every call in a new second, so the relay edges are rebuilt each time (the worst case).") var cold = false
    @Flag(help: "One JSON line instead of text.") var json = false

    func validate() throws {
        guard (1...256).contains(relays) else { throw ValidationError("--relays must be 1...256") }
        guard (2...100_000).contains(clients) else { throw ValidationError("--clients must be 2...100000") }
        guard (0...relays).contains(reports) else { throw ValidationError("--reports must be 0...--relays") }
        guard (1...10_000_000).contains(calls) else { throw ValidationError("--calls must be 1...10000000") }
    }

    func run() throws {
        var random = SplitMix64(seed: seed)
        var table = LinkTable(relayCapacity: relays, clientCapacity: clients)
        let names = (0..<relays).map { "relay-\($0)" }
        table.setRelays(names.map { ($0, Optional($0)) })
        func estimate(maxLossPercent: UInt64) -> LinkEstimate {
            LinkEstimate(rttMicros: Int64(1_000 + random.next() % 99_000), loss: Double(random.next() % (maxLossPercent + 1)) / 100,
                         jitterMicros: Int64(random.next() % 20_000))
        }
        for from in names {
            table.setRow(from: from, links: names.filter { $0 != from }.map { ($0, estimate(maxLossPercent: 20)) }, at: 1_000)
        }
        var sites: [String?] = []
        for c in 0..<clients {
            sites.append(names[Int(random.next() % UInt64(relays))])
            for _ in 0..<reports {
                table.report(client: "client-\(c)", relay: names[Int(random.next() % UInt64(relays))], estimate: estimate(maxLossPercent: 10),
                             expires: 100_000, now: 1_000)
            }
        }
        var planner = CallPlanner(relayCapacity: relays)
        var policy = PathPolicy()
        policy.minQuality = minQuality
        var micros: [Double] = []
        micros.reserveCapacity(calls)
        var found = 0, degraded = 0
        for call in 0..<calls {
            let a = Int(random.next() % UInt64(clients)), b = (a + 1 + Int(random.next() % UInt64(clients - 1))) % clients
            let start = monotonicNanos()
            let path = planner.plan(("client-\(a)", sites[a]), ("client-\(b)", sites[b]), links: table, policy: policy,
                                    now: cold ? 1_010 + UInt64(call % 20) : 1_010)
            micros.append(Double(monotonicNanos() - start) / 1_000)
            if let path { found += 1; if path.degraded { degraded += 1 } }
        }
        micros.sort()
        let median = micros[micros.count / 2], p99 = micros[min(micros.count - 1, micros.count * 99 / 100)], worst = micros.last ?? 0
        let bytes = LinkTable.reservedBytes(relayCapacity: relays, clientCapacity: clients) + PathFinder.reservedBytes(capacity: relays + 2)
        if json {
            print(#"{"relays":\#(relays),"clients":\#(clients),"calls":\#(calls),"cold":\#(cold),"medianMicros":\#(rounded(median)),"p99Micros":\#(rounded(p99)),"#
                  + #""maxMicros":\#(rounded(worst)),"paths":\#(found),"degraded":\#(degraded),"tableBytes":\#(bytes)}"#)
        } else {
            print("\(calls) \(cold ? "cold " : "")calls, \(relays) relays, \(clients) clients (\(reports) reports each): median \(rounded(median)) µs, "
                  + "p99 \(rounded(p99)) µs, max \(rounded(worst)) µs; \(found) paths (\(degraded) degraded); tables \(bytes / 1024) KiB")
        }
    }

    private func rounded(_ value: Double) -> String { String(Double(Int(value * 10)) / 10) }

    private func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
