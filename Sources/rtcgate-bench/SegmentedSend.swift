import CSystem
import Glibc
import Reactor

/// The generator's own UDP generic segmentation (`--generator-gso`): runs of same-size
/// datagrams to one destination leave in one sendmsg, which costs the generator far less CPU
/// on the cores it shares with the server. The server still receives ordinary datagrams, one
/// per recvmmsg entry, whichever server it is. Scratch space is allocated once.
final class SegmentedSender {
    let capacity: Int
    /// Gathered iovecs for sends whose buffers are not consecutive in an iovec array.
    let gather: UnsafeMutablePointer<iovec>
    private let runs: SegmentRuns
    /// Off after the kernel refused a run (no UDP_SEGMENT, or a device that cannot do it).
    private(set) var enabled = true

    init(capacity: Int) {
        self.capacity = capacity
        gather = .allocate(capacity: capacity)
        gather.initialize(repeating: iovec(), count: capacity)
        runs = SegmentRuns(capacity: capacity)
    }

    deinit { gather.deallocate() }

    /// Sends the `count` datagrams of `vectors[0..<count]` (to `destinations[i].msg_hdr`'s
    /// names, or on a connected socket) as runs. Returns how many of the first datagrams
    /// left (the kernel took them, or refused them for their destination), or nil when
    /// segmentation is off. When the kernel refuses a run as one message, segmentation is
    /// turned off and the return value is where the caller resumes one datagram at a time.
    func send(_ fd: Int32, vectors: UnsafeMutablePointer<iovec>, count: Int,
              destinations: UnsafeMutablePointer<rtcgate_mmsghdr>? = nil) -> Int? {
        guard enabled, count > 1, count <= capacity else { return nil }
        let total = runs.build(vectors: vectors, count: count, destinations: destinations)
        var done = 0
        var sent = 0
        while done < total {
            let n = rtcgate_sendmmsg(fd, runs.headers + done, UInt32(total - done), 0)
            if n > 0 {
                for r in done..<(done + Int(n)) { sent += runs.lengths[r] }
                done += Int(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            let code = errno
            if n < 0 && runs.lengths[done] > 1 && SegmentRuns.isRefusal(code) {
                enabled = false
                return sent
            }
            break
        }
        return sent
    }
}
