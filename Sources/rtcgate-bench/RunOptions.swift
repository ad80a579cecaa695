import ArgumentParser

/// Options every load command takes: how long to run, when a message counts as lost, whose
/// resources to sample, and the output format.
struct RunOptions: ParsableArguments {
    @Option(help: "Measured interval in seconds (turn --mode hold: how long to hold).")
    var duration = 10.0

    @Option(help: "Warm-up in seconds, excluded from all figures.")
    var warmup = 2.0

    @Option(name: .customLong("timeout-ms"), help: "A message (or set-up request) unanswered this long is counted lost.")
    var timeoutMs = 1000

    @Option(name: .customLong("server-pid"), help: "Server process to sample CPU/RSS/threads of (/proc).")
    var serverPid: Int32?

    @Flag(help: "Print one JSON object instead of the summary.")
    var json = false

    var durationNanos: UInt64 { UInt64(duration * 1e9) }
    var warmupNanos: UInt64 { UInt64(warmup * 1e9) }
    var timeoutNanos: UInt64 { UInt64(timeoutMs) * 1_000_000 }

    func validate() throws {
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration must be in (0, 86400]") }
        guard warmup >= 0, warmup <= 3600 else { throw ValidationError("--warmup must be in [0, 3600]") }
        guard (1...60_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be 1...60000") }
    }
}
