import ArgumentParser
import Control
import Gateway
import Glibc
import JSON

extension Rtcgate.Ctl {
    /// `rtcgate ctl upgrade`: replace the running binary without dropping calls (docs/handover.md).
    struct Upgrade: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand the sockets and state over to a new binary (default: the running binary's path) and wait for the outcome.",
            discussion: "Exit 0 when the new binary serves; 1 when the handover failed and the old binary serves on (the reason is printed).")
        @OptionGroup var options: CtlOptions
        @Option(name: .long, help: "Absolute path of the new binary.") var binary: String?
        @Option(name: .long, help: "Seconds to wait for the outcome.") var wait: Double = 60

        func run() throws {
            let client = ControlClient(path: options.socketPath)
            let started: JSONValue
            do {
                started = try client.call("upgrade", args: .object(binary.map { [("binary", .string($0))] } ?? []), timeout: options.timeout)
            } catch {
                writeToStandardError("rtcgate ctl: \(error)\n")
                throw ExitCode(error.exitCode)
            }
            guard let child = started["childPid"]?.intValue, let old = started["pid"]?.intValue else {
                writeToStandardError("rtcgate ctl: unexpected answer \(started.jsonText)\n")
                throw ExitCode(5)
            }
            let deadline = Double(time(nil)) + wait
            while Double(time(nil)) < deadline {
                usleep(50_000)
                guard let status = try? client.call("status", args: .object([]), timeout: 2) else { continue }
                let handover = status["handover"]
                if status["pid"]?.intValue == child, handover?["state"]?.stringValue == "took-over" {
                    print(options.json ? CtlFormat.json(status) : Self.summary(status, old: old), terminator: "")
                    return
                }
                if status["pid"]?.intValue == old, handover?["state"]?.stringValue == "failed" {
                    writeToStandardError("rtcgate ctl: handover failed, pid \(old) serves on: \(handover?["reason"]?.stringValue ?? "see the log")\n")
                    throw ExitCode(1)
                }
            }
            writeToStandardError("rtcgate ctl: no outcome within \(wait) s (see the log)\n")
            throw ExitCode(5)
        }

        static func summary(_ status: JSONValue, old: Int) -> String {
            let handover = status["handover"]
            let micros = handover?["pausedToServingMicros"].map(CtlFormat.text) ?? "-"
            let version = status["version"]?.stringValue ?? "?", pid = status["pid"].map(CtlFormat.text) ?? "?"
            let carried = handover?["allocationsRestored"].map(CtlFormat.text) ?? "0"
            return "upgraded: rtcgate \(version) (pid \(pid)) replaced \(handover?["fromVersion"]?.stringValue ?? "?") (pid \(old))\n"
                + "stopped reading → serving: \(micros) µs; allocations carried: \(carried)\n"
        }
    }
}
