import CBenchShim
import CSystem
import Glibc

/// The bench's own peer: one UDP socket on 127.0.0.1 that returns every datagram to its
/// sender (the relayed transport address of an allocation), batched with recvmmsg/sendmmsg.
final class EchoPeer {
    static let batch = 64
    static let capacity = 2048

    let fd: Int32
    let address: LocalAddress
    private let area: UnsafeMutableRawPointer
    private let names: UnsafeMutablePointer<sockaddr_storage>
    private let recvIov: UnsafeMutablePointer<iovec>
    private let sendIov: UnsafeMutablePointer<iovec>
    private let recvHeaders: UnsafeMutablePointer<rtcgate_mmsghdr>
    private let sendHeaders: UnsafeMutablePointer<rtcgate_mmsghdr>
    private let segmenter: SegmentedSender?

    /// - Parameter segmentation: echo runs to one sender with UDP GSO (`--generator-gso`).
    init(segmentation: Bool = false) throws {
        segmenter = segmentation ? SegmentedSender(capacity: Self.batch) : nil
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw BenchError.posix("echo peer socket") }
        var size: Int32 = 8 << 20
        for option in [SO_RCVBUFFORCE, SO_SNDBUFFORCE, SO_RCVBUF, SO_SNDBUF] {
            _ = setsockopt(fd, SOL_SOCKET, option, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { let e = BenchError.posix("echo peer bind 127.0.0.1:0"); close(fd); throw e }
        var local = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        address = ServerEndpoint.localAddress(local)
        let n = Self.batch
        area = .allocate(byteCount: n * Self.capacity, alignment: 16)
        names = .allocate(capacity: n)
        names.initialize(repeating: sockaddr_storage(), count: n)
        recvIov = .allocate(capacity: n)
        sendIov = .allocate(capacity: n)
        recvHeaders = .allocate(capacity: n)
        recvHeaders.initialize(repeating: rtcgate_mmsghdr(), count: n)
        sendHeaders = .allocate(capacity: n)
        sendHeaders.initialize(repeating: rtcgate_mmsghdr(), count: n)
        for i in 0..<n {
            recvIov[i] = iovec(iov_base: area + i * Self.capacity, iov_len: Self.capacity)
            sendIov[i] = recvIov[i]
            recvHeaders[i].msg_hdr.msg_iov = recvIov + i
            recvHeaders[i].msg_hdr.msg_iovlen = 1
            recvHeaders[i].msg_hdr.msg_name = UnsafeMutableRawPointer(names + i)
            sendHeaders[i].msg_hdr.msg_iov = sendIov + i
            sendHeaders[i].msg_hdr.msg_iovlen = 1
            sendHeaders[i].msg_hdr.msg_name = UnsafeMutableRawPointer(names + i)
        }
    }

    deinit {
        close(fd)
        area.deallocate(); names.deallocate(); recvIov.deallocate(); sendIov.deallocate()
        recvHeaders.deallocate(); sendHeaders.deallocate()
    }

    /// "127.0.0.1:port" as rtcgate's STUN module spells a peer.
    var port: UInt16 { address.port }

    /// Returns everything queued to its senders; counts what it echoed and dropped.
    func drain(_ counters: inout TurnCounters) {
        for _ in 0..<8 {
            for i in 0..<Self.batch {
                recvHeaders[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                recvHeaders[i].msg_hdr.msg_flags = 0
            }
            let got = Int(rtcgate_recvmmsg(fd, recvHeaders, UInt32(Self.batch), Int32(MSG_DONTWAIT)))
            guard got > 0 else { return }
            for i in 0..<got {
                sendIov[i].iov_len = Int(recvHeaders[i].msg_len)
                sendHeaders[i].msg_hdr.msg_namelen = recvHeaders[i].msg_hdr.msg_namelen
            }
            var done = 0
            if let segmenter, let sent = segmenter.send(fd, vectors: sendIov, count: got, destinations: sendHeaders) {
                done = sent
                if segmenter.enabled || done == got {
                    counters.echoed += UInt64(done)
                    counters.echoDrops += UInt64(got - done)
                    if got < Self.batch { return }
                    continue
                }
            }
            while done < got {
                let r = rtcgate_sendmmsg(fd, sendHeaders + done, UInt32(got - done), 0)
                if r < 0 {
                    if errno == EINTR { continue }
                    counters.echoDrops += UInt64(got - done)
                    break
                }
                done += Int(r)
            }
            counters.echoed += UInt64(done)
            if got < Self.batch { return }
        }
    }
}
