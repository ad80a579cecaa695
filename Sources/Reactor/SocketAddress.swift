import CSystem
import Glibc

/// A socket address (IPv4, IPv6 or Unix path) held in a `sockaddr_storage`, with no heap storage.
public struct SocketAddress: Sendable, CustomStringConvertible {
    /// The raw address; only the first `length` bytes are meaningful.
    public var storage: sockaddr_storage
    /// The length of the address within `storage`.
    public var length: socklen_t

    /// An empty address of the given capacity, to be filled by `recvmsg`/`accept`/`getsockname`.
    public init() {
        storage = sockaddr_storage()
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    }

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// Parses a numeric IPv4 or IPv6 address (no name resolution) and a port.
    public init?(ip: String, port: UInt16) {
        self.init()
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = v4
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, ip, &v6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_addr = v6
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            return nil
        }
    }

    /// Parses `1.2.3.4:5`, `[::1]:5`, or a bare address with `defaultPort`.
    public init?(parsing text: String, defaultPort: UInt16? = nil) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") { port = UInt16(rest.dropFirst()) } else if !rest.isEmpty { return nil }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            port = UInt16(host[host.index(after: colon)...])
            host = host[..<colon]
        }
        guard let port else { return nil }
        self.init(ip: String(host), port: port)
    }

    /// A Unix-domain stream address; nil when the path does not fit `sun_path`.
    public init?(unixPath path: String) {
        self.init()
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: sun.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: sun) { raw.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + 1)
    }

    /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port in host byte order (0 for Unix addresses).
    public var port: UInt16 {
        switch family {
        case AF_INET: return withIPv4 { UInt16(bigEndian: $0.sin_port) }
        case AF_INET6: return withIPv6 { UInt16(bigEndian: $0.sin6_port) }
        default: return 0
        }
    }

    /// The same address with another port (Unix addresses unchanged).
    public func withPort(_ port: UInt16) -> SocketAddress {
        var copy = self
        withUnsafeMutableBytes(of: &copy.storage) { raw in
            switch family {
            case AF_INET: raw.storeBytes(of: port.bigEndian, toByteOffset: MemoryLayout<sockaddr_in>.offset(of: \.sin_port)!, as: UInt16.self)
            case AF_INET6: raw.storeBytes(of: port.bigEndian, toByteOffset: MemoryLayout<sockaddr_in6>.offset(of: \.sin6_port)!, as: UInt16.self)
            default: break
            }
        }
        return copy
    }

    /// Reads the address as `sockaddr_in`; only valid when `family == AF_INET`.
    public func withIPv4<R>(_ body: (sockaddr_in) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.loadUnaligned(as: sockaddr_in.self)) }
    }

    /// Reads the address as `sockaddr_in6`; only valid when `family == AF_INET6`.
    public func withIPv6<R>(_ body: (sockaddr_in6) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.loadUnaligned(as: sockaddr_in6.self)) }
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The numeric host part, without port.
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch family {
        case AF_INET:
            var a = withIPv4 { $0.sin_addr }
            inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count))
        case AF_INET6:
            var a = withIPv6 { $0.sin6_addr }
            inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count))
        case AF_UNIX:
            return withUnsafeBytes(of: storage) { raw in
                let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
                let path = raw[offset...].prefix { $0 != 0 }
                return String(decoding: path, as: UTF8.self)
            }
        default:
            return "?"
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        switch family {
        case AF_INET: return "\(host):\(port)"
        case AF_INET6: return "[\(host)]:\(port)"
        case AF_UNIX: return "unix:\(host)"
        default: return "family-\(family)"
        }
    }
}
