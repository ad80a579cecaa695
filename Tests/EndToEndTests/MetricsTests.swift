import Foundation
import Glibc
import TestSupport
import XCTest

/// The Prometheus endpoint of the running binary.
final class MetricsTests: XCTestCase {
    /// GET `path` and return the whole response (the server closes after one).
    private func get(_ path: String, port: UInt16, method: String = "GET") throws -> String {
        let client = try TCPClient(connectTo: "127.0.0.1", port: port)
        try client.write(Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n".utf8))
        var response: [UInt8] = []
        let deadline = monotonicSeconds() + 3
        var chunk = [UInt8](repeating: 0, count: 65536)
        while monotonicSeconds() < deadline {
            guard pollReadable(client.fd, timeout: deadline - monotonicSeconds()) else { break }
            let n = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    func testPrometheusTextOnLoopback() throws {
        let metricsPort = try freePort()
        let gateway = try GatewayProcess(flags: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        // One Binding request so a counter moves (the readiness probe already sent some).
        XCTAssertTrue(gateway.waitForLog("metrics on http://127.0.0.1:\(metricsPort)/metrics"), gateway.log)
        // Workers publish their counters periodically: wait for the readiness probe's request.
        var response = ""
        try waitUntil("the readiness probe's Binding request is never counted: \(response)") {
            response = try get("/metrics", port: metricsPort)
            return !response.contains("rtcgate_stun_requests_total 0\n")
        }
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 200 OK\r\n"), response)
        XCTAssertTrue(response.contains("Content-Type: text/plain; version=0.0.4"), response)
        XCTAssertTrue(response.contains("# TYPE rtcgate_stun_requests_total counter\n"), response)
        XCTAssertTrue(response.contains("rtcgate_stun_dropped_total{reason=\"rate_limited\"} "), response)
        let requests = response.split(separator: "\n").first { $0.hasPrefix("rtcgate_stun_requests_total ") }
        let value = requests.flatMap { UInt64($0.split(separator: " ")[1]) } ?? 0
        XCTAssertGreaterThanOrEqual(value, 1, "the readiness probe's Binding request is counted")
        // Every sample line is `name{labels} value` with a metric name Prometheus accepts.
        for line in response.split(separator: "\r\n\r\n", maxSplits: 1).last!.split(separator: "\n") where !line.hasPrefix("#") {
            XCTAssertNotNil(line.range(of: #"^rtcgate_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+$"#, options: .regularExpression), String(line))
        }
        XCTAssertTrue(try get("/other", port: metricsPort).hasPrefix("HTTP/1.1 404"))
        XCTAssertTrue(try get("/metrics", port: metricsPort, method: "POST").hasPrefix("HTTP/1.1 405"))
        gateway.stopCleanly()
    }

    func testMetricsRefuseANonLoopbackAddress() throws {
        let gateway = try GatewayProcess(flags: ["--metrics-listen", "0.0.0.0:9999"], waitReady: false)
        waitUntil("rtcgate should refuse to start", timeout: 10) { !gateway.isRunning }
        let exit = gateway.stop()
        XCTAssertEqual(exit.status, 2, exit.log)
        XCTAssertTrue(exit.log.contains("not a loopback address"), exit.log)
    }

    /// A listening socket overflows while the daemon is stopped (SIGSTOP): the kernel's drops
    /// show in `ctl stats` and Prometheus once traffic flows again.
    func testKernelDropsOfAFullReceiveBufferAreCounted() throws {
        let gateway = try GatewayProcess(flags: ["--socket-buffer-bytes", "4096", "--stun-rate-limit", "0"])
        let client = try UDPClient(bindTo: "127.0.0.1")
        let request = try StunWire.request().bytes
        gateway.send(signal: SIGSTOP)
        for _ in 0..<300 { try client.send(request, to: "127.0.0.1", port: gateway.port) }
        gateway.send(signal: SIGCONT)
        // The drop count rides on the next datagram the socket queues (once it has room again).
        var drops = 0
        try waitUntil("no kernel drops counted") {
            try client.send(request, to: "127.0.0.1", port: gateway.port)
            drops = try ctl(gateway, ["stats"]).json?["udp_kernel_drops_total"]?.intValue ?? 0
            return drops > 0
        }
        XCTAssertLessThan(drops, 301)
        let text = try runTool(TestPaths.rtcgate, ["ctl", "--socket", gateway.controlSocket, "stats", "--prometheus"]).stdout
        let line = text.split(separator: "\n").first { $0.hasPrefix("rtcgate_udp_kernel_drops_total ") }
        XCTAssertGreaterThan(line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0, 0, "Prometheus shows the drops: \(text.prefix(400))")
        gateway.stopCleanly()
    }
}
