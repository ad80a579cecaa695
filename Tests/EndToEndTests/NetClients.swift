import Glibc
import STUN

/// sockaddr helpers for IPv4/IPv6 text addresses.
enum SocketAddressBytes {
    /// A socket address for `ip` (numeric IPv4 or IPv6) and `port`, with its length.
    static func make(_ ip: String, _ port: UInt16) -> (sockaddr_storage, socklen_t)? {
        var storage = sockaddr_storage()
        var v4 = in_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = v4
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin, as: sockaddr_in.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, ip, &v6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_addr = v6
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin6, as: sockaddr_in6.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
        return nil
    }

    static func withSockaddr<R>(_ storage: inout sockaddr_storage, _ body: (UnsafeMutablePointer<sockaddr>) -> R) -> R {
        withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }

    /// The STUN transport address of a socket address.
    static func decode(_ storage: sockaddr_storage) -> TransportAddress? {
        withUnsafeBytes(of: storage) { raw -> TransportAddress? in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let sin = raw.loadUnaligned(as: sockaddr_in.self)
                return TransportAddress(ip: .v4(UInt32(bigEndian: sin.sin_addr.s_addr)), port: UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
                let (high, low) = withUnsafeBytes(of: sin6.sin6_addr) { bytes -> (UInt64, UInt64) in
                    var high: UInt64 = 0
                    var low: UInt64 = 0
                    for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
                    for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
                    return (high, low)
                }
                return TransportAddress(ip: .v6(high, low), port: UInt16(bigEndian: sin6.sin6_port))
            default:
                return nil
            }
        }
    }

    static func localAddress(_ fd: Int32) -> TransportAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        guard withSockaddr(&storage, { getsockname(fd, $0, &length) }) == 0 else { return nil }
        return decode(storage)
    }

    static func localPort(_ fd: Int32) -> UInt16 { localAddress(fd)?.port ?? 0 }
}

/// Waits (bounded) until `fd` is readable; false on timeout.
func pollReadable(_ fd: Int32, timeout: Double) -> Bool {
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let milliseconds = Int32(max(0, timeout) * 1000)
    while true {
        let ready = poll(&descriptor, 1, milliseconds)
        if ready < 0 && errno == EINTR { continue }
        return ready > 0
    }
}

/// A blocking UDP socket bound to a local address (port 0 by default), closed on deinit.
final class UDPClient {
    let fd: Int32
    /// The bound local address (the reflexive address rtcgate must report over loopback).
    let localAddress: TransportAddress

    init(bindTo ip: String, port: UInt16 = 0) throws {
        guard let (storage, length) = SocketAddressBytes.make(ip, port) else { throw HarnessError("bad address \(ip)") }
        let fd = socket(Int32(storage.ss_family), Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var bytes: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, socklen_t(MemoryLayout<Int32>.size))
        var address = storage
        guard SocketAddressBytes.withSockaddr(&address, { bind(fd, $0, length) }) == 0,
              let local = SocketAddressBytes.localAddress(fd) else {
            let code = errno
            close(fd)
            throw HarnessError("bind UDP \(ip): errno \(code)")
        }
        self.fd = fd
        localAddress = local
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to ip: String, port: UInt16) throws {
        guard let (address, length) = SocketAddressBytes.make(ip, port) else { throw HarnessError("bad address \(ip)") }
        var storage = address
        let sent = bytes.withUnsafeBytes { raw in
            SocketAddressBytes.withSockaddr(&storage) { sendto(fd, raw.baseAddress, raw.count, 0, $0, length) }
        }
        guard sent == bytes.count else { throw HarnessError("sendto \(ip):\(port): errno \(errno)") }
    }

    /// One datagram, or nil when none arrives within `timeout` seconds.
    func receive(timeout: Double) -> [UInt8]? {
        guard pollReadable(fd, timeout: timeout) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return n >= 0 ? Array(buffer[0..<n]) : nil
    }

    /// Every datagram that arrives until the socket stays quiet for `quiet` seconds (or
    /// `limit` seconds pass in all).
    func receiveAll(quiet: Double = 0.3, limit: Double = 3) -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        let deadline = monotonicSeconds() + limit
        while monotonicSeconds() < deadline, let datagram = receive(timeout: quiet) { datagrams.append(datagram) }
        return datagrams
    }
}

