import ArgumentParser
import COpenSSL
import CSystem
import Gateway
import Glibc
import Logging
import MediaPlane

/// The `rtcgate` command: the gateway daemon and its tools.
@main
struct Rtcgate: ParsableCommand {
    /// From the binary's build stamp (CSystem), so a patched copy reports another version.
    static let version = String(cString: rtcgate_version_string())

    static let configuration = CommandConfiguration(
        commandName: "rtcgate",
        abstract: "WebRTC signaling appliance for edge gateways: STUN/TURN media plane, MQTT signaling, local control.",
        version: version,
        subcommands: [Run.self, Ctl.self, CheckConfig.self, Version.self],
        defaultSubcommand: nil)

    /// As ArgumentParser's, but a usage error exits with 2 (as `rtcgate ctl` documents, and as
    /// `run` does for a bad configuration) instead of 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                writeToStandardError(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Options shared by every command that reads a configuration.
struct SourceOptions: ParsableArguments {
    @Option(name: .long, help: "Board profile: a name (board/NAME/profile.conf) or a path.")
    var board: String?

    @Option(name: [.short, .customLong("config")], help: "Configuration file (key = value lines, coturn-style names).")
    var config: String?

    @Argument(parsing: .allUnrecognized, help: "Settings as --name value; see the list below.")
    var settings: [String] = []

    var sources: ConfigSources { ConfigSources(board: board, configFile: config, flags: settings) }
}

extension Rtcgate {
    /// `rtcgate run`: the daemon.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the gateway in the foreground (SIGTERM/SIGINT stop it, SIGHUP reloads).",
            discussion: ConfigOption.helpText)

        @OptionGroup var options: SourceOptions

        @Option(name: .long, help: ArgumentHelp("Take over from the running rtcgate at this handover socket (started by `ctl upgrade`).", visibility: .hidden))
        var takeover: String?

        func run() throws {
            let configuration: GatewayConfiguration
            do {
                configuration = try options.sources.load()
            } catch {
                writeToStandardError("rtcgate: \(error)\n")
                throw ExitCode(2)
            }
            LoggingSystem.bootstrap { GatewayLogHandler(label: $0) }
            let status = GatewayDaemon(configuration: configuration, sources: options.sources).run(takeoverSocket: takeover)
            if status != 0 { throw ExitCode(status) }
        }
    }

    /// `rtcgate check-config`: validate and show the memory the profile reserves.
    struct CheckConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate the configuration and print the memory it reserves, by part.",
            discussion: ConfigOption.helpText)

        @OptionGroup var options: SourceOptions

        func run() throws {
            do {
                let configuration = try options.sources.load()
                let media = try configuration.mediaConfig()
                let report = MemoryReport(configuration: configuration, media: media)
                print(report.text)
                if let problem = report.budgetProblem {
                    writeToStandardError("rtcgate: \(problem)\n")
                    throw ExitCode(2)
                }
            } catch {
                writeToStandardError("rtcgate: configuration invalid: \(error)\n")
                throw ExitCode(2)
            }
        }
    }

    /// `rtcgate version`.
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version and the libraries rtcgate runs with.")

        func run() {
            let openssl = String(cString: OpenSSL_version(OPENSSL_VERSION))
            print("rtcgate \(Rtcgate.version)")
            print("  \(openssl)")
            #if arch(x86_64)
            print("  built for x86_64 Linux")
            #elseif arch(arm64)
            print("  built for aarch64 Linux")
            #endif
        }
    }
}
