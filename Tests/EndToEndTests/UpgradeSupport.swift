import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

/// A copy of the built `rtcgate` with its build stamps patched (CSystem's marked strings): another
/// version string, or another snapshot format (a deliberately incompatible build).
struct PatchedBuild {
    let directory = TemporaryDirectory()
    let path: String

    init(version: String? = nil, snapshotFormat: Int? = nil) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestPaths.rtcgate)))
        if let version { try Self.replace(&bytes, marker: "rtcgate-build-version:", value: version, field: 48) }
        if let snapshotFormat { try Self.replace(&bytes, marker: "rtcgate-snapshot-format:", value: "\(snapshotFormat)", field: 32) }
        path = directory.file("rtcgate")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
    }

    /// Writes `value` after `marker` in its fixed-size field (NUL-padded).
    private static func replace(_ bytes: inout [UInt8], marker: String, value: String, field: Int) throws {
        let needle = Array(marker.utf8)
        guard let start = (0...(bytes.count - needle.count)).first(where: { bytes[$0] == needle[0] && Array(bytes[$0..<$0 + needle.count]) == needle }) else {
            throw HarnessError("no \(marker) stamp in \(TestPaths.rtcgate)")
        }
        let room = field - needle.count - 1
        guard value.utf8.count <= room else { throw HarnessError("\(value) does not fit the stamp") }
        let at = start + needle.count
        for i in 0..<room { bytes[at + i] = i < value.utf8.count ? Array(value.utf8)[i] : 0 }
    }

    func remove() { directory.remove() }
}

/// `rtcgate ctl upgrade` against a gateway (exit status, stdout, stderr).
func ctlUpgrade(_ gateway: GatewayProcess, binary: String? = nil, wait: Double = 40) throws -> ToolResult {
    try runTool(TestPaths.rtcgate, ["ctl", "--socket", gateway.controlSocket, "upgrade", "--wait", "\(wait)"]
                + (binary.map { ["--binary", $0] } ?? []), timeout: wait + 10)
}

/// `ctl status` as JSON (nil when nobody answers).
func statusJSON(_ gateway: GatewayProcess) -> JSONValue? {
    guard let result = try? ctl(gateway, ["status"]), result.status == 0 else { return nil }
    return result.json
}

/// Whether a process exists (and is not a zombie of ours).
func processAlive(_ pid: Int32) -> Bool {
    guard pid > 0, kill(pid, 0) == 0 else { return false }
    let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
    return state != "Z"
}

/// Stops a successor (not a child of the test): SIGTERM, then SIGKILL after 5 s.
func stopProcess(_ pid: Int32) {
    guard processAlive(pid) else { return }
    kill(pid, SIGTERM)
    if !holds(within: 5, { !processAlive(pid) }) { kill(pid, SIGKILL) }
    _ = holds(within: 2, { !processAlive(pid) })
}

/// The pid `ctl upgrade` started, from the old process's log line.
func startedChildPid(_ log: String) -> Int32? {
    guard let line = log.split(separator: "\n").last(where: { $0.contains("handover: started") }),
          let range = line.range(of: "(pid ") else { return nil }
    return Int32(line[range.upperBound...].prefix { $0.isNumber })
}

/// What a process that should have exited is doing: its state and each thread's kernel wait channel.
func processDiagnosis(_ pid: Int32) -> String {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "gone"
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    let channels = tasks.map { task in
        let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? "?"
        let wchan = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/wchan", encoding: .utf8)) ?? "?"
        return "\(name.trimmingCharacters(in: .whitespacesAndNewlines)):\(wchan)"
    }
    return "stat \(stat.prefix(60)); threads \(channels.joined(separator: " "))"
}