/// A blocking TCP connection, closed on deinit.
final class TCPClient {
    let fd: Int32
    let localAddress: TransportAddress

    init(connectTo ip: String, port: UInt16) throws {
        guard let (address, length) = SocketAddressBytes.make(ip, port) else { throw HarnessError("bad address \(ip)") }
        var storage = address
        let fd = socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        guard SocketAddressBytes.withSockaddr(&storage, { connect(fd, $0, length) }) == 0,
              let local = SocketAddressBytes.localAddress(fd) else {
            let code = errno
            close(fd)
            throw HarnessError("connect TCP \(ip):\(port): errno \(code)")
        }
        self.fd = fd
        localAddress = local
    }

    deinit { close(fd) }

    /// Writes all of `bytes` (normally one `write` call).
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HarnessError("TCP write: errno \(errno)") }
            offset += n
        }
    }

    /// Exactly `count` bytes, or nil on timeout or close.
    func read(exactly count: Int, timeout: Double) -> [UInt8]? {
        var bytes: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        var chunk = [UInt8](repeating: 0, count: count)
        while bytes.count < count {
            guard pollReadable(fd, timeout: deadline - monotonicSeconds()) else { return nil }
            let want = count - bytes.count
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, want, Int32(MSG_DONTWAIT)) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { return nil }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// One STUN message using RFC 8489 stream framing: the 20-byte header, then `length` bytes.
    func readStunMessage(timeout: Double = 2) -> [UInt8]? {
        guard let header = read(exactly: StunHeader.size, timeout: timeout) else { return nil }
        let length = Int(header[2]) << 8 | Int(header[3])
        if length == 0 { return header }
        guard let body = read(exactly: length, timeout: timeout) else { return nil }
        return header + body
    }
}

/// A request as sent: its bytes and transaction id.
struct StunRequest {
    var bytes: [UInt8]
    var transactionID: TransactionID
}

/// Builds requests with the project's own `StunMessageBuilder`.
enum StunWire {
    static func request(type: StunMessageType = .bindingRequest, fingerprint: Bool = false,
                        _ build: (inout StunMessageBuilder) throws -> Void = { _ in }) throws -> StunRequest {
        let transactionID = TransactionID.random()
        var buffer = [UInt8](repeating: 0, count: 1500)
        let count = try buffer.withUnsafeMutableBytes { raw -> Int in
            var builder = try StunMessageBuilder(into: raw, type: type, transactionID: transactionID)
            try build(&builder)
            if fingerprint { try builder.appendFingerprint() }
            return builder.count
        }
        return StunRequest(bytes: Array(buffer[0..<count]), transactionID: transactionID)
    }
}

/// A reply parsed with the project's `StunMessageView`.
struct StunReply {
    var size: Int
    var type: StunMessageType
    var transactionID: TransactionID
    var hasMagicCookie: Bool
    var xorMapped: TransportAddress?
    var mapped: TransportAddress?
    var errorCode: Int?
    var unknownAttributes: [UInt16]
    /// nil when absent, else whether the CRC is right.
    var fingerprint: Bool?

    init(_ bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw throws -> StunReply in
            let view = try StunMessageView(raw)
            return StunReply(
                size: raw.count, type: view.type, transactionID: view.transactionID, hasMagicCookie: view.hasMagicCookie,
                xorMapped: view.xorAddress(), mapped: view.address(), errorCode: view.errorCode?.code,
                unknownAttributes: view.unknownAttributes.map { $0.map(\.rawValue) } ?? [],
                fingerprint: view.verifyFingerprint())
        }
    }

    private init(size: Int, type: StunMessageType, transactionID: TransactionID, hasMagicCookie: Bool,
                 xorMapped: TransportAddress?, mapped: TransportAddress?, errorCode: Int?, unknownAttributes: [UInt16],
                 fingerprint: Bool?) {
        self.size = size
        self.type = type
        self.transactionID = transactionID
        self.hasMagicCookie = hasMagicCookie
        self.xorMapped = xorMapped
        self.mapped = mapped
        self.errorCode = errorCode
        self.unknownAttributes = unknownAttributes
        self.fingerprint = fingerprint
    }
}
