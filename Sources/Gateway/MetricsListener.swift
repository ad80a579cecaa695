import Glibc
import Reactor

/// A minimal HTTP/1.1 responder on a loopback address for Prometheus: `GET /metrics` gets the
/// text exposition, anything else 404 (405 for other methods); one request per connection.
/// It runs on the main loop with a fixed connection table, like every other listener.
package final class MetricsListener: StreamConnectionDelegate {
    package let listener: StreamListener
    private unowned let loop: EventLoop
    private let render: () -> String
    /// Request line of each connection (by record index), kept until the blank line ends the head.
    private var requestLines: [String?]

    /// `address` must be a loopback address: the endpoint has no authentication.
    package init(address: SocketAddress, loop: EventLoop, render: @escaping () -> String) throws {
        guard address.host.hasPrefix("127.") || address.host == "::1" else {
            throw ConfigError(origin: "metrics-listen", message: "\(address) is not a loopback address (the metrics endpoint has no authentication)")
        }
        listener = try StreamListener(bindTo: address, loop: loop, maxConnections: 8, receiveBytes: 4096, sendBytes: 256 * 1024,
                                      idleTimeoutSeconds: 10, framer: { LineFramer().decide($0) })
        requestLines = Array(repeating: nil, count: 8)
        self.loop = loop
        self.render = render
        listener.delegate = self
    }

    /// Parses `metrics-listen`: `127.0.0.1:9641` or `[::1]:9641`.
    package static func address(_ text: String) throws(ConfigError) -> SocketAddress {
        guard let address = SocketAddress(hostPort: text) else {
            throw ConfigError(origin: "metrics-listen", message: "'\(text)' is not a numeric IPv4 address:port or [IPv6]:port")
        }
        return address
    }

    package func stream(_ connection: StreamConnection, didReceive frame: UnsafeRawBufferPointer) {
        var end = frame.count
        while end > 0, frame[end - 1] == UInt8(ascii: "\n") || frame[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: frame[0..<end]), as: UTF8.self)
        guard requestLines[connection.index] != nil else {
            requestLines[connection.index] = line
            return
        }
        guard line.isEmpty else { return }  // a header line
        let request = requestLines[connection.index] ?? ""
        requestLines[connection.index] = nil
        let parts = request.split(separator: " ")
        let response: String
        if parts.count >= 2, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            response = Self.response(200, "OK", contentType: "text/plain; version=0.0.4; charset=utf-8", body: render())
        } else if parts.count >= 2, parts[0] != "GET" {
            response = Self.response(405, "Method Not Allowed", contentType: "text/plain", body: "only GET\n")
        } else {
            response = Self.response(404, "Not Found", contentType: "text/plain", body: "see /metrics\n")
        }
        let bytes = Array(response.utf8)
        _ = bytes.withUnsafeBytes { connection.send($0, loop: loop) }
        connection.close(reason: .local, loop: loop)
    }

    package func streamDidClose(_ connection: StreamConnection, reason: StreamCloseReason) {
        requestLines[connection.index] = nil
    }

    private static func response(_ code: Int, _ phrase: String, contentType: String, body: String) -> String {
        "HTTP/1.1 \(code) \(phrase)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }
}

extension SocketAddress {
    /// `1.2.3.4:5678` or `[::1]:5678` (numeric addresses only), as `metrics-listen` and
    /// `allocation.kill` take them.
    package init?(hostPort text: String) {
        var host = Substring(text)
        guard let colon = host.lastIndex(of: ":"), let port = UInt16(host[host.index(after: colon)...]) else { return nil }
        host = host[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        self.init(ip: String(host), port: port)
    }
}
