import CSystem
import Glibc
import Reactor

/// One end of the private Unix stream socket over which a running rtcgate hands its sockets to
/// the binary replacing it (docs/handover.md): messages of bytes, each optionally carrying file
/// descriptors (SCM_RIGHTS). The kernel duplicates a passed descriptor into the receiver: the
/// socket itself, its bound address and the datagrams queued in it stay as they are, so no port
/// is closed and reopened and nothing queued is lost. Received descriptors are close-on-exec.
/// Blocking: used for the short exchange of a handover, with a receive time-out.
public final class DescriptorChannel {
    /// Descriptors one message carries at most (the kernel's SCM_MAX_FD is 253).
    public static let maxDescriptorsPerMessage = 250
    /// Bytes one message carries at most.
    public static let maxMessageBytes = 65_536

    public let fd: Int32

    /// Takes ownership of a connected Unix stream socket.
    public init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// A connected pair (both ends), for tests and for a parent handing sockets to its child.
    public static func pair() throws(SystemError) -> (DescriptorChannel, DescriptorChannel) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw SystemError("socketpair")
        }
        return (DescriptorChannel(fd: fds[0]), DescriptorChannel(fd: fds[1]))
    }

    /// Bounds every later receive (seconds; 0: wait forever).
    public func setReceiveTimeout(seconds: Double) throws(SystemError) {
        try setTimeout(SO_RCVTIMEO, seconds, "SO_RCVTIMEO")
    }

    /// Bounds every later send: a peer that stops reading cannot block the sender (seconds; 0: forever).
    public func setSendTimeout(seconds: Double) throws(SystemError) {
        try setTimeout(SO_SNDTIMEO, seconds, "SO_SNDTIMEO")
    }

    private func setTimeout(_ option: Int32, _ seconds: Double, _ name: String) throws(SystemError) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        guard setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SystemError("setsockopt(\(name))")
        }
    }

    /// Whether an error of `receive` is its time-out (the peer is there, but silent).
    public static func isTimeout(_ error: SystemError) -> Bool { error.code == EAGAIN || error.code == EWOULDBLOCK }

    /// Sends `bytes` (a length-prefixed frame) with `descriptors`; more than fit in one message
    /// go in further frames, each announcing how many follow. The descriptors stay open here.
    public func send(_ bytes: [UInt8], descriptors: [Int32] = []) throws(SystemError) {
        guard bytes.count + 8 <= Self.maxMessageBytes else { throw SystemError("send: frame too large", code: EMSGSIZE) }
        var chunks = stride(from: 0, to: descriptors.count, by: Self.maxDescriptorsPerMessage).map {
            Array(descriptors[$0..<min($0 + Self.maxDescriptorsPerMessage, descriptors.count)])
        }
        if chunks.isEmpty { chunks = [[]] }
        for (index, chunk) in chunks.enumerated() {
            // Frame: remaining chunks after this one (u32), payload length (u32), payload (first chunk only).
            let payload = index == 0 ? bytes : []
            var frame = Self.u32(UInt32(chunks.count - 1 - index)) + Self.u32(UInt32(payload.count)) + payload
            try writeAll(&frame, descriptors: chunk)
        }
    }

    /// Receives one frame sent by `send`: its bytes and every descriptor it carried (at most
    /// `maxDescriptors`; more is an error and none are kept). Throws on time-out, on a peer that
    /// closed, and on a malformed frame.
    public func receive(maxDescriptors: Int) throws(SystemError) -> (bytes: [UInt8], descriptors: [Int32]) {
        var descriptors: [Int32] = []
        var bytes: [UInt8] = []
        var first = true
        while true {
            let (header, passed) = try readExactly(8, collecting: maxDescriptors - descriptors.count)
            descriptors += passed
            let remaining = Self.readU32(header, 0), length = Int(Self.readU32(header, 4))
            guard length + 8 <= Self.maxMessageBytes, first || length == 0, Int(remaining) <= maxDescriptors else {
                descriptors.forEach { close($0) }
                throw SystemError("receive: malformed frame", code: EPROTO)
            }
            if length > 0 {
                let (payload, more) = try readExactly(length, collecting: maxDescriptors - descriptors.count)
                descriptors += more
                bytes = payload
            }
            first = false
            if remaining == 0 { return (bytes, descriptors) }
        }
    }

    private func writeAll(_ frame: inout [UInt8], descriptors: [Int32]) throws(SystemError) {
        var offset = 0
        var pending = descriptors
        while offset < frame.count {
            let sent = frame.withUnsafeBytes { buffer in
                pending.withUnsafeBufferPointer { fds in
                    rtcgate_send_descriptors(fd, buffer.baseAddress! + offset, UInt(buffer.count - offset), fds.baseAddress, Int32(fds.count))
                }
            }
            if sent < 0 {
                if errno == EINTR { continue }
                throw SystemError("sendmsg")
            }
            offset += sent
            pending = []  // the descriptors went with the first byte
        }
    }

    private func readExactly(_ count: Int, collecting limit: Int) throws(SystemError) -> ([UInt8], [Int32]) {
        var bytes = [UInt8](repeating: 0, count: count)
        var descriptors: [Int32] = []
        var offset = 0
        var passed = [Int32](repeating: -1, count: Self.maxDescriptorsPerMessage)
        while offset < count {
            var received: Int32 = 0
            let n = bytes.withUnsafeMutableBytes { buffer in
                passed.withUnsafeMutableBufferPointer { fds in
                    rtcgate_receive_descriptors(fd, buffer.baseAddress! + offset, UInt(count - offset), fds.baseAddress,
                                                Int32(max(0, min(limit - descriptors.count, Self.maxDescriptorsPerMessage))), &received)
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                let error = SystemError(errno == EAGAIN ? "receive: timed out" : "recvmsg")
                descriptors.forEach { close($0) }
                throw error
            }
            if n == 0 {
                descriptors.forEach { close($0) }
                throw SystemError("receive: the other side closed", code: ECONNRESET)
            }
            descriptors += passed.prefix(Int(received))
            offset += n
        }
        return (bytes, descriptors)
    }

    static func u32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    static func readU32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }
}
