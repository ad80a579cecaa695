import XCTest

@testable import Gateway

final class ConfigFileTests: XCTestCase {
    func testReadsEverySpellingOfASetting() throws {
        let text = """
        # comment line
        listening-port=3479
        realm = example.org   # trailing comment
        log-level debug
        no-tcp
        stun_rate_limit = "50"

        """
        let entries = try ConfigFile.parse(text, origin: "t.conf")
        XCTAssertEqual(entries.map(\.key), ["listening-port", "realm", "log-level", "no-tcp", "stun-rate-limit"])
        XCTAssertEqual(entries.map(\.value), ["3479", "example.org", "debug", "true", "50"])
        XCTAssertEqual(entries[1].origin, "t.conf:3")
    }

    func testHashInsideQuotesIsPartOfTheValue() throws {
        let text = """
        static-auth-secret = "ab#cd"   # the secret holds a hash
        realm = "a # b"
        user = bob:x#y
        user = bob:pa"ss   # a stray quote inside a value is kept
        """
        let entries = try ConfigFile.parse(text, origin: "q.conf")
        XCTAssertEqual(entries.map(\.value), ["ab#cd", "a # b", "bob:x", "bob:pa\"ss"], "unquoted, # still starts a comment")
    }

    func testUnclosedQuoteIsAnErrorWithItsLine() {
        XCTAssertThrowsError(try ConfigFile.parse("realm = a\nstatic-auth-secret = \"ab#cd\n", origin: "u.conf")) { error in
            XCTAssertEqual((error as? ConfigError)?.origin, "u.conf:2")
        }
    }

    func testUnreadableLineNamesFileAndLine() {
        XCTAssertThrowsError(try ConfigFile.parse("realm = a\n[section]\n", origin: "x.conf")) { error in
            XCTAssertEqual((error as? ConfigError)?.origin, "x.conf:2")
        }
    }
}

