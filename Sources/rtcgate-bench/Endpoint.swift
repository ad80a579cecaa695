import CBenchShim
import CSystem
import Glibc

/// Errors raised while setting up sockets; carry a human-readable reason.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
    /// Error with the current errno text appended.
    static func posix(_ what: String) -> BenchError {
        BenchError("\(what): \(String(cString: strerror(errno)))")
    }
}

/// The server under test: a literal IPv4/IPv6 address and port.
/// Accepts `1.2.3.4:3478`, `[::1]:3478` and `localhost:3478`.
struct ServerEndpoint {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var isIPv6 = false
    var isLoopback = false
    var text: String

    init(parsing text: String) throws {
        self.text = text
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw BenchError("bad server address '\(text)' (use [v6addr]:port)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw BenchError("server '\(text)' lacks :port") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText), port != 0 else { throw BenchError("bad port in '\(text)'") }
        if host == "localhost" { host = "127.0.0.1" }
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, String(host), &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: v4) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            isLoopback = UInt32(bigEndian: v4.sin_addr.s_addr) >> 24 == 127
        } else if inet_pton(AF_INET6, String(host), &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: v6) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            isIPv6 = true
            isLoopback = String(host) == "::1"
        } else {
            throw BenchError("server host '\(host)' is not a literal IPv4/IPv6 address")
        }
    }

    /// Creates a nonblocking, connected socket of `type` (SOCK_DGRAM or
    /// SOCK_STREAM), bound to the loopback address first when the server is
    /// on loopback, and returns it with its local address (getsockname).
    func connectedSocket(type: Int32) throws -> (fd: Int32, local: LocalAddress) {
        let family = isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError.posix("socket") }
        var size: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        if type == Int32(SOCK_STREAM.rawValue) {
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if isLoopback {
            var bound: Int32
            if isIPv6 {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_addr = in6addr_loopback
                bound = withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            } else {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
                bound = withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            guard bound == 0 else { let e = BenchError.posix("bind"); close(fd); throw e }
        }
        var server = storage
        let rc = withUnsafePointer(to: &server) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard rc == 0 || errno == EINPROGRESS else { let e = BenchError.posix("connect \(text)"); close(fd); throw e }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        guard named == 0 else { let e = BenchError.posix("getsockname"); close(fd); throw e }
        return (fd, Self.localAddress(local))
    }

    /// Converts a sockaddr_storage into the raw-bytes form used for comparison.
    static func localAddress(_ s: sockaddr_storage) -> LocalAddress {
        var s = s
        return withUnsafeBytes(of: &s) { raw in
            if Int32(raw.load(as: sa_family_t.self)) == AF_INET6 {
                let a = raw.load(as: sockaddr_in6.self)
                return withUnsafeBytes(of: a.sin6_addr) { b in
                    LocalAddress(family: 2, port: UInt16(bigEndian: a.sin6_port),
                                 high: b.loadUnaligned(as: UInt64.self),
                                 low: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                }
            }
            let a = raw.load(as: sockaddr_in.self)
            return LocalAddress(family: 1, port: UInt16(bigEndian: a.sin_port), high: UInt64(a.sin_addr.s_addr), low: 0)
        }
    }
}
