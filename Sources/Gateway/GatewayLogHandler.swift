import Glibc
import Logging
import Synchronization

/// Writes one line per event to stderr. Under systemd (JOURNAL_STREAM set) each line starts with
/// the syslog priority (`<6>`) so journald records the level and adds its own timestamp; otherwise
/// lines carry a UTC timestamp. Metadata follows as `key=value`. The level is shared by every
/// logger and changes live (SIGHUP reload).
package struct GatewayLogHandler: LogHandler {
    /// The level in force for every logger of the process.
    package static let sharedLevel = Atomic<UInt8>(levelCode(.info))
    package static let journald = getenv("JOURNAL_STREAM") != nil

    package let label: String
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?

    package init(label: String) { self.label = label }

    package var logLevel: Logger.Level {
        get { Self.level(fromCode: Self.sharedLevel.load(ordering: .relaxed)) }
        set { Self.sharedLevel.store(Self.levelCode(newValue), ordering: .relaxed) }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var line = Self.journald ? "<\(Self.syslogPriority(event.level))>" : "\(Self.timestamp()) \(event.level.rawValue) "
        line += "\(label): \(event.message)"
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += "\n"
        writeToStandardError(line)
    }

    /// The level in force now.
    package static var currentLevel: Logger.Level { Logger.Level.allCases[Int(sharedLevel.load(ordering: .relaxed))] }

    package static func levelCode(_ level: Logger.Level) -> UInt8 { UInt8(Logger.Level.allCases.firstIndex(of: level)!) }
    package static func level(fromCode code: UInt8) -> Logger.Level { Logger.Level.allCases[Int(code)] }

    package static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    package static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = Int(ts.tv_nsec / 1_000_000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}

/// Writes text to file descriptor 2 in one `write` call per chunk (no stdio buffering, so log
/// lines from several threads never interleave mid-line).
package func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}
