import ArgumentParser
import Control
import Gateway
import Glibc
import JSON

/// Options every `rtcgate ctl` command takes.
struct CtlOptions: ParsableArguments {
    @Option(name: .long, help: "Control socket (default: $RTCGATE_CONTROL_SOCKET, else /run/rtcgate/control.sock).")
    var socket: String?

    @Flag(name: .long, help: "Print the daemon's JSON result instead of a table.")
    var json = false

    @Option(name: .long, help: "Seconds to wait for the daemon's answer.")
    var timeout: Double = 10

    var socketPath: String {
        if let socket { return socket }
        if let value = getenv("RTCGATE_CONTROL_SOCKET"), let text = String(validatingCString: value), !text.isEmpty { return text }
        return "/run/rtcgate/control.sock"
    }

    /// Calls `command` and prints the result (JSON, or `render`'s text); exits with the stable
    /// code of docs/control.md on failure.
    func run(_ command: String, _ args: [(String, JSONValue)] = [], render: (JSONValue) -> String = CtlFormat.generic) throws {
        do {
            let result = try ControlClient(path: socketPath).call(command, args: .object(args), timeout: timeout)
            print(json ? CtlFormat.json(result) : render(result), terminator: "")
        } catch {
            writeToStandardError("rtcgate ctl: \(error)\n")
            throw ExitCode(error.exitCode)
        }
    }
}

extension Rtcgate {
    /// `rtcgate ctl`: the control socket's command-line client.
    struct Ctl: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Provision and inspect a running rtcgate over its control socket.",
            discussion: """
                Exit codes: 0 ok, 1 the daemon refused (not-found, exists, bad-request…), 2 usage, \
                3 rtcgate not running, 4 permission denied, 5 timeout or protocol error. See docs/control.md.
                """,
            subcommands: [Status.self, Device.self, Group.self, TurnUser.self, Secret.self, Session.self, Allocation.self,
                          Links.self, Path.self, Stats.self, ConfigShow.self, LogLevel.self, Reload.self, Drain.self, Upgrade.self])

        /// Accepted before the subcommand too (`rtcgate ctl --socket PATH device list`).
        @OptionGroup var options: CtlOptions
    }
}

extension Rtcgate.Ctl {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Version, uptime and the state of each plane.")
        @OptionGroup var options: CtlOptions
        func run() throws { try options.run("status") }
    }

    struct Group: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Groups and their members.", subcommands: [List.self])
        struct List: ParsableCommand {
            @OptionGroup var options: CtlOptions
            func run() throws { try options.run("group.list") }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every counter of every plane.")
        @OptionGroup var options: CtlOptions
        @Flag(name: .long, help: "Prometheus text format.") var prometheus = false
        func run() throws {
            if prometheus {
                try options.run("stats.prometheus") { $0["text"]?.stringValue ?? "" }
            } else {
                try options.run("stats")
            }
        }
    }

    struct ConfigShow: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "config", abstract: "The effective configuration (secrets redacted).")
        @OptionGroup var options: CtlOptions
        func run() throws { try options.run("config.show") }
    }

    struct LogLevel: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "log-level", abstract: "Change the log level live.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "trace, debug, info, notice, warning, error or critical") var level: String
        func run() throws { try options.run("log.level", [("level", .string(level))]) }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-read the configuration (as SIGHUP).")
        @OptionGroup var options: CtlOptions
        func run() throws { try options.run("reload") }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GO_AWAY to signaling clients, refuse new sessions and TURN allocations, let live calls finish.")
        @OptionGroup var options: CtlOptions
        @Option(name: .long, help: "Grace period announced in GO_AWAY, seconds.") var grace: Int = 30
        func run() throws { try options.run("drain", [("graceSec", .number(JSONNumber(grace)))]) }
    }
}

/// How `rtcgate ctl` prints results.
enum CtlFormat {
    static func json(_ value: JSONValue) -> String { value.jsonText + "\n" }

    /// Lists of objects as aligned tables, objects as `key: value` lines.
    static func generic(_ value: JSONValue) -> String {
        guard let members = value.objectValue else { return text(value) + "\n" }
        if members.count == 1, let rows = members[0].1.arrayValue {
            return table(rows) + (rows.isEmpty ? "(no \(members[0].0))\n" : "")
        }
        var out = ""
        let lines = flatten(members)
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines {
            if let rows = value.arrayValue, rows.first?.objectValue != nil {
                out += "\(key):\n" + table(rows).split(separator: "\n").map { "  \($0)" }.joined(separator: "\n") + "\n"
            } else {
                out += key + ":" + String(repeating: " ", count: width - key.count + 1) + text(value) + "\n"
            }
        }
        return out
    }

    /// Nested objects as dotted keys (`planes.media.workers`), so each value gets its own line.
    static func flatten(_ members: [(String, JSONValue)], prefix: String = "") -> [(String, JSONValue)] {
        members.flatMap { key, value -> [(String, JSONValue)] in
            if let inner = value.objectValue, !inner.isEmpty { return flatten(inner, prefix: prefix + key + ".") }
            return [(prefix + key, value)]
        }
    }

    /// A table whose columns are the keys of the first row.
    static func table(_ rows: [JSONValue]) -> String {
        guard let first = rows.first?.objectValue else { return rows.map(text).joined(separator: "\n") + (rows.isEmpty ? "" : "\n") }
        let columns = first.map(\.0)
        let cells = rows.map { row in columns.map { key in row[key].map(text) ?? "" } }
        let widths = columns.indices.map { i in max(columns[i].count, cells.map { $0[i].count }.max() ?? 0) }
        func line(_ values: [String]) -> String {
            var text = zip(values, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        return ([line(columns.map { $0.uppercased() })] + cells.map(line)).joined(separator: "\n") + "\n"
    }

    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return "-"
        case .string(let s): return s
        case .bool(let b): return b ? "yes" : "no"
        case .number(let n): return n.text
        case .array(let items): return items.map(text).joined(separator: ",")
        case .object: return value.jsonText
        }
    }
}

extension Rtcgate.Ctl {
    struct Links: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every measured link of the path model: relay to relay and client to relay (docs/paths.md).")
        @OptionGroup var options: CtlOptions
        func run() throws { try options.run("links") }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The relay path a call between two clients takes now, and the edges excluded.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "A client id.") var from: String
        @Argument(help: "The other client id.") var to: String
        func run() throws { try options.run("path", [("from", .string(from)), ("to", .string(to))]) }
    }
}
