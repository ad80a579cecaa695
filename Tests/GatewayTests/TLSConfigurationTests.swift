import Foundation
import Gateway
import MediaPlane
import TLS
import XCTest

/// TURN-over-TLS settings: certificate loading and its errors, the ports, what ICE_CONFIG
/// offers, the memory report, and what a reload applies.
final class TLSConfigurationTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "rtcgate-tls-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try openssl(["req", "-x509", "-nodes", "-days", "30", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-subj", "/CN=gw.example.org", "-addext", "subjectAltName=DNS:gw.example.org",
                     "-keyout", "\(directory)/key.pem", "-out", "\(directory)/cert.pem"])
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "\(directory)/other.pem"])
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "openssl \(arguments.joined(separator: " "))")
    }

    private func configuration(_ flags: [String]) throws -> GatewayConfiguration {
        try ConfigSources(board: nil, configFile: nil, flags: ["--listening-ip", "127.0.0.1", "--user", "alice:secret"] + flags).load()
    }

    func testCertificateTurnsOnTLSAndICEConfigOffersTurns() throws {
        let configuration = try configuration(["--cert", "\(directory)/cert.pem", "--pkey", "\(directory)/key.pem",
                                               "--alt-tls-listening-port", "443", "--ice-host", "gw.example.org"])
        let media = try configuration.mediaConfig()
        let tls = try XCTUnwrap(media.tls)
        XCTAssertEqual(tls.ports, [5349, 443])
        XCTAssertEqual(tls.store.context?.certificate.subject, "CN=gw.example.org")
        XCTAssertTrue(tls.store.context?.covers(host: "gw.example.org") == true)
        XCTAssertFalse(tls.store.context?.covers(host: "127.0.0.1") == true)
        let urls = try configuration.signalingSettings(media: media).iceServers.turn
        XCTAssertEqual(urls, ["turn:gw.example.org:3478?transport=udp", "turn:gw.example.org:3478?transport=tcp",
                              "turns:gw.example.org:5349?transport=tcp", "turns:gw.example.org:443?transport=tcp"])
        let report = MemoryReport(configuration: configuration, media: media).text
        XCTAssertTrue(report.contains("TLS connections"), report)

        let off = try self.configuration(["--cert", "\(directory)/cert.pem", "--pkey", "\(directory)/key.pem", "--no-tls"])
        XCTAssertNil(try off.mediaConfig().tls)
        XCTAssertFalse(try off.signalingSettings(media: off.mediaConfig()).iceServers.turn.contains { $0.hasPrefix("turns:") })
    }

    func testUnusableFilesAreRefusedWithTheReason() throws {
        func message(_ flags: [String]) -> String {
            do {
                _ = try configuration(flags).mediaConfig()
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        func assertMessage(_ flags: [String], _ expected: String, line: UInt = #line) {
            let text = message(flags)
            XCTAssertTrue(text.contains(expected), text, line: line)
        }
        assertMessage(["--cert", "\(directory)/cert.pem", "--pkey", "\(directory)/other.pem"], "does not match")
        assertMessage(["--cert", "\(directory)/missing.pem", "--pkey", "\(directory)/key.pem"], "missing.pem")
        assertMessage(["--cert", "\(directory)/key.pem", "--pkey", "\(directory)/key.pem"], "not a PEM certificate")
        assertMessage(["--cert", "\(directory)/cert.pem"], "needs both cert and pkey")
        assertMessage(["--cert", "\(directory)/cert.pem", "--pkey", "\(directory)/key.pem", "--cipher-list", "NOPE"], "cipher-list")
    }

    func testReloadTakesNewFilesAndPortsNeedARestart() throws {
        var running = try configuration(["--cert", "\(directory)/cert.pem", "--pkey", "\(directory)/key.pem"])
        let fresh = try configuration(["--cert", "\(directory)/new.pem", "--pkey", "\(directory)/new.key", "--tls-listening-port", "443"])
        XCTAssertEqual(running.applyLive(from: fresh), ["tls-listening-port/alt-tls-listening-port/no-tls/tls-*"])
        XCTAssertEqual(running.tls.certificatePath, "\(directory)/new.pem")
        XCTAssertEqual(running.tls.port, 5349, "ports change on restart only")
    }
}
