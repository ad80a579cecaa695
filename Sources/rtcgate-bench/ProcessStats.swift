import Glibc

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, vDSO: no syscall).
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// CPU time of this process (user + system) in seconds, from getrusage.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// One reading of another process's resources from /proc (Linux only).
struct ServerSample {
    /// utime + stime of all the process's threads, in seconds.
    var cpuSeconds: Double
    /// Resident set size in KiB (VmRSS).
    var rssKiB: Int
    /// The anonymous part of it in KiB (RssAnon: heap, stacks, pools — memory only this
    /// process holds, as opposed to mapped code and libraries, RssFile).
    var anonKiB: Int
    /// Number of threads (field 20 of /proc/PID/stat).
    var threads: Int

    /// Reads /proc/PID/stat and /proc/PID/status; nil if the process is gone.
    static func read(pid: Int32) -> ServerSample? {
        guard let stat = readSmallFile("/proc/\(pid)/stat"),
              let status = readSmallFile("/proc/\(pid)/status") else { return nil }
        // Fields after the command name, which ends at the last ')': field 3 is index 0.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 17, let utime = Int(asciiOf: fields[11]), let stime = Int(asciiOf: fields[12]),
              let threads = Int(asciiOf: fields[17]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var rss = 0
        var anon = 0
        for line in status.split(separator: UInt8(ascii: "\n")) {
            let isRSS = line.starts(with: Array("VmRSS:".utf8))
            guard isRSS || line.starts(with: Array("RssAnon:".utf8)) else { continue }
            let digits = line.filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            if isRSS { rss = Int(asciiOf: digits[...]) ?? 0 } else { anon = Int(asciiOf: digits[...]) ?? 0 }
        }
        return ServerSample(cpuSeconds: Double(utime + stime) / ticks, rssKiB: rss, anonKiB: anon, threads: threads)
    }
}

/// Reads a small (procfs) file fully with plain syscalls; nil on error.
func readSmallFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { return nil }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

extension Int {
    /// Parses unsigned decimal ASCII digits.
    init?(asciiOf bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return nil }
        var v = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int(b - UInt8(ascii: "0"))
        }
        self = v
    }
}