final class GatewayConfigurationTests: XCTestCase {
    private func configuration(file: String = "", flags: [String] = []) throws -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        try configuration.apply(ConfigFile.parse(file, origin: "test.conf"))
        try configuration.apply(ConfigOption.entries(fromArguments: flags))
        return configuration
    }

    func testDefaultsFollowCoturn() throws {
        let configuration = try configuration()
        XCTAssertEqual(configuration.listeningPort, 3478)
        XCTAssertEqual(configuration.listeningIPs, ["0.0.0.0"])
        XCTAssertTrue(configuration.media.udp && configuration.media.tcp)
        XCTAssertEqual(configuration.media.responder.ratePerSecond, 200)
    }

    func testFlagsOverrideFileAndListsAreReplacedWhole() throws {
        let configuration = try configuration(
            file: "listening-ip = 10.0.0.1\nlistening-ip = 10.0.0.2\nlistening-port = 4000\n",
            flags: ["--listening-ip", "127.0.0.1", "--listening-port=5000", "--no-tcp", "--workers", "3", "--stun-rate-limit", "0"])
        XCTAssertEqual(configuration.listeningIPs, ["127.0.0.1"], "a later source replaces the whole list")
        XCTAssertEqual(configuration.listeningPort, 5000)
        XCTAssertFalse(configuration.media.tcp)
        XCTAssertEqual(configuration.resolvedWorkers, 3)
        XCTAssertEqual(configuration.media.responder.ratePerSecond, 0)
        XCTAssertEqual(configuration.origins["listening-port"], "--listening-port")
    }

    func testSwitchTakesAnExplicitBoolean() throws {
        XCTAssertTrue(try configuration(flags: ["--no-tcp", "false"]).media.tcp)
        XCTAssertFalse(try configuration(file: "no-udp = yes").media.udp)
        XCTAssertEqual(try configuration(flags: ["--relay-threads", "2"]).workers, 2, "coturn's name is an alias")
    }

    func testBadValuesAreErrorsWithTheirOrigin() {
        let cases: [(String, [String], String)] = [
            ("listening-port = 70000", [], "test.conf:1"),
            ("bogus-option = 1", [], "test.conf:1"),
            ("", ["--listening-port"], "--listening-port"),
            ("", ["--log-level", "loud"], "--log-level"),
            ("", ["stray"], "stray"),
            ("no-udp = maybe", [], "test.conf:1"),
            ("realm = ", [], "test.conf:1"),
        ]
        for (file, flags, origin) in cases {
            XCTAssertThrowsError(try configuration(file: file, flags: flags), "\(file) \(flags)") { error in
                XCTAssertEqual((error as? ConfigError)?.origin, origin, "\(file) \(flags): \(error)")
            }
        }
    }

    func testMediaConfigResolvesAddressesAndRejectsImpossibleProfiles() throws {
        let good = try configuration(flags: ["--listening-ip", "::1", "--listening-port", "3479"]).mediaConfig()
        XCTAssertEqual(good.listenAddresses.map(\.description), ["[::1]:3479"])
        XCTAssertThrowsError(try configuration(flags: ["--listening-ip", "gateway.local"]).mediaConfig())
        XCTAssertThrowsError(try configuration(flags: ["--no-udp", "--no-tcp"]).mediaConfig())
        XCTAssertThrowsError(try configuration(flags: ["--pool-slots", "8", "--udp-batch", "32"]).mediaConfig())
        XCTAssertThrowsError(try configuration(flags: ["--pool-slot-size", "1024"]).mediaConfig())
    }

    func testDevBoardProfileLoadsAndReportsItsMemory() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = ConfigSources(board: root.appendingPathComponent("board/dev").path, configFile: nil, flags: ["--workers", "2"])
        let configuration = try sources.load()
        XCTAssertEqual(configuration.listeningIPs, ["127.0.0.1", "::1"], "the dev board listens on loopback only")
        let media = try configuration.mediaConfig()
        let report = MemoryReport(configuration: configuration, media: media)
        let perWorker = media.reservedBytes.reduce(0) { $0 + $1.bytes }
        XCTAssertEqual(report.reservedBytes, 2 * perWorker)
        XCTAssertGreaterThan(perWorker, media.poolSlots * media.poolSlotSize, "the pool alone is at least slots × size")
        XCTAssertTrue(report.text.contains("buffer pool (512 × 2048 B)"), report.text)
        XCTAssertThrowsError(try ConfigSources(board: "no-such-board", configFile: nil, flags: []).load())
    }

    func testEveryOptionIsDocumentedInHelp() {
        for option in ConfigOption.all {
            XCTAssertTrue(ConfigOption.helpText.contains("--\(option.name)"), option.name)
            XCTAssertFalse(option.help.isEmpty, option.name)
        }
        XCTAssertEqual(Set(ConfigOption.all.map(\.name)).count, ConfigOption.all.count, "no duplicate option names")
    }
}

final class ReloadTests: XCTestCase {
    private func configuration(_ file: String) throws -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        try configuration.apply(ConfigFile.parse(file, origin: "reload.conf"))
        return configuration
    }

    /// What a reload may change is taken over; what needs a restart keeps its running value and
    /// is named.
    func testLiveSettingsApplyAndTheRestAreNamedForARestart() throws {
        var running = try configuration("listening-port = 3478\nlog-level = info\nstatic-auth-secret = first-secret-0123456789\nuse-auth-secret\n")
        let fresh = try configuration("listening-port = 3479\nlog-level = debug\nstatic-auth-secret = second-secret-0123456789\nuse-auth-secret\nrealm = other.realm\n")
        let restartFor = running.applyLive(from: fresh)
        XCTAssertEqual(restartFor, ["listening-port", "realm"])
        XCTAssertEqual(running.logLevel, .debug)
        XCTAssertEqual(running.turn.staticAuthSecrets, ["second-secret-0123456789"], "a leaked secret is gone at once")
        XCTAssertEqual(running.listeningPort, 3478, "applies after a restart only")
        XCTAssertEqual(running.realm, "rtcgate.local")
    }

    func testAnUnchangedConfigurationNeedsNoRestart() throws {
        var running = try configuration("workers = 2\nmin-port = 50000\nmax-port = 50100\n")
        XCTAssertEqual(running.applyLive(from: running), [])
    }
}
