import CSystem
import Glibc

/// UDP generic segmentation (UDP_SEGMENT, Linux 4.18+): consecutive datagrams for the same
/// destination with the same length (the last of a run may be shorter) leave in one message,
/// and the kernel (or the NIC) cuts them apart, so the IP/route/device path runs once per run
/// instead of once per datagram. On the wire they are ordinary datagrams.
///
/// `SegmentRuns` holds the pre-allocated send headers and control messages for the runs of
/// one batch; `UDPSocket.send` uses it through `DatagramBatch`, and the bench's generator
/// directly.
public final class SegmentRuns {
    /// Most segments in one run: the kernel's UDP_MAX_SEGMENTS was 64 until 2024 (128 since),
    /// and kernels before 5.15 counted the IP and UDP headers (up to 48 bytes) against
    /// `64 × segment`, so a run stays below that as well (`segmentLimit`).
    public static let maxSegments = 64
    /// Most bytes in one run (an IPv4/IPv6 datagram's payload limit, with room to spare).
    public static let maxRunBytes = 65_000

    /// Datagrams (and so runs) one `build` can take.
    public let capacity: Int
    /// Run `r`'s send header, with a UDP_SEGMENT control message when it holds several datagrams.
    public let headers: UnsafeMutablePointer<rtcgate_mmsghdr>
    /// Datagrams in run `r`.
    public let lengths: UnsafeMutablePointer<Int>
    private let controls: UnsafeMutableRawPointer
    private let controlSpace: Int

    public init(capacity: Int) {
        self.capacity = capacity
        headers = .allocate(capacity: capacity)
        headers.initialize(repeating: rtcgate_mmsghdr(), count: capacity)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
        controlSpace = Int(rtcgate_udp_segment_control_space())
        controls = .allocate(byteCount: capacity * controlSpace, alignment: 8)
        controls.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * controlSpace)
    }

    deinit {
        headers.deallocate()
        lengths.deallocate()
        controls.deallocate()
    }

    /// Groups the `count` datagrams of `vectors` (one iovec each, consecutive) into runs and
    /// returns how many runs there are. Destinations are read from `destinations[i].msg_hdr`
    /// (name and length); nil for a connected socket.
    public func build(vectors: UnsafeMutablePointer<iovec>, count: Int,
                      destinations: UnsafeMutablePointer<rtcgate_mmsghdr>?) -> Int {
        precondition(count <= capacity)
        var runs = 0
        var start = 0
        while start < count {
            let segment = vectors[start].iov_len
            var length = 1
            var bytes = segment
            if segment > 0 && segment <= Int(UInt16.max) {
                let limit = Self.segmentLimit(segment)
                while start + length < count && length < limit {
                    let next = vectors[start + length].iov_len
                    guard next > 0, next <= segment, bytes + next <= Self.maxRunBytes,
                          Self.sameDestination(destinations, start, start + length) else { break }
                    length += 1
                    bytes += next
                    if next < segment { break }  // only the last segment may be shorter
                }
            }
            var header = rtcgate_mmsghdr()
            header.msg_hdr.msg_iov = vectors + start
            header.msg_hdr.msg_iovlen = length
            if let destinations {
                header.msg_hdr.msg_name = destinations[start].msg_hdr.msg_name
                header.msg_hdr.msg_namelen = destinations[start].msg_hdr.msg_namelen
            }
            if length > 1 {
                let control = controls + runs * controlSpace
                rtcgate_udp_segment_control(control, UInt16(segment))
                header.msg_hdr.msg_control = control
                header.msg_hdr.msg_controllen = controlSpace
            }
            headers[runs] = header
            lengths[runs] = length
            runs += 1
            start += length
        }
        return runs
    }

    /// Whether a send error means the kernel refused a run as one message (EINVAL or EMSGSIZE:
    /// a segment over the path MTU, or an older kernel's limit; EIO: a device that cannot
    /// checksum segments; EOPNOTSUPP/ENOPROTOOPT: no UDP_SEGMENT), rather than a fault of
    /// the destination, which every datagram of the run would meet alike.
    public static func isRefusal(_ code: Int32) -> Bool {
        code == EINVAL || code == EMSGSIZE || code == EIO || code == EOPNOTSUPP || code == ENOPROTOOPT
    }

    /// Segments of `size` bytes one run may hold: `maxSegments`, less room for 48 bytes of
    /// IPv6 and UDP headers counted against the limit by kernels before 5.15.
    static func segmentLimit(_ size: Int) -> Int {
        Self.maxSegments - (48 + size - 1) / size
    }

    /// Whether entries `a` and `b` go to the same address (always, on a connected socket).
    private static func sameDestination(_ destinations: UnsafeMutablePointer<rtcgate_mmsghdr>?, _ a: Int, _ b: Int) -> Bool {
        guard let destinations else { return true }
        let length = destinations[a].msg_hdr.msg_namelen
        guard length == destinations[b].msg_hdr.msg_namelen else { return false }
        return memcmp(destinations[a].msg_hdr.msg_name, destinations[b].msg_hdr.msg_name, Int(length)) == 0
    }
}
