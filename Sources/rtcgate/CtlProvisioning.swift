import ArgumentParser
import Glibc
import JSON

extension Rtcgate.Ctl {
    /// `rtcgate ctl device …`: signaling clients (devices and viewers).
    struct Device: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Provision signaling clients (devices and viewers).",
            subcommands: [Add.self, Remove.self, Update.self, List.self, Show.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a client; with --broker, also its MQTT login (password printed once).")
            @OptionGroup var options: CtlOptions
            @Argument(help: "Client id: 1-64 of A-Z a-z 0-9 . _ - (not starting with _).") var id: String
            @Option(name: .long, help: "device or viewer.") var role: String = "device"
            @Option(name: .long, help: "A group it belongs to (repeat).") var group: [String] = []
            @Option(name: .long, help: "A client it may signal with regardless of groups (repeat).") var allow: [String] = []
            @Flag(name: .long, help: "Only relay candidates to and from its peers.") var relayOnly = false
            @Flag(name: .long, help: "Create its broker login too (dynamic security).") var broker = false
            @Option(name: .long, help: "A human name viewers see in their directory (1-64 bytes).") var label: String?
            func run() throws {
                var args: [(String, JSONValue)] = [("id", .string(id)), ("role", .string(role)),
                                                    ("groups", .array(group.map(JSONValue.string))),
                                                    ("allow", .array(allow.map(JSONValue.string))), ("relayOnly", .bool(relayOnly))]
                if broker { args.append(("broker", .bool(true))) }
                if let label { args.append(("label", .string(label))) }
                try options.run("device.add", args)
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove a client (its sessions end; its broker login is deleted).")
            @OptionGroup var options: CtlOptions
            @Argument var id: String
            func run() throws { try options.run("device.remove", [("id", .string(id))]) }
        }

        struct Update: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "update", abstract: "Change a client's role, groups, allow list, relay-only policy or label.", aliases: ["set"])
            @OptionGroup var options: CtlOptions
            @Argument var id: String
            @Option(name: .long) var role: String?
            @Option(name: .long, help: "Replace the groups (repeat; --group '' for none).") var group: [String] = []
            @Option(name: .long, help: "Replace the allow list (repeat; --allow '' for none).") var allow: [String] = []
            @Option(name: .long, help: "true or false.") var relayOnly: Bool?
            @Option(name: .long, help: "A human name viewers see in their directory; '' removes it.") var label: String?
            func run() throws {
                var args: [(String, JSONValue)] = [("id", .string(id))]
                if let role { args.append(("role", .string(role))) }
                if !group.isEmpty { args.append(("groups", .array(group.filter { !$0.isEmpty }.map(JSONValue.string)))) }
                if !allow.isEmpty { args.append(("allow", .array(allow.filter { !$0.isEmpty }.map(JSONValue.string)))) }
                if let relayOnly { args.append(("relayOnly", .bool(relayOnly))) }
                if let label { args.append(("label", .string(label))) }
                try options.run("device.update", args)
            }
        }

        struct List: ParsableCommand {
            @OptionGroup var options: CtlOptions
            func run() throws { try options.run("device.list") }
        }

        struct Show: ParsableCommand {
            @OptionGroup var options: CtlOptions
            @Argument var id: String
            func run() throws { try options.run("device.show", [("id", .string(id))]) }
        }
    }

    /// `rtcgate ctl turn-user …`: static TURN users (stored as keys).
    struct TurnUser: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "turn-user", abstract: "Static TURN users (stored as keys, never passwords).",
                                                        subcommands: [Add.self, Remove.self, List.self])

        struct Add: ParsableCommand {
            @OptionGroup var options: CtlOptions
            @Argument var name: String
            @Option(name: .long, help: "The password (prefer --password-stdin: command lines are visible to other users).") var password: String?
            @Flag(name: .long, help: "Read the password from the first line of standard input.") var passwordStdin = false
            func run() throws {
                var secret = password
                if passwordStdin { secret = readLine(strippingNewline: true) }
                guard let secret, !secret.isEmpty else { throw ValidationError("give --password or --password-stdin") }
                try options.run("turn-user.add", [("name", .string(name)), ("password", .string(secret))])
            }
        }

        struct Remove: ParsableCommand {
            @OptionGroup var options: CtlOptions
            @Argument var name: String
            func run() throws { try options.run("turn-user.remove", [("name", .string(name))]) }
        }

        struct List: ParsableCommand {
            @OptionGroup var options: CtlOptions
            func run() throws { try options.run("turn-user.list") }
        }
    }

    /// `rtcgate ctl secret …`: TURN REST secrets (ICE_CONFIG credentials are minted with the newest).
    struct Secret: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "TURN REST secrets: add, rotate with overlap, remove, list.",
                                                        subcommands: [Add.self, Rotate.self, Remove.self, List.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a secret (generated unless given); printed once.")
            @OptionGroup var options: CtlOptions
            @Option(name: .long, help: "Use this secret instead of a generated one.") var secret: String?
            func run() throws { try options.run("secret.add", secret.map { [("secret", JSONValue.string($0))] } ?? []) }
        }

        struct Rotate: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a new newest secret; the previous one retires after the overlap.")
            @OptionGroup var options: CtlOptions
            @Option(name: .long, help: "Seconds the previous secret stays valid.") var overlap: Int = 86_400
            func run() throws { try options.run("secret.rotate", [("overlapSeconds", .number(JSONNumber(overlap)))]) }
        }

        struct Remove: ParsableCommand {
            @OptionGroup var options: CtlOptions
            @Argument var id: String
            func run() throws { try options.run("secret.remove", [("id", .string(id))]) }
        }

        struct List: ParsableCommand {
            @OptionGroup var options: CtlOptions
            func run() throws { try options.run("secret.list") }
        }
    }

    /// `rtcgate ctl session …`: live signaling sessions.
    struct Session: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Live signaling sessions.", subcommands: [List.self, End.self])

        struct List: ParsableCommand {
            @OptionGroup var options: CtlOptions
            func run() throws { try options.run("session.list") }
        }

        struct End: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "End a session: END to both parties.")
            @OptionGroup var options: CtlOptions
            @Argument var sid: String
            @Argument var a: String
            @Argument var b: String
            @Option(name: .long, help: "END reason (default policy).") var reason: String = "policy"
            func run() throws {
                try options.run("session.end", [("sid", .string(sid)), ("a", .string(a)), ("b", .string(b)), ("reason", .string(reason))])
            }
        }
    }

    /// `rtcgate ctl allocation …`: TURN allocations on every worker.
    struct Allocation: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "TURN allocations.", subcommands: [List.self, Kill.self])

        struct List: ParsableCommand {
            @OptionGroup var options: CtlOptions
            func run() throws { try options.run("allocation.list") }
        }

        struct Kill: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete every allocation of a client address (ip:port or [ipv6]:port).")
            @OptionGroup var options: CtlOptions
            @Argument var client: String
            func run() throws { try options.run("allocation.kill", [("client", .string(client))]) }
        }
    }
}
