import Foundation
import TestSupport

/// One `Tests/Clients/webrtc_peer.py` (an aiortc peer signaling over MQTT), running in the
/// background with its stdout and stderr in files of `directory`.
struct WebRTCPeerRun {
    let process: Process
    /// Paths of its stdout (the JSON result line) and stderr (its log).
    let stdout: String
    let stderr: String

    init(_ arguments: [String], directory: TemporaryDirectory, name: String) throws {
        stdout = directory.file("\(name).out")
        stderr = directory.file("\(name).err")
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.python)
        process.arguments = [TestPaths.repoRoot + "/Tests/Clients/webrtc_peer.py"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdout)
        process.standardError = FileHandle(forWritingAtPath: stderr)
        try process.run()
    }

    /// Its log so far.
    var log: String { (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "" }

    /// The last JSON line it printed (its result), if any.
    var result: [String: Any]? {
        let text = (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// Both outputs, for a failure message.
    var text: String {
        let out = (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? ""
        return "stdout:\n\(out)\nstderr:\n\(log.suffix(4000))"
    }
}
