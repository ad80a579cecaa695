import CBenchShim
import CSystem
import Glibc

/// The receive side of a load engine's client sockets: `batch` buffers of `capacity` bytes
/// filled by recvmmsg, allocated once.
final class ReceiveRing {
    static let batch = 64
    static let capacity = 2048

    private let area: UnsafeMutableRawPointer
    private let vectors: UnsafeMutablePointer<iovec>
    private let headers: UnsafeMutablePointer<rtcgate_mmsghdr>

    init() {
        area = .allocate(byteCount: Self.batch * Self.capacity, alignment: 16)
        vectors = .allocate(capacity: Self.batch)
        headers = .allocate(capacity: Self.batch)
        headers.initialize(repeating: rtcgate_mmsghdr(), count: Self.batch)
        for i in 0..<Self.batch {
            vectors[i] = iovec(iov_base: area + i * Self.capacity, iov_len: Self.capacity)
            headers[i].msg_hdr.msg_iov = vectors + i
            headers[i].msg_hdr.msg_iovlen = 1
        }
    }

    deinit {
        area.deallocate()
        vectors.deallocate()
        headers.deallocate()
    }

    /// Receives what is queued on `fd` (at most four batches) and calls `handle` with each
    /// datagram, its length (-1 when it was truncated) and the receive time. Returns false when
    /// recvmmsg failed with anything but "nothing waiting".
    func drain(_ fd: Int32, _ handle: (UnsafeMutableRawPointer, Int, UInt64) -> Void) -> Bool {
        for _ in 0..<4 {
            let got = rtcgate_recvmmsg(fd, headers, UInt32(Self.batch), Int32(MSG_DONTWAIT))
            let receivedAt = monotonicNanos()
            if got < 0 { return errno == EAGAIN || errno == EINTR }
            for m in 0..<Int(got) {
                let truncated = (headers[m].msg_hdr.msg_flags & Int32(MSG_TRUNC)) != 0
                handle(area + m * Self.capacity, truncated ? -1 : Int(headers[m].msg_len), receivedAt)
                headers[m].msg_hdr.msg_flags = 0
            }
            if Int(got) < Self.batch { break }
        }
        return true
    }
}
